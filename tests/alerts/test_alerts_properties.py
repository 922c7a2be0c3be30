"""Property tests (hypothesis) for the alert engine's invariants.

- priority always equals the article's matrix, and the sort breaks ties by severity, then ARR;
- no SLA due time falls on a weekend, a public or company holiday, or outside business hours;
- replaying the same signals N times leaves one live alert per dedup key;
- a silence suppresses exactly what its matchers match, an expired one nothing;
- inhibition holds back lower alerts only on the same account.
"""

import itertools
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.calendar import CompanyCalendar, CompanyHoliday
from alerts.decide import RunContext, inhibitor, plan_account
from alerts.priority import alert_sort_key, priority
from alerts.rules import load_alert_rules
from alerts.silences import Silence, first_match
from alerts.sla import sla_due_at
from alerts.types import SEGMENTS, SEVERITIES
from healthwatch.config import BusinessHours, CalendarConfig

RULES = load_alert_rules(Path(__file__).resolve().parents[2] / "alert_rules.yml")
CALENDAR = CalendarConfig()
# The article's matrix, written out again here so that the test does not read the code's copy.
MATRIX = {
    "enterprise": {"critical": 1, "high": 1, "medium": 3, "low": 6},
    "mid_market": {"critical": 2, "high": 2, "medium": 5, "low": 8},
    "smb": {"critical": 4, "high": 4, "medium": 7, "low": 9},
}
RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
TIMEZONES = sorted(CALENDAR.country_by_timezone)
ACCOUNTS = ("a1", "a2", "a3")
TYPES = ("usage_drop", "payment_failure", "ticket_spike", "nps_drop", "cancellation_request")

severities = st.sampled_from(SEVERITIES)
segments = st.sampled_from(SEGMENTS)
clocks = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31))


@given(severities, segments)
def test_priority_is_the_matrix(severity: str, segment: str) -> None:
    assert priority(severity, segment) == MATRIX[segment][severity]


@given(
    st.lists(st.tuples(severities, segments, st.floats(0, 1e6), st.integers(0, 99)), min_size=2, max_size=12)
)
def test_sort_is_priority_then_severity_then_arr(items) -> None:
    alerts = [
        {"priority": priority(sev, seg), "severity": sev, "arr": arr, "dedup_key": f"k{i}"}
        for i, (sev, seg, arr, _) in enumerate(items)
    ]
    ordered = sorted(alerts, key=alert_sort_key)
    for a, b in itertools.pairwise(ordered):
        key_a = (a["priority"], -RANK[a["severity"]], -a["arr"])
        key_b = (b["priority"], -RANK[b["severity"]], -b["arr"])
        assert key_a <= key_b


COMPANY_DAYS = frozenset({date(2025, 12, 24), date(2026, 12, 24), date(2027, 12, 24), date(2026, 3, 3)})


@settings(max_examples=300, deadline=None)
@given(clocks, severities, st.sampled_from(TIMEZONES), st.sampled_from([(9, 17), (8, 18), (0, 24)]))
def test_sla_due_is_inside_business_hours(opened: datetime, severity: str, tz: str, hours) -> None:
    country = CALENDAR.country_by_timezone[tz]
    business = BusinessHours(start_hour=hours[0], end_hour=hours[1])
    due = sla_due_at(opened, severity, tz, country, business, RULES.sla_business_hours, COMPANY_DAYS)
    local = due.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(tz))
    sla = RULES.sla_business_hours.for_severity(severity)
    assert due >= opened + timedelta(hours=sla)
    day = local.date()
    if local.hour == 0 and local.minute == 0 and local.second == 0 and hours[1] == 24:
        day -= timedelta(days=1)  # due at the end of a day that ends at midnight
    assert day.weekday() < 5, f"due on a weekend: {local}"
    assert day not in holidays.country_holidays(country), f"due on a public holiday: {local}"
    assert day not in COMPANY_DAYS, f"due on a company holiday: {local}"
    minutes = local.hour * 60 + local.minute + local.second / 60
    if hours != (0, 24):
        assert hours[0] * 60 < minutes <= hours[1] * 60, f"due outside business hours: {local}"


# ---------------------------------------------------------------- the engine's plan, replayed


def context(now: datetime, silences: tuple[Silence, ...] = ()) -> RunContext:
    return RunContext(rules=RULES, calendar=CALENDAR, company=CompanyCalendar(), now=now, silences=silences)


DAY = date(2025, 11, 12)  # a Wednesday, no holiday nearby
NOW = datetime(2025, 11, 12, 22, 0)


@st.composite
def rows(draw, account: str = "a1") -> dict:
    """An evaluation row for one account with a random mix of signals (some rules fire)."""
    baseline = 100.0
    logins = draw(st.sampled_from([100, 80, 65, 45, 20]))
    failures = draw(st.integers(0, 2))
    cancellation = draw(st.booleans())
    return {
        "account_id": account,
        "account_name": account.upper(),
        "segment": draw(segments),
        "arr": draw(st.floats(1_000, 500_000)),
        "signal_date": DAY,
        "csm_id": "c1",
        "csm_name": "Ana",
        "csm_email": "ana@example.com",
        "csm_timezone": draw(st.sampled_from(TIMEZONES)),
        "manager_id": "m1",
        "vp_id": "v1",
        "logins_7d": logins,
        "logins_7d_baseline": baseline,
        "logins_7d_change": logins / baseline - 1,
        "logins_7d_robust_z": (logins - baseline) / 10,
        "baseline_days": 28,
        "tickets_7d": draw(st.integers(0, 6)),
        "tickets_7d_baseline": 1.0,
        "payment_failure_days": [{"date": DAY - timedelta(days=1), "count": failures}] if failures else None,
        "cancellation_request_days": [{"date": DAY, "count": 1}] if cancellation else None,
        "nps_score_last": draw(st.integers(0, 10)),
        "nps_change": draw(st.integers(-5, 0)),
        "days_since_nps_response": 3,
        "health_class": draw(st.sampled_from(["Healthy", "At-Risk", "Critical"])),
        "previous_health_class": "At-Risk",
        "churn_probability": draw(st.floats(0, 1)),
        "days_to_renewal": draw(st.integers(0, 200)),
    }


def apply(store: dict[str, dict], plan) -> None:
    for alert in [*plan.inserts, *plan.updates]:
        store[alert["alert_id"]] = alert


def live_by_type(store: dict[str, dict]) -> dict[str, dict]:
    return {
        a["alert_type"]: a for a in store.values() if a["status"] in ("open", "acknowledged", "suppressed")
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows(), st.integers(2, 6), st.sampled_from([timedelta(0), timedelta(hours=1), timedelta(days=1)]))
def test_replaying_the_same_signals_leaves_one_live_alert_per_key(row, times: int, step: timedelta) -> None:
    store: dict[str, dict] = {}
    for i in range(times):
        apply(store, plan_account(row, live_by_type(store), {}, context(NOW + i * step)))
        live = [a for a in store.values() if a["status"] in ("open", "acknowledged", "suppressed")]
        keys = [a["dedup_key"] for a in live]
        assert len(keys) == len(set(keys)), "two live alerts share a dedup key"
    assert len(store) == len({a["dedup_key"] for a in store.values()}), "a replay opened a second alert"
    # and the same signals opened exactly what fires
    first = plan_account(row, {}, {}, context(NOW))
    assert {a["dedup_key"] for a in first.inserts} == {a["dedup_key"] for a in store.values()}


# ---------------------------------------------------------------- silences

matcher = st.lists(st.sampled_from(ACCOUNTS), max_size=2, unique=True)


@st.composite
def silences_(draw) -> Silence:
    start = NOW + timedelta(hours=draw(st.integers(-72, 24)))
    return Silence(
        silence_id=f"s{draw(st.integers(0, 999))}",
        account_ids=tuple(draw(matcher)),
        segments=tuple(draw(st.lists(segments, max_size=2, unique=True))),
        alert_types=tuple(draw(st.lists(st.sampled_from(TYPES), max_size=2, unique=True))),
        starts_at=start,
        ends_at=start + timedelta(hours=draw(st.integers(1, 96))),
        reason="planned",
    )


@given(silences_(), st.sampled_from(ACCOUNTS), segments, st.sampled_from(TYPES))
def test_a_silence_matches_exactly_its_matchers_while_active(silence, account, segment, alert_type) -> None:
    expected = (
        silence.starts_at <= NOW < silence.ends_at
        and (not silence.account_ids or account in silence.account_ids)
        and (not silence.segments or segment in silence.segments)
        and (not silence.alert_types or alert_type in silence.alert_types)
    )
    assert (first_match([silence], account, segment, alert_type, NOW) is silence) == expected
    expired = Silence(**{**silence.__dict__, "ends_at": min(silence.ends_at, NOW)})
    assert first_match([expired], account, segment, alert_type, NOW) is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows(), silences_())
def test_the_engine_suppresses_exactly_what_a_silence_matches(row, silence) -> None:
    plain = {a["dedup_key"]: a for a in plan_account(row, {}, {}, context(NOW)).inserts}
    silenced = {a["dedup_key"]: a for a in plan_account(row, {}, {}, context(NOW, (silence,))).inserts}
    assert plain.keys() == silenced.keys()
    for key, alert in silenced.items():
        matched = first_match([silence], alert["account_id"], alert["segment"], alert["alert_type"], NOW)
        if matched is not None:
            assert (alert["status"], alert["suppressed_reason"], alert["suppressed_by"]) == (
                "suppressed",
                "silence",
                silence.silence_id,
            )
        else:
            assert alert.get("suppressed_reason") != "silence"
            # A silenced critical no longer inhibits the rest: only inhibition may differ.
            if "inhibited" not in (alert.get("suppressed_reason"), plain[key].get("suppressed_reason")):
                assert alert["status"] == plain[key]["status"]


# ---------------------------------------------------------------- inhibition


@st.composite
def live_alerts(draw) -> list[dict]:
    picks = draw(
        st.lists(
            st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(TYPES), severities),
            max_size=10,
            unique_by=lambda t: t[:2],
        )
    )
    return [
        {
            "dedup_key": f"{account}:{alert_type}",
            "account_id": account,
            "alert_type": alert_type,
            "severity": severity,
            "status": draw(st.sampled_from(["open", "acknowledged", "suppressed"])),
        }
        for account, alert_type, severity in picks
    ]


@given(live_alerts())
def test_inhibition_holds_back_lower_alerts_only_on_the_same_account(alerts) -> None:
    ctx = context(NOW)
    for alert in alerts:
        source = inhibitor(alert, alerts, ctx)
        same_account_critical = [
            a
            for a in alerts
            if a["account_id"] == alert["account_id"]
            and a["dedup_key"] != alert["dedup_key"]
            and a["severity"] == "critical"
            and a["status"] in ("open", "acknowledged")
        ]
        should = alert["severity"] != "critical" and bool(same_account_critical)
        assert (source is not None) == should
        if source is not None:
            assert source.split(":")[0] == alert["account_id"]
            assert source in {a["dedup_key"] for a in same_account_critical}


def test_company_holidays_are_read_from_calendar_yml() -> None:
    calendar = CompanyCalendar(company_holidays=(CompanyHoliday(date=date(2026, 3, 3), name="Offsite"),))
    assert calendar.company_holidays_for("US") == {date(2026, 3, 3): "Offsite"}
    assert calendar.holiday_in_window(date(2026, 3, 5), "US") == (date(2026, 3, 3), "Offsite")
