"""Each alert type judged on one evaluation row (a dict: no warehouse), with the shipped rules."""

from datetime import date, timedelta
from pathlib import Path

import pytest

from alerts.conditions import ALERT_TYPES, UsageDropThresholds, fmt_number, usage_drop
from alerts.evaluate import evaluate_row, evaluate_rule, still_holds
from alerts.rules import AlertRulesFile, EffectiveRule, load_alert_rules

RULES_FILE = Path(__file__).resolve().parents[2] / "alert_rules.yml"
DAY = date(2025, 11, 9)


@pytest.fixture(scope="module")
def rules() -> AlertRulesFile:
    return load_alert_rules(RULES_FILE)


def healthy_row(**overrides) -> dict:
    """A steady, healthy mid-market account: no rule fires on it."""
    row = {
        "account_id": "acc_1",
        "account_name": "Globex",
        "segment": "mid_market",
        "arr": 80_000.0,
        "signal_date": DAY,
        "logins": 20,
        "logins_7d": 100,
        "logins_7d_baseline": 100.0,
        "logins_7d_change": 0.0,
        "logins_7d_robust_z": 0.0,
        "active_users_7d": 30,
        "active_users_7d_baseline": 30.0,
        "active_users_7d_change": 0.0,
        "active_users_7d_robust_z": 0.0,
        "baseline_days": 28,
        "tickets_7d": 1,
        "tickets_7d_baseline": 1.0,
        "tickets_negative_7d": 0,
        "tickets_escalated_28d": 0,
        "payment_failure_days": None,
        "payment_failures_30d": 0,
        "cancellation_request_days": None,
        "days_to_renewal": 200,
        "champion_active_days_14d": 8,
        "champion_active_days_14d_prior": 9,
        "sponsor_active_days_28d": 3,
        "health_class": "Healthy",
        "previous_health_class": "Healthy",
        "churn_probability": 0.1,
        "health_score": 90.0,
    }
    return row | overrides


def fired(rules: AlertRulesFile, row: dict) -> dict[str, str]:
    return {hit.alert_type: hit.severity for hit in evaluate_row(row, rules)}


def test_a_healthy_account_fires_nothing(rules: AlertRulesFile) -> None:
    assert fired(rules, healthy_row()) == {}


# ---------------------------------------------------------------- payment_failure


def test_payment_failure_in_the_window_fires_high(rules: AlertRulesFile) -> None:
    row = healthy_row(
        payment_failure_days=[{"date": DAY - timedelta(days=2), "count": 1}], payment_failures_30d=1
    )
    hit = evaluate_rule(row, rules.effective("payment_failure", "mid_market"))
    assert hit is not None and hit.severity == "high"
    assert hit.reason == "1 failed payment in the last 7 days, the latest on Nov 7 (2 days ago)"
    assert hit.evidence["metric"] == "payment_failures" and hit.evidence["current"] == 1
    assert hit.evidence["last_failure_date"] == "2025-11-07"
    assert hit.title == "Payment failed — Globex"


def test_payment_failure_outside_the_window_does_not_fire(rules: AlertRulesFile) -> None:
    row = healthy_row(payment_failure_days=[{"date": DAY - timedelta(days=7), "count": 2}])
    assert "payment_failure" not in fired(rules, row)
    row = healthy_row(payment_failure_days=[{"date": DAY - timedelta(days=6), "count": 1}])
    assert fired(rules, row)["payment_failure"] == "high"
    # a second failure in the window: dunning is close, the escalation makes it critical
    row = healthy_row(payment_failure_days=[{"date": DAY - timedelta(days=6), "count": 2}])
    assert fired(rules, row)["payment_failure"] == "critical"


# ---------------------------------------------------------------- usage_drop


def drop_row(current: float, baseline: float = 100.0, z: float | None = None, **overrides) -> dict:
    change = current / baseline - 1
    scale = max(0.1 * baseline, 1.0)
    row = healthy_row(
        logins_7d=current,
        logins_7d_baseline=baseline,
        logins_7d_change=change,
        logins_7d_robust_z=(current - baseline) / scale if z is None else z,
    )
    return row | overrides


def test_usage_drop_of_45_percent_is_medium_with_a_readable_reason(rules: AlertRulesFile) -> None:
    hit = evaluate_rule(drop_row(55, 100), rules.effective("usage_drop", "mid_market"))
    assert hit is not None and hit.severity == "medium"
    assert hit.reason == "Logins 7d 45% below this account's 4-week normal (55 vs 100)"
    assert hit.evidence | {"robust_z": None} == {
        "metric": "logins_7d",
        "current": 55,
        "baseline": 100.0,
        "change": -0.45,
        "window": "7d vs median of 4 prior weeks",
        "robust_z": None,
        "baseline_days": 28,
        "days_below_baseline": None,
    }
    assert hit.title == "Usage -45% vs normal — Globex"


def test_usage_drop_over_50_percent_escalates_to_high(rules: AlertRulesFile) -> None:
    assert fired(rules, drop_row(45, 100))["usage_drop"] == "high"
    assert fired(rules, drop_row(50, 100))["usage_drop"] == "high"  # exactly 50% counts


@pytest.mark.parametrize(
    ("row", "why"),
    [
        (drop_row(75, 100), "25% is inside normal variation"),
        (drop_row(69, 100, z=-1.5), "30%+ but not unusual for this account (robust z above −2)"),
        (drop_row(50, 100, baseline_days=14), "not enough history for a baseline"),
        (drop_row(1, 4), "a normal of 4 logins a week is too small to judge"),
        (drop_row(55, 100, logins_7d_baseline=None, logins_7d_change=None), "no baseline"),
    ],
)
def test_usage_drop_does_not_fire(rules: AlertRulesFile, row: dict, why: str) -> None:
    assert "usage_drop" not in fired(rules, row), why


def test_exactly_30_percent_fires(rules: AlertRulesFile) -> None:
    assert fired(rules, drop_row(70, 100))["usage_drop"] == "medium"


def test_small_team_weekend_is_not_a_drop(rules: AlertRulesFile) -> None:
    # Sunday: no logins today or yesterday, but the 7-day sum is this team's normal week.
    row = healthy_row(
        segment="smb",
        logins=0,
        logins_7d=15,
        logins_7d_baseline=15.0,
        logins_7d_change=0.0,
        logins_7d_robust_z=0.0,
    )
    assert fired(rules, row) == {}


def test_zero_mad_leaves_z_undefined_and_the_drop_still_counts() -> None:
    row = drop_row(50, 100, z=None) | {"logins_7d_robust_z": None}
    assert usage_drop(row, UsageDropThresholds()) is not None


def test_usage_drop_on_another_metric() -> None:
    row = healthy_row(active_users_7d=12, active_users_7d_change=-0.6, active_users_7d_robust_z=-6.0)
    finding = usage_drop(row, UsageDropThresholds(metric="active_users_7d"))
    assert finding is not None and finding.reason.startswith("Active users 7d 60% below")


# ---------------------------------------------------------------- health_class_change


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        ("Healthy", "At-Risk", "medium"),
        ("Healthy", "Critical", "critical"),
        ("At-Risk", "Critical", "critical"),
        ("Critical", "At-Risk", None),  # improved
        ("At-Risk", "At-Risk", None),
        (None, "Critical", None),  # first score: no change to report
    ],
)
def test_health_class_change(rules: AlertRulesFile, previous, current, expected) -> None:
    row = healthy_row(previous_health_class=previous, health_class=current, churn_probability=0.71)
    assert fired(rules, row).get("health_class_change") == expected


def test_health_class_change_reason_and_hold(rules: AlertRulesFile) -> None:
    row = healthy_row(previous_health_class="Healthy", health_class="Critical", churn_probability=0.71)
    hit = evaluate_rule(row, rules.effective("health_class_change", "enterprise"))
    assert hit is not None
    assert hit.reason == "Health class worsened from Healthy to Critical (churn probability 71%)"
    assert hit.title == "Health now Critical (was Healthy) — Globex"
    # Next scoring: still Critical (previous is now Critical too) → the alert stays open.
    later = healthy_row(previous_health_class="Critical", health_class="Critical")
    assert still_holds(later, rules, "health_class_change", hit.evidence)
    # Recovered to At-Risk → no longer holds.
    better = healthy_row(previous_health_class="Critical", health_class="At-Risk")
    assert not still_holds(better, rules, "health_class_change", hit.evidence)


# ---------------------------------------------------------------- ticket_spike


def test_ticket_spike(rules: AlertRulesFile) -> None:
    assert fired(rules, healthy_row(tickets_7d=4, tickets_7d_baseline=1.0))["ticket_spike"] == "high"
    # Three in a week from an account that usually files none.
    hit = evaluate_rule(
        healthy_row(tickets_7d=3, tickets_7d_baseline=0.0), rules.effective("ticket_spike", "smb")
    )
    assert hit is not None and hit.reason == "3 support tickets in the last 7 days (none in a normal week)"
    # An account that normally files 5 a week: 8 is not 3× its normal.
    assert "ticket_spike" not in fired(rules, healthy_row(tickets_7d=8, tickets_7d_baseline=5.0))
    assert "ticket_spike" not in fired(rules, healthy_row(tickets_7d=2, tickets_7d_baseline=0.0))


# ---------------------------------------------------------------- cancellation_request


def test_cancellation_request(rules: AlertRulesFile) -> None:
    row = healthy_row(cancellation_request_days=[{"date": DAY - timedelta(days=4), "count": 1}])
    hit = evaluate_rule(row, rules.effective("cancellation_request", "mid_market"))
    assert hit is not None and hit.severity == "critical"
    assert hit.reason == "1 cancellation request in the last 30 days, the latest on Nov 5"
    old = healthy_row(cancellation_request_days=[{"date": DAY - timedelta(days=45), "count": 1}])
    assert "cancellation_request" not in fired(rules, old)


# ---------------------------------------------------------------- renewal_risk


@pytest.mark.parametrize(
    ("segment", "days", "health_class", "expected"),
    [
        ("mid_market", 80, "At-Risk", "medium"),
        ("mid_market", 45, "At-Risk", "high"),  # escalation: inside 60 days
        ("mid_market", 100, "At-Risk", None),
        ("enterprise", 100, "At-Risk", "medium"),  # enterprise override: 120 days
        ("enterprise", 130, "Critical", None),
        ("mid_market", 45, "Healthy", None),
        ("mid_market", -5, "Critical", None),  # renewal date passed
    ],
)
def test_renewal_risk(rules: AlertRulesFile, segment, days, health_class, expected) -> None:
    row = healthy_row(
        segment=segment, days_to_renewal=days, health_class=health_class, previous_health_class=health_class
    )
    assert fired(rules, row).get("renewal_risk") == expected


# ---------------------------------------------------------------- champion_dark


def test_champion_dark(rules: AlertRulesFile) -> None:
    row = healthy_row(champion_active_days_14d=0, champion_active_days_14d_prior=6)
    hit = evaluate_rule(row, rules.effective("champion_dark", "enterprise"))
    assert hit is not None and hit.severity == "high"
    assert "champion was active 0 days in the last 14 (down from 6" in hit.reason
    # The whole account went quiet: that is usage_drop's job, not this one.
    assert "champion_dark" not in fired(rules, row | {"logins_7d": 0})
    # Never really engaged before: nothing went dark.
    assert "champion_dark" not in fired(
        rules, healthy_row(champion_active_days_14d=0, champion_active_days_14d_prior=1)
    )
    # Stays open while the champion stays dark, even when the "before" window has moved on.
    later = healthy_row(champion_active_days_14d=0, champion_active_days_14d_prior=0)
    assert still_holds(later, rules, "champion_dark", hit.evidence)
    assert not still_holds(healthy_row(), rules, "champion_dark", hit.evidence)


# ---------------------------------------------------------------- the mechanism


def test_disabled_rule_does_not_fire() -> None:
    spec = ALERT_TYPES["usage_drop"]
    rule = EffectiveRule("usage_drop", False, "medium", "t", "p", spec.thresholds(), ())
    assert evaluate_rule(drop_row(40, 100), rule) is None


def test_escalations_take_the_highest_matching_severity() -> None:
    t = UsageDropThresholds()
    rule = EffectiveRule(
        "usage_drop",
        True,
        "low",
        "{severity}",
        "p",
        t,
        ((t.model_copy(update={"drop": 0.4}), "medium"), (t.model_copy(update={"drop": 0.8}), "critical")),
    )
    assert evaluate_rule(drop_row(50, 100), rule).severity == "medium"
    assert evaluate_rule(drop_row(10, 100), rule).severity == "critical"
    assert evaluate_rule(drop_row(65, 100), rule).title == "low"


def test_types_without_a_hold_resolve_when_the_condition_clears(rules: AlertRulesFile) -> None:
    assert not still_holds(healthy_row(), rules, "usage_drop", {})
    assert not still_holds(healthy_row(), rules, "no_longer_a_type", {})


def test_number_formatting() -> None:
    assert [fmt_number(v) for v in (58, 97.5, 1.25, None, 1234.0)] == ["58", "98", "1.2", "n/a", "1,234"]
