"""The replay that measures the model gate (alerts.evaluation): scripted accounts with known alerts
and known churn go through the real frame SQL and the engine's per-account step in a real DuckDB
file; the counts, precision, recall and volume that come out are the ones worked out by hand."""

from dataclasses import replace
from datetime import date, datetime, timedelta

import duckdb
import pandas as pd
import pytest

from alerts.calendar import load_company_calendar
from alerts.evaluation import complete_scores, equal_recall_point, evaluate_gate, gate_variant, replay
from alerts.rules import load_alert_rules
from healthwatch.config import Settings
from healthwatch.errors import HealthwatchError

from alert_world import AS_OF, CLOCK, RULES_FILE, AccountSpec, weekday_logins, write_world

START, END = AS_OF - timedelta(days=13), AS_OF  # 14 judged days
ABANDON_FROM = AS_OF - timedelta(days=6)
PAID_LATE = AS_OF - timedelta(days=3)
# The labels need the horizon after the period observed: the clock is 91 days after it.
LABEL_CLOCK = datetime.combine(END + timedelta(days=91), datetime.min.time())
CHURN = {  # account → churn date (all within 90 days after every judged day)
    "acc_held": AS_OF + timedelta(days=30),
    "acc_pay": AS_OF + timedelta(days=10),
    "acc_quiet": AS_OF + timedelta(days=20),
}
STEADY = AccountSpec("acc_steady", "Initech", "mid_market", 50_000, "c2", weekday_logins(20))


def _abandons(d: date) -> dict:
    return {"core_features_abandoned_28d": 1, "core_features_used_28d": 3} if d >= ABANDON_FROM else {}


WORLD = [
    # a core feature abandoned (type gated by `hold`), scored Healthy: the gate holds it; it churns
    replace(STEADY, account_id="acc_held", name="Acme", overrides=_abandons),
    # the same alert on an account the model scores At-Risk: it goes out; the account stays
    replace(STEADY, account_id="acc_fp", name="Globex", overrides=_abandons),
    # a failed payment (never gated); it churns
    replace(STEADY, account_id="acc_pay", name="Hooli", payment_failures={PAID_LATE: 1}),
    # nothing fires and it churns: a missed churner
    replace(STEADY, account_id="acc_quiet", name="Soylent"),
    STEADY,
]
PROBABILITY = {"acc_held": 0.02, "acc_fp": 0.30, "acc_pay": 0.05, "acc_quiet": 0.01, "acc_steady": 0.04}
HEALTH = {"acc_fp": "At-Risk"}


@pytest.fixture
def world(settings: Settings) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(settings.warehouse))
    write_world(con, WORLD, AS_OF, CLOCK)
    con.execute("alter table signals.accounts alter churned_at type timestamp")
    for account, day in CHURN.items():
        con.execute(
            "update signals.accounts set is_churned = true, churned_at = ? where account_id = ?",
            [datetime.combine(day, datetime.min.time()), account],
        )
    yield con
    con.close()


def _scores() -> pd.DataFrame:
    """One scoring per account, dated before the replay's first day (warm-up included)."""
    return pd.DataFrame(
        {
            "account_id": list(PROBABILITY),
            "as_of_date": [START - timedelta(days=14)] * len(PROBABILITY),
            "churn_probability": list(PROBABILITY.values()),
            "health_class": [HEALTH.get(a, "Healthy") for a in PROBABILITY],
            "model_version": "scripted",
        }
    )


def _report(con: duckdb.DuckDBPyConnection, settings: Settings, shares: tuple[float, ...] = ()) -> dict:
    return evaluate_gate(
        con, settings, start=START, end=END, scores=_scores(), shares=shares, clock=LABEL_CLOCK
    )


def test_counts_precision_recall_and_volume_with_and_without_the_gate(world, settings) -> None:
    report = _report(world, settings)
    assert report["account_days"] == 5 * 14  # five accounts judged on each of the 14 days
    off, on = report["rules_alone"]["all"], report["gate_configured"]["all"]
    # Without the gate: acc_held and acc_fp (feature abandoned) and acc_pay (payment) — 2 of 3 true.
    assert (off["alerts"], off["true_alerts"]) == (3, 2)
    assert off["precision"] == pytest.approx(2 / 3)
    # 70 account-days = 10 account-weeks: 3 alerts → 30 per 100 accounts per week.
    assert off["alerts_per_100_accounts_per_week"] == pytest.approx(30.0)
    # Churners: acc_held, acc_pay, acc_quiet; caught: acc_held and acc_pay.
    assert (off["churners"], off["churners_caught"]) == (3, 2)
    # The gate holds acc_held's alert (scored Healthy): only acc_fp and acc_pay go out.
    assert (on["alerts"], on["true_alerts"], on["churners_caught"]) == (2, 1, 1)
    assert on["precision"] == pytest.approx(0.5)
    assert on["recall"] == pytest.approx(1 / 3)
    assert on["alerts_per_100_accounts_per_week"] == pytest.approx(20.0)
    # Only the payment failure is high: the urgent tier is the same either way.
    assert report["rules_alone"]["urgent"]["alerts"] == report["gate_configured"]["urgent"]["alerts"] == 1
    assert report["gate_configured"]["gate_held_alert_days"] == 7  # acc_held, ABANDON_FROM to AS_OF
    # In this world the gate never sends more first notifications than the rules alone on a day.
    assert report["days_gate_above_rules"]["configured"] == []


def test_a_held_alert_released_by_a_new_score_counts_once_on_its_release_day(world, settings) -> None:
    released = AS_OF - timedelta(days=2)
    rescored = pd.DataFrame(
        {
            "account_id": ["acc_held"],
            "as_of_date": [released],
            "churn_probability": [0.4],
            "health_class": ["At-Risk"],
            "model_version": "scripted",
        }
    )
    report = evaluate_gate(
        world,
        settings,
        start=START,
        end=END,
        scores=pd.concat([_scores(), rescored], ignore_index=True),
        shares=(),
        clock=LABEL_CLOCK,
    )
    on, off = report["gate_configured"]["all"], report["rules_alone"]["all"]
    # acc_held's alert is held until the model sees risk, then goes out once; the rescoring also
    # raises the model's own alert (health_class_change, Healthy → At-Risk) with or without the gate.
    assert (on["alerts"], on["true_alerts"], on["churners_caught"]) == (4, 3, 2)
    assert (off["alerts"], off["true_alerts"], off["churners_caught"]) == (4, 3, 2)
    # Without the gate it went out days earlier, so on the release day the gate sends more.
    assert report["days_gate_above_rules"]["configured"] == [released.isoformat()]


def test_alerts_are_counted_once_per_key_on_their_first_day(world, settings) -> None:
    rules = load_alert_rules(RULES_FILE)
    result = replay(
        world,
        {"off": gate_variant(rules, "off"), "on": rules},
        settings.config.calendar,
        load_company_calendar(settings),
        complete_scores(_scores()),
        START,
        END,
    )
    off = sorted((e.account_id, e.alert_type, e.day) for e in result.variants["off"].episodes)
    assert off == [
        ("acc_fp", "feature_abandonment", ABANDON_FROM),
        ("acc_held", "feature_abandonment", ABANDON_FROM),
        ("acc_pay", "payment_failure", PAID_LATE),
    ]
    on = sorted((e.account_id, e.alert_type) for e in result.variants["on"].episodes)
    assert on == [("acc_fp", "feature_abandonment"), ("acc_pay", "payment_failure")]
    for day, count in result.variants["on"].per_day.items():
        assert count <= result.variants["off"].per_day[day]


def test_a_cutoff_gate_is_the_configured_action_below_a_probability(world, settings) -> None:
    report = _report(world, settings, shares=(0.5,))
    sweep = report["gate_sweep"][0]
    assert sweep["max_probability"] == pytest.approx(0.04)  # the median of the five scores
    # acc_held (0.02) is held; acc_fp (0.30) and acc_pay (payment: never gated) go out.
    assert (sweep["all"]["alerts"], sweep["all"]["true_alerts"]) == (2, 1)
    rules = gate_variant(load_alert_rules(RULES_FILE), "cutoff", 0.03)
    gate = rules.effective("feature_abandonment", None).model_gate
    assert (gate.action, gate.max_probability, gate.low_risk_classes) == ("hold", 0.03, ())
    assert rules.effective("payment_failure", None).model_gate.action == "none"
    assert gate_variant(rules, "off").effective("feature_abandonment", None).model_gate.action == "none"


def test_equal_recall_picks_the_widest_cutoff_that_keeps_the_rules_recall() -> None:
    off = {"recall": 0.6}
    sweep = [(0.1, {"recall": 0.6}), (0.3, {"recall": 0.6}), (0.5, {"recall": 0.55}), (0.2, {"recall": 0.6})]
    assert equal_recall_point(off, sweep)[0] == 0.3
    assert equal_recall_point(off, [(0.1, {"recall": 0.5})]) is None


def test_a_period_whose_horizon_is_not_observed_is_refused(world, settings) -> None:
    with pytest.raises(HealthwatchError, match="cannot be labelled yet"):
        evaluate_gate(
            world, settings, start=START, end=END, scores=_scores(), clock=LABEL_CLOCK - timedelta(days=5)
        )
