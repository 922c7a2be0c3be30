"""End to end over a small real DuckDB warehouse: signals → rules → alerts.health_alerts."""

import json
import shutil
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml

from alerts.engine import evaluate_alerts
from alerts.schema import COLUMN_NAMES, create_table_sql
from healthwatch.config import Settings
from healthwatch.errors import HealthwatchError

from alert_world import (
    AS_OF,
    CLOCK,
    RULES_FILE,
    base_world,
    dropping_logins,
    make_settings,
    weekday_logins,
    write_world,
)

NEXT_DAY = AS_OF + timedelta(days=1)
NEXT_CLOCK = CLOCK + timedelta(days=1)


def alerts(con: duckdb.DuckDBPyConnection, where: str = "true") -> dict[str, dict]:
    """Alert rows by dedup key."""
    cur = con.execute(f"select * from alerts.health_alerts where {where} order by dedup_key, opened_at")
    names = [d[0] for d in cur.description]
    return {row["dedup_key"]: row for row in (dict(zip(names, r, strict=True)) for r in cur.fetchall())}


def snapshot(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("select * from alerts.health_alerts order by alert_id").fetchall()


def world_with(**changes) -> list:
    """The base world with some accounts replaced: account_id → dict of AccountSpec fields."""
    return [replace(s, **changes[s.account_id]) if s.account_id in changes else s for s in base_world()]


def test_first_run_fires_the_expected_alerts(
    warehouse: duckdb.DuckDBPyConnection, settings: Settings
) -> None:
    summary = evaluate_alerts(warehouse, settings, clock=CLOCK)
    assert summary.evaluated_accounts == 8  # the churned account is not evaluated
    assert (summary.fired, summary.opened, summary.updated, summary.resolved) == (6, 6, 0, 0)
    assert summary.by_severity == {"critical": 2, "high": 3, "medium": 1, "low": 0}
    assert set(alerts(warehouse)) == {
        "acc_pay:payment_failure",
        "acc_drop:usage_drop",
        "acc_crit:health_class_change",
        "acc_cancel:cancellation_request",
        "acc_champion:champion_dark",
        "acc_tickets:ticket_spike",
    }


def test_payment_failure_is_high_with_owner_priority_and_sla(warehouse, settings) -> None:
    evaluate_alerts(warehouse, settings, clock=CLOCK)
    alert = alerts(warehouse)["acc_pay:payment_failure"]
    assert (alert["severity"], alert["priority"], alert["status"]) == ("high", 1, "open")
    assert (alert["owner_id"], alert["owner_name"], alert["owner_email"], alert["owner_timezone"]) == (
        "c1",
        "Ana Ortiz",
        "ana@example.com",
        "America/New_York",
    )
    assert json.loads(alert["notify_member_ids"]) == ["c1", "m1"]
    assert alert["manager_id"] == "m1" and alert["needs_exec_outreach"] is False
    # Opened Sunday 17:00 New York → clock starts Monday 09:00; Tuesday is Veterans Day;
    # 24 business hours end Thursday 17:00 EST = 22:00 UTC.
    assert alert["sla_due_at"] == datetime(2025, 11, 13, 22, 0)
    assert alert["reason"] == "1 failed payment in the last 7 days, the latest on Nov 7 (2 days ago)"
    assert alert["title"] == "Payment failed — Acme Corp"
    assert alert["playbook"].startswith("Same-day response.")
    assert (alert["account_name"], alert["segment"], alert["arr"]) == ("Acme Corp", "enterprise", 250_000)
    assert alert["opened_at"] == alert["last_seen_at"] == alert["updated_at"] == CLOCK
    assert alert["signal_date"] == AS_OF
    assert alert["model_version"] == "m-2025-11-01" and alert["health_class"] == "Healthy"
    assert json.loads(alert["drivers"])[0]["sentence"] == "logins -40% vs 4-week normal"


def test_usage_drop_against_baseline_but_not_a_weekend(warehouse, settings) -> None:
    evaluate_alerts(warehouse, settings, clock=CLOCK)
    found = alerts(warehouse)
    drop = found["acc_drop:usage_drop"]
    evidence = json.loads(drop["evidence"])
    assert evidence["metric"] == "logins_7d" and evidence["change"] == pytest.approx(-0.40, abs=0.01)
    assert evidence["robust_z"] <= -2 and evidence["baseline_days"] == 28
    assert drop["reason"] == "Logins 7d 40% below this account's 4-week normal (60 vs 100)"
    assert evidence["days_below_baseline"] == 6  # one day short of the 7-day escalation
    assert (drop["severity"], drop["priority"]) == ("medium", 5)
    assert json.loads(drop["notify_member_ids"]) == ["c2"] and drop["in_manager_digest"] is True
    # Initech logged in 0 times on Saturday and Sunday, its normal weekend: nothing fires.
    weekend = warehouse.execute(
        "select logins from signals.account_signals_daily where account_id = 'acc_weekend' "
        "and signal_date >= ? order by signal_date",
        [AS_OF - timedelta(days=1)],
    ).fetchall()
    assert weekend == [(0,), (0,)]
    assert not any(key.startswith("acc_weekend:") for key in found)
    # Hooli's drop is real, but twelve days of history is no baseline yet.
    assert not any(key.startswith("acc_new:") for key in found)


def test_health_class_to_critical_tells_the_vp_and_asks_for_exec_outreach(warehouse, settings) -> None:
    evaluate_alerts(warehouse, settings, clock=CLOCK)
    alert = alerts(warehouse)["acc_crit:health_class_change"]
    assert (alert["severity"], alert["priority"]) == ("critical", 1)
    assert json.loads(alert["notify_member_ids"]) == ["c1", "m1", "v1"]
    assert alert["needs_exec_outreach"] is True
    assert alert["churn_probability"] == 0.71 and alert["health_class"] == "Critical"
    # 4 business hours from Sunday evening: Monday 13:00 EST = 18:00 UTC.
    assert alert["sla_due_at"] == datetime(2025, 11, 10, 18, 0)


def test_history_derived_rules_fire_from_sql(warehouse, settings) -> None:
    evaluate_alerts(warehouse, settings, clock=CLOCK)
    found = alerts(warehouse)
    cancel = found["acc_cancel:cancellation_request"]
    assert (cancel["severity"], cancel["priority"], cancel["needs_exec_outreach"]) == ("critical", 2, True)
    assert json.loads(cancel["evidence"])["last_request_date"] == "2025-11-05"
    # London owner: Monday 09:00 GMT + 4 h.
    assert cancel["sla_due_at"] == datetime(2025, 11, 10, 13, 0)
    champion = found["acc_champion:champion_dark"]
    assert json.loads(champion["evidence"])["baseline"] == 10  # active days in the 14 before
    tickets = found["acc_tickets:ticket_spike"]
    assert (tickets["severity"], tickets["priority"]) == ("high", 4)
    # Sydney owner: Sunday 22:00 UTC is Monday 09:00 AEDT; 24 h end Wednesday 17:00 AEDT.
    assert tickets["sla_due_at"] == datetime(2025, 11, 12, 6, 0)


def test_running_twice_changes_nothing(warehouse, settings) -> None:
    evaluate_alerts(warehouse, settings, clock=CLOCK)
    first = snapshot(warehouse)
    summary = evaluate_alerts(warehouse, settings, clock=CLOCK)
    assert snapshot(warehouse) == first
    assert (summary.opened, summary.updated, summary.resolved) == (0, 6, 0)


def test_data_clock_is_the_default(warehouse, settings) -> None:
    assert evaluate_alerts(warehouse, settings).clock == CLOCK


def days_later(n: int) -> tuple:
    return AS_OF + timedelta(days=n), CLOCK + timedelta(days=n)


def test_next_day_updates_in_place_and_resolves_what_cleared(warehouse, settings) -> None:
    evaluate_alerts(warehouse, settings, clock=CLOCK)
    before = alerts(warehouse)
    recovered = world_with(acc_drop={"logins": weekday_logins(20)})
    write_world(warehouse, recovered, NEXT_DAY, NEXT_CLOCK)
    summary = evaluate_alerts(warehouse, settings, clock=NEXT_CLOCK)
    after = alerts(warehouse)
    # usage_drop waits auto_resolve_days (3) of clear signals before it resolves
    assert (summary.opened, summary.resolved) == (0, 0)
    drop = after["acc_drop:usage_drop"]
    assert (drop["status"], drop["last_fired_date"]) == ("open", AS_OF)
    pay = after["acc_pay:payment_failure"]
    assert pay["alert_id"] == before["acc_pay:payment_failure"]["alert_id"]
    assert (pay["status"], pay["opened_at"], pay["last_seen_at"]) == ("open", CLOCK, NEXT_CLOCK)
    assert pay["reason"].endswith("(3 days ago)")
    assert pay["sla_due_at"] == before["acc_pay:payment_failure"]["sla_due_at"]
    day, clock = days_later(3)
    write_world(warehouse, recovered, day, clock)
    summary = evaluate_alerts(warehouse, settings, clock=clock)
    # the ticket spike left its 7-day window too (Nov 4 is out), two days ago: its default wait
    assert set(alerts(warehouse, "status = 'resolved'")) == {
        "acc_drop:usage_drop",
        "acc_tickets:ticket_spike",
    }
    assert summary.resolved == 2
    assert warehouse.execute("select count(*) from alerts.health_alerts").fetchone() == (6,)
    drop = alerts(warehouse)["acc_drop:usage_drop"]
    assert (drop["status"], drop["resolved_at"], drop["resolution"]) == (
        "resolved",
        clock,
        "condition_cleared",
    )
    # Critical stays open while the account stays Critical, though "previous" is now Critical too.
    day, clock = days_later(4)
    write_world(warehouse, world_with(acc_crit={"health": ("Critical", "Critical", 0.75)}), day, clock)
    evaluate_alerts(warehouse, settings, clock=clock)
    assert alerts(warehouse)["acc_crit:health_class_change"]["status"] == "open"


def test_a_cleared_then_returning_condition_opens_a_new_alert(warehouse, settings) -> None:
    evaluate_alerts(warehouse, settings, clock=CLOCK)
    day, clock = days_later(3)
    write_world(warehouse, world_with(acc_drop={"logins": weekday_logins(20)}), day, clock)
    evaluate_alerts(warehouse, settings, clock=clock)
    later, later_clock = days_later(4)
    write_world(
        warehouse,
        world_with(acc_drop={"logins": dropping_logins(20, 0.5, later - timedelta(days=5))}),
        later,
        later_clock,
    )
    evaluate_alerts(warehouse, settings, clock=later_clock)
    rows = warehouse.execute(
        "select status, opened_at from alerts.health_alerts where dedup_key = 'acc_drop:usage_drop' order by opened_at"
    ).fetchall()
    assert rows == [("resolved", CLOCK), ("open", later_clock)]


def test_escalation_keeps_the_alert_and_raises_its_severity(warehouse, settings) -> None:
    evaluate_alerts(warehouse, settings, clock=CLOCK)
    before = alerts(warehouse)["acc_drop:usage_drop"]
    worse = world_with(acc_drop={"logins": dropping_logins(20, 0.35, NEXT_DAY - timedelta(days=5))})
    write_world(warehouse, worse, NEXT_DAY, NEXT_CLOCK)
    summary = evaluate_alerts(warehouse, settings, clock=NEXT_CLOCK)
    after = alerts(warehouse)["acc_drop:usage_drop"]
    assert summary.escalated == 1
    assert after["alert_id"] == before["alert_id"]
    assert (after["severity"], after["escalated_from"], after["escalated_at"]) == (
        "high",
        "medium",
        NEXT_CLOCK,
    )
    assert after["priority"] == 2  # high × mid-market
    assert json.loads(after["notify_member_ids"]) == ["c2", "m1"]
    assert after["sla_due_at"] < before["sla_due_at"]
    assert after["sla_due_at"] == datetime(2025, 11, 13, 17, 0)  # 24 h from Tuesday 09:00 London


def test_acknowledged_alerts_stay_acknowledged(warehouse, settings) -> None:
    evaluate_alerts(warehouse, settings, clock=CLOCK)
    warehouse.execute(
        "update alerts.health_alerts set status = 'acknowledged', acknowledged_at = ? "
        "where dedup_key = 'acc_pay:payment_failure'",
        [CLOCK],
    )
    write_world(warehouse, base_world(), NEXT_DAY, NEXT_CLOCK)
    evaluate_alerts(warehouse, settings, clock=NEXT_CLOCK)
    pay = alerts(warehouse)["acc_pay:payment_failure"]
    assert (pay["status"], pay["acknowledged_at"], pay["last_seen_at"]) == ("acknowledged", CLOCK, NEXT_CLOCK)


def test_account_ids_limits_the_run(warehouse, settings) -> None:
    evaluate_alerts(warehouse, settings, clock=CLOCK)
    day, clock = days_later(3)
    write_world(
        warehouse,
        world_with(acc_drop={"logins": weekday_logins(20)}, acc_pay={"payment_failures": {}}),
        day,
        clock,
    )
    # the others' alerts not yet past their SLA (one that is is judged anyway: test_alerts_timeline)
    warehouse.execute(
        "update alerts.health_alerts set sla_due_at = ? where account_id <> 'acc_drop'",
        [clock + timedelta(days=1)],
    )
    summary = evaluate_alerts(warehouse, settings, clock=clock, account_ids=["acc_drop"])
    assert summary.evaluated_accounts == 1 and summary.resolved == 1
    found = alerts(warehouse)
    assert found["acc_drop:usage_drop"]["status"] == "resolved"
    assert found["acc_pay:payment_failure"]["status"] == "open"  # not evaluated: left alone
    assert found["acc_pay:payment_failure"]["last_seen_at"] == CLOCK


def test_churned_accounts_and_disabled_rules_resolve_their_alerts(
    warehouse, settings, tmp_path: Path
) -> None:
    evaluate_alerts(warehouse, settings, clock=CLOCK)
    write_world(warehouse, world_with(acc_pay={"is_churned": True}), NEXT_DAY, NEXT_CLOCK)
    rules = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    rules["rules"]["ticket_spike"]["enabled"] = False
    custom = tmp_path / "custom_rules.yml"
    custom.write_text(yaml.safe_dump(rules), encoding="utf-8")
    shutil.copy(RULES_FILE.parent / "playbooks.yml", tmp_path / "playbooks.yml")
    (tmp_path / "other").mkdir()
    custom_settings = make_settings(tmp_path / "other", custom)
    evaluate_alerts(warehouse, custom_settings, clock=NEXT_CLOCK)
    found = alerts(warehouse)
    assert found["acc_pay:payment_failure"]["resolution"] == "account_churned"
    assert found["acc_tickets:ticket_spike"]["resolution"] == "rule_disabled"


def test_without_scores_the_score_rules_wait(warehouse, settings) -> None:
    warehouse.execute("drop table scoring.account_health_scores")
    summary = evaluate_alerts(warehouse, settings, clock=CLOCK)
    assert summary.scores_available is False
    found = alerts(warehouse)
    assert "acc_crit:health_class_change" not in found and "acc_pay:payment_failure" in found
    assert found["acc_pay:payment_failure"]["churn_probability"] is None


def test_a_bad_rules_file_stops_the_run_and_names_file_and_key(warehouse, tmp_path: Path) -> None:
    bad = tmp_path / "bad_rules.yml"
    rules = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    rules["rules"]["usage_drop"]["severity"] = "urgent"
    rules["rules"]["payment_failure"]["windw_days"] = 3
    bad.write_text(yaml.safe_dump(rules), encoding="utf-8")
    (tmp_path / "cfg").mkdir()
    with pytest.raises(HealthwatchError) as info:
        evaluate_alerts(warehouse, make_settings(tmp_path / "cfg", bad), clock=CLOCK)
    message = str(info.value)
    assert str(bad) in message
    assert "rules.usage_drop.severity" in message and "rules.payment_failure.windw_days" in message
    assert not warehouse.execute(
        "select count(*) from information_schema.tables where table_schema = 'alerts'"
    ).fetchone()[0]


def test_missing_signals_are_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    settings = make_settings(tmp_path / "empty")
    with duckdb.connect(str(settings.warehouse)) as con, pytest.raises(HealthwatchError, match="signals"):
        evaluate_alerts(con, settings, clock=CLOCK)


def test_a_rule_whose_inputs_are_missing_is_named(warehouse, settings) -> None:
    warehouse.execute("alter table signals.account_signals_daily drop column days_to_renewal")
    with pytest.raises(HealthwatchError, match="renewal_risk needs days_to_renewal"):
        evaluate_alerts(warehouse, settings, clock=CLOCK)
    # the failed run wrote nothing
    assert warehouse.execute(
        "select count(*) from information_schema.tables where table_schema = 'alerts'"
    ).fetchone() == (0,)


def test_table_has_the_documented_columns(warehouse, settings) -> None:
    evaluate_alerts(warehouse, settings, clock=CLOCK)
    columns = [r[0] for r in warehouse.execute("describe alerts.health_alerts").fetchall()]
    assert tuple(columns) == COLUMN_NAMES
    assert "primary key (alert_id)" in create_table_sql()
    comment = warehouse.execute(
        "select comment from duckdb_columns() where table_name = 'health_alerts' and column_name = 'dedup_key'"
    ).fetchone()
    assert comment and "account_id:alert_type" in comment[0]
