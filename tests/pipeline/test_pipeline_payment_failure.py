"""A payment failure written to the CRM change table becomes a routed, prioritised alert and a CRM task."""

import json
from datetime import timedelta

import duckdb

from healthwatch.batches import data_clock
from healthwatch.warehouse import connect
from pipelines.run import run_job


def test_payment_failure_becomes_an_alert_and_a_task(world_copy, dagster_instance) -> None:
    with connect(world_copy.warehouse) as con:
        clock = data_clock(con)
        account_id, segment, csm_id = con.execute(
            "select account_id, segment, csm_id from signals.accounts where not is_churned "
            "and account_id not in (select account_id from alerts.health_alerts where alert_type = 'payment_failure') "
            "order by arr desc limit 1"
        ).fetchall()[0]
        (seq,) = con.execute("select max(seq) + 1 from cdc.crm_changes").fetchall()[0]
        at = clock - timedelta(hours=1)
        after = {
            "invoice_id": "inv-test-failure",
            "account_id": account_id,
            "due_date": at.date().isoformat(),
            "amount": 4200.0,
            "status": "failed",
            "event_at": at.isoformat(timespec="seconds"),
        }
        con.execute(
            "insert into cdc.crm_changes values (?, 'invoices', 'c', 'inv-test-failure', null, ?, ?, ?)",
            [seq, json.dumps(after), at, at],
        )

    run_job("rescore_job", world_copy, instance=dagster_instance)

    with duckdb.connect(str(world_copy.warehouse), read_only=True) as con:
        rows = con.execute(
            "select alert_id, severity, priority, owner_id, status, evidence from alerts.health_alerts "
            "where account_id = ? and alert_type = 'payment_failure'",
            [account_id],
        ).fetchall()
        assert len(rows) == 1
        alert_id, severity, priority, owner_id, status, evidence = rows[0]
        tasks = con.execute(
            "select subject, priority from alerts.crm_tasks where alert_id = ?", [alert_id]
        ).fetchall()
    assert (severity, status, owner_id) == ("high", "open", csm_id)
    assert priority == {"enterprise": 1, "mid_market": 2, "smb": 4}[segment]
    assert json.loads(evidence)["metric"]
    assert len(tasks) == 1 and tasks[0][1] == priority
