"""The model trains and scores; alerts follow the priority matrix, their rules and their owners."""

import json

import duckdb
import pytest

# DESIGN.md's priority matrix, written out independently of alerts/priority.py.
MATRIX = {
    ("high", "enterprise"): 1, ("high", "mid_market"): 2, ("high", "smb"): 4,
    ("medium", "enterprise"): 3, ("medium", "mid_market"): 5, ("medium", "smb"): 7,
    ("low", "enterprise"): 6, ("low", "mid_market"): 8, ("low", "smb"): 9,
}  # fmt: skip
BAND = {"critical": "high", "high": "high", "medium": "medium", "low": "low"}


@pytest.fixture(scope="module")
def con(built_world):
    with duckdb.connect(str(built_world.settings.warehouse), read_only=True) as connection:
        yield connection


def test_every_active_account_is_scored_by_the_current_model(con, built_world) -> None:
    current = (built_world.settings.models_dir / "current").read_text().strip()
    rows = con.execute(
        "select s.model_version, s.churn_probability, s.health_score, s.health_class, s.drivers "
        "from scoring.account_health_scores s join signals.accounts a using (account_id) where not a.is_churned"
    ).fetchall()
    (active,) = con.execute("select count(*) from signals.accounts where not is_churned").fetchall()[0]
    assert len(rows) == active
    for version, probability, score, health_class, drivers in rows:
        assert version == current
        assert 0.0 <= probability <= 1.0
        assert score == round(100 * (1 - probability))
        assert health_class in {"Healthy", "At-Risk", "Critical"}
        drivers = json.loads(drivers)
        assert len(drivers) <= 3
        assert all(d["sentence"] for d in drivers)
    metadata = json.loads((built_world.settings.models_dir / current / "metadata.json").read_text())
    assert metadata["metrics"]["roc_auc"] > 0.5


def test_priority_always_follows_the_matrix(con) -> None:
    rows = con.execute("select severity, segment, priority from alerts.health_alerts").fetchall()
    assert rows
    for severity, segment, priority in rows:
        assert priority == MATRIX[(BAND[severity], segment)], (severity, segment, priority)


def test_alerts_are_owned_deduped_and_explained(con) -> None:
    rows = con.execute(
        """
        select h.owner_id, a.csm_id, h.sla_due_at, h.opened_at, h.evidence, h.reason, h.dedup_key, h.account_id,
               h.alert_type
        from alerts.health_alerts h join signals.accounts a using (account_id)
        where h.status in ('open', 'acknowledged')
        """
    ).fetchall()
    keys = [row[6] for row in rows]
    assert len(keys) == len(set(keys))
    for owner, csm, due, opened, evidence, reason, key, account, alert_type in rows:
        assert owner == csm
        assert due > opened
        assert key == f"{account}:{alert_type}"
        assert reason
        assert {"metric", "baseline", "current", "change"} <= set(json.loads(evidence))


def test_usage_drop_is_judged_against_the_accounts_own_baseline(con) -> None:
    # Every usage_drop alert is a real drop against the account's own normal, not a global number.
    rows = con.execute(
        """
        select b.logins_7d_change, b.logins_7d_robust_z
        from alerts.health_alerts h
        join signals.account_baselines b on b.account_id = h.account_id and b.signal_date = h.signal_date
        where h.alert_type = 'usage_drop'
        """
    ).fetchall()
    for change, robust_z in rows:
        assert change <= -0.3 and robust_z <= -2


def test_actionable_alerts_have_crm_tasks_and_csms_have_digests(con, built_world) -> None:
    missing = con.execute(
        """
        select alert_id from alerts.health_alerts
        where status in ('open', 'acknowledged') and severity in ('critical', 'high', 'medium')
          and alert_id not in (select alert_id from alerts.crm_tasks)
        """
    ).fetchall()
    assert missing == []
    digests = con.execute(
        "select recipient_id, status, rendered_path from alerts.email_outbox where kind = 'daily_digest'"
    ).fetchall()
    owners = con.execute(
        "select distinct owner_id from alerts.health_alerts where status in ('open', 'acknowledged')"
    ).fetchall()
    assert {r[0] for r in digests} == {o[0] for o in owners}
    for _, status, path in digests:
        assert status == "rendered"
        assert path
    assert (built_world.settings.exports_dir / "crm_tasks.csv").exists()
