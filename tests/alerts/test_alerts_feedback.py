"""The feedback loop on a real DuckDB warehouse: CRM task changes → acknowledgement and resolution,
alerts.alert_outcomes, alerts.rule_performance, and the threshold advice `healthwatch tune` writes."""

from datetime import datetime, timedelta

import duckdb
import pytest
from typer.testing import CliRunner

from alerts.conditions import TuningKnob
from alerts.engine import evaluate_alerts
from alerts.feedback import collect_outcomes
from alerts.rules import load_alert_rules
from alerts.tune import propose, threshold_advice, write_report
from healthwatch.cli import app

from alert_world import CLOCK, RULES_FILE

TASKS_DDL = """
create schema if not exists staging;
create or replace table staging.stg_crm__tasks (
    task_id varchar, alert_id varchar, account_id varchar, owner_id varchar, subject varchar,
    status varchar, outcome varchar, created_at timestamp, updated_at timestamp)
"""


def alert_ids(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(con.execute("select dedup_key, alert_id from alerts.health_alerts").fetchall())


def crm_task(con, alert_id: str, status: str, outcome: str | None, at: datetime, task_id: str | None = None):
    con.execute(
        "insert into staging.stg_crm__tasks values (?, ?, 'acc', 'c1', 's', ?, ?, ?, ?)",
        [task_id or alert_id, alert_id, status, outcome, CLOCK, at],
    )


def test_task_states_acknowledge_then_resolve_with_the_outcome(warehouse, settings) -> None:
    evaluate_alerts(warehouse, settings, clock=CLOCK)
    ids = alert_ids(warehouse)
    warehouse.execute(TASKS_DDL)
    pay, drop = ids["acc_pay:payment_failure"], ids["acc_drop:usage_drop"]
    crm_task(warehouse, pay, "in_progress", None, CLOCK + timedelta(hours=3))
    crm_task(warehouse, drop, "completed", "false_positive", CLOCK + timedelta(hours=5))
    # a change after the run's clock is not seen yet: a replay at that clock decides the same
    crm_task(warehouse, ids["acc_tickets:ticket_spike"], "in_progress", None, CLOCK + timedelta(days=3))
    summary = evaluate_alerts(warehouse, settings, clock=CLOCK + timedelta(hours=6))
    assert (summary.acknowledged, summary.closed_by_owner) == (2, 1)
    rows = {
        r[0]: r[1:]
        for r in warehouse.execute(
            "select dedup_key, status, acknowledged_at, resolution, outcome from alerts.health_alerts"
        ).fetchall()
    }
    assert rows["acc_pay:payment_failure"] == ("acknowledged", CLOCK + timedelta(hours=3), None, None)
    assert rows["acc_drop:usage_drop"] == (
        "resolved",
        CLOCK + timedelta(hours=5),
        "closed_by_owner",
        "false_positive",
    )
    assert rows["acc_tickets:ticket_spike"][0] == "open"
    # the closed key stays closed while the condition persists (its repeat interval)
    again = evaluate_alerts(warehouse, settings, clock=CLOCK + timedelta(hours=7))
    assert again.held_after_close == 1 and again.opened == 0


def test_outcomes_and_rule_performance(warehouse, settings) -> None:
    evaluate_alerts(warehouse, settings, clock=CLOCK)
    ids = alert_ids(warehouse)
    warehouse.execute(TASKS_DDL)
    at = CLOCK + timedelta(hours=2)
    crm_task(warehouse, ids["acc_pay:payment_failure"], "in_progress", None, at)
    crm_task(warehouse, ids["acc_pay:payment_failure"], "completed", "true_positive_resolved", at, "t2")
    crm_task(warehouse, ids["acc_drop:usage_drop"], "completed", "false_positive", at)
    crm_task(warehouse, ids["acc_cancel:cancellation_request"], "completed", "escalated_to_churn", at)
    crm_task(warehouse, ids["acc_cancel:cancellation_request"] + ":exec", "completed", "false_positive", at)
    summary = collect_outcomes(warehouse, clock=CLOCK + timedelta(days=1))
    assert summary.outcomes == 3 and summary.precision == pytest.approx(2 / 3)
    outcomes = dict(warehouse.execute("select alert_type, outcome from alerts.alert_outcomes").fetchall())
    assert outcomes == {
        "payment_failure": "true_positive_resolved",
        "usage_drop": "false_positive",
        "cancellation_request": "escalated_to_churn",  # the exec-outreach task does not count
    }
    perf = {
        (r[0], r[1]): r[2:]
        for r in warehouse.execute(
            "select alert_type, segment, alerts_opened, alerts, with_outcome, precision, "
            "median_hours_to_acknowledge, accounts from alerts.rule_performance"
        ).fetchall()
    }
    assert perf[("payment_failure", "enterprise")] == (1, 1, 1, 1.0, 2.0, 3)
    assert perf[("usage_drop", "mid_market")][3] == 0.0
    assert perf[("ticket_spike", "smb")][2:4] == (0, None)
    # rerunning rebuilds the same tables
    collect_outcomes(warehouse, clock=CLOCK + timedelta(days=1))
    assert warehouse.execute("select count(*) from alerts.alert_outcomes").fetchone() == (3,)


def test_propose_tightens_to_the_loosest_value_that_reaches_the_target() -> None:
    knob = TuningKnob("drop", "change", "higher", sign=-1.0)
    # drops of 30–35% were mostly false positives, 45%+ true
    samples = [
        (0.30, False),
        (0.32, False),
        (0.35, True),
        (0.33, False),
        (0.45, True),
        (0.5, True),
        (0.6, True),
    ]
    value, precision, kept, alerts = propose(samples, knob, target=0.85, min_recall=0.7)
    assert (value, kept, alerts) == (0.35, 4, 4) and precision == 1.0
    # asking to keep every true positive and 100% precision: 0.35 still does it
    assert propose(samples, knob, target=1.0, min_recall=1.0)[0] == 0.35
    # no threshold separates them: no proposal
    assert propose([(0.4, True), (0.4, False)], knob, target=0.9, min_recall=0.5) is None
    lower = TuningKnob("below_score", "current", "lower", integer=True)
    assert propose([(6, False), (5, False), (2, True), (3, True)], lower, 0.9, 0.9)[0] == 3


def test_threshold_advice_report(warehouse, settings, tmp_path) -> None:
    evaluate_alerts(warehouse, settings, clock=CLOCK)
    ids = alert_ids(warehouse)
    warehouse.execute(TASKS_DDL)
    crm_task(warehouse, ids["acc_drop:usage_drop"], "completed", "false_positive", CLOCK + timedelta(hours=1))
    collect_outcomes(warehouse, clock=CLOCK + timedelta(days=1))
    rules = load_alert_rules(RULES_FILE)
    advice = threshold_advice(warehouse, rules, min_outcomes=1)
    assert [(a.alert_type, a.segment, a.precision, a.verdict) for a in advice] == [
        ("usage_drop", "mid_market", 0.0, "review")  # no true positive to keep: a person looks
    ]
    assert advice[0].threshold == "drop" and advice[0].current_value == 0.3
    path = write_report(advice, tmp_path / "advice.md", CLOCK, 0.6)
    assert "| usage_drop | mid_market | 1 | 0% | drop | 0.3 |" in path.read_text(encoding="utf-8")


def test_silence_commands_round_trip(warehouse, settings, monkeypatch) -> None:
    warehouse.close()
    monkeypatch.setenv("HEALTHWATCH_CONFIG", str(settings.config_path))
    monkeypatch.setenv("HEALTHWATCH_WAREHOUSE", str(settings.warehouse))
    runner = CliRunner()
    added = runner.invoke(
        app, ["silence", "add", "--reason", "on-site visit", "--account", "acc_pay", "--duration", "3d"]
    )
    assert added.exit_code == 0, added.output
    silence_id = added.output.split()[1].rstrip(":")
    listed = runner.invoke(app, ["silence", "list", "--json"])
    assert silence_id in listed.output and '"state": "active"' in listed.output
    with duckdb.connect(str(settings.warehouse)) as con:
        evaluate_alerts(con, settings, clock=CLOCK)
        row = con.execute(
            "select status, suppressed_reason, suppressed_by from alerts.health_alerts "
            "where dedup_key = 'acc_pay:payment_failure'"
        ).fetchone()
    assert row == ("suppressed", "silence", silence_id)
    assert runner.invoke(app, ["silence", "expire", silence_id]).exit_code == 0
    assert silence_id not in runner.invoke(app, ["silence", "list", "--json"]).output
    bad = runner.invoke(app, ["silence", "add", "--reason", "x y z", "--type", "nope", "--duration", "1d"])
    assert bad.exit_code != 0 and "unknown alert type 'nope'" in str(bad.exception)
