"""The lifecycle of one alert row: open, refresh, escalate, hold, resolve."""

from datetime import datetime

import pytest

from alerts.lifecycle import hold_alert, open_alert, refresh_alert, resolve_alert

T0 = datetime(2025, 11, 9, 22, 0)
T1 = datetime(2025, 11, 10, 22, 0)


def candidate(**overrides) -> dict:
    base = {
        "dedup_key": "acc_1:usage_drop",
        "account_id": "acc_1",
        "account_name": "Globex",
        "segment": "mid_market",
        "arr": 80_000.0,
        "alert_type": "usage_drop",
        "severity": "medium",
        "priority": 5,
        "title": "Usage -45% vs normal — Globex",
        "reason": "Logins 7d 45% below this account's 4-week normal (55 vs 100)",
        "evidence": '{"metric": "logins_7d", "current": 55}',
        "churn_probability": 0.2,
        "health_score": 80.0,
        "health_class": "Healthy",
        "drivers": "[]",
        "model_version": "m1",
        "scored_at": T0,
        "playbook": "Reach out.",
        "owner_id": "c2",
        "owner_name": "Ben",
        "owner_email": "ben@example.com",
        "owner_timezone": "Europe/London",
        "notify_member_ids": '["c2"]',
        "manager_id": "m1",
        "in_manager_digest": True,
        "needs_exec_outreach": False,
        "signal_date": T0.date(),
        "sla_due_at": datetime(2025, 11, 17, 17, 0),
    }
    return base | overrides


def test_open_sets_identity_and_lifecycle() -> None:
    row = open_alert(candidate(), T0)
    assert row["status"] == "open"
    assert row["opened_at"] == row["last_seen_at"] == row["updated_at"] == T0
    assert len(row["alert_id"]) == 16
    assert row["resolved_at"] is None and row["escalated_at"] is None


def test_refresh_without_escalation_keeps_severity_sla_and_score() -> None:
    opened = open_alert(candidate(), T0)
    again = candidate(
        reason="Logins 7d 40% below ...",
        evidence='{"current": 60}',
        sla_due_at=datetime(2025, 11, 18),
        churn_probability=0.3,
        signal_date=T1.date(),
    )
    row = refresh_alert(opened, again, T1)
    assert row["alert_id"] == opened["alert_id"] and row["opened_at"] == T0
    assert row["severity"] == "medium" and row["escalated_at"] is None
    assert row["reason"].startswith("Logins 7d 40%") and row["evidence"] == '{"current": 60}'
    assert row["sla_due_at"] == opened["sla_due_at"]  # the clock started when it opened
    assert row["churn_probability"] == 0.2  # the score at firing time
    assert row["last_seen_at"] == row["updated_at"] == T1
    assert row["signal_date"] == T1.date()


def test_escalation_records_it_and_tightens_the_sla() -> None:
    opened = open_alert(candidate(), T0)
    worse = candidate(
        severity="high",
        priority=2,
        notify_member_ids='["c2", "m1"]',
        sla_due_at=datetime(2025, 11, 13, 17, 0),
        churn_probability=0.4,
    )
    row = refresh_alert(opened, worse, T1)
    assert (row["severity"], row["escalated_from"], row["escalated_at"]) == ("high", "medium", T1)
    assert row["priority"] == 2 and row["notify_member_ids"] == '["c2", "m1"]'
    assert row["sla_due_at"] == datetime(2025, 11, 13, 17, 0)
    assert row["churn_probability"] == 0.4


def test_escalation_never_moves_the_sla_later() -> None:
    opened = open_alert(candidate(sla_due_at=datetime(2025, 11, 11, 9, 0)), T0)
    row = refresh_alert(opened, candidate(severity="high", sla_due_at=datetime(2025, 11, 13)), T1)
    assert row["sla_due_at"] == datetime(2025, 11, 11, 9, 0)


def test_acknowledged_stays_acknowledged_when_refreshed() -> None:
    acked = open_alert(candidate(), T0) | {"status": "acknowledged", "acknowledged_at": T0}
    row = refresh_alert(acked, candidate(), T1)
    assert row["status"] == "acknowledged" and row["acknowledged_at"] == T0


def test_hold_and_resolve() -> None:
    opened = open_alert(candidate(), T0)
    held = hold_alert(opened, T1, T1.date())
    assert held["status"] == "open" and held["last_seen_at"] == T1 and held["evidence"] == opened["evidence"]
    resolved = resolve_alert(opened, T1, "condition_cleared")
    assert (resolved["status"], resolved["resolved_at"], resolved["resolution"]) == (
        "resolved",
        T1,
        "condition_cleared",
    )
    with pytest.raises(ValueError, match="resolution"):
        resolve_alert(opened, T1, "because")
