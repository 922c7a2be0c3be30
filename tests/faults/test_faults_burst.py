"""Real time end to end, under a burst: with the daemon and the sensors running, change rows on
three change tables at once (three sensors) and four more rescoring runs launched by hand at the
same moment are serialised by the run queue — every run succeeds, none fails on a DuckDB lock —
and with no manual step the changes become their alerts, a CRM task and a critical mail in the
outbox."""

import os
import subprocess
import sys
import time

import dagster as dg
import duckdb

from bench.latency import append_change
from healthwatch.warehouse import connect
from pipelines.daemon import REPO_ROOT, daemon_env, running_daemon

ALERT = (
    "select count(*) from alerts.health_alerts where account_id = ? and alert_type = ? and status = 'open'"
)


def _accounts(warehouse, count: int) -> list[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return [a for (a,) in con.execute(
            "select account_id from signals.accounts where not is_churned and account_id not in "
            "(select account_id from alerts.health_alerts where alert_type in ('cancellation_request', 'payment_failure')) "
            "order by arr desc limit ?", [count]).fetchall()]  # fmt: skip


def _touch_support_and_engagement(warehouse) -> None:
    """Re-deliver one ticket and one NPS answer (at-least-once), so those tables' sensors fire too."""
    with connect(warehouse, attempts=600) as con:  # a CDC writer waits for the run's write lock
        for table in ("cdc.support_changes", "cdc.engagement_changes"):
            con.execute(
                f"insert into {table} select (select max(seq) + 1 from {table}), source_table, op, key, before, after, "
                f"source_ts, ingested_at + interval 1 minute from {table} where seq = (select max(seq) from {table})"
            )


def test_a_burst_of_runs_is_serialised_without_lock_errors(world_copy, tmp_path) -> None:
    failing, cancelling = _accounts(world_copy.warehouse, 2)
    env = daemon_env(world_copy)
    with running_daemon(world_copy, tmp_path / "daemon.log"):
        time.sleep(8)  # the sensors' first ticks catch their cursors up
        append_change(world_copy, "payment_failure", failing, 1)
        append_change(world_copy, "cancellation_request", cancelling, 2)
        _touch_support_and_engagement(world_copy.warehouse)
        launches = [
            subprocess.Popen(
                [os.path.join(os.path.dirname(sys.executable), "dagster"), "job", "launch", "-j", "rescore_job",
                 "-w", str(REPO_ROOT / "workspace.yaml")],
                cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )
            for _ in range(4)
        ]  # fmt: skip
        for launch in launches:
            assert launch.wait(timeout=120) == 0, launch.stderr.read()[-2000:]

        with dg.DagsterInstance.from_config(str(world_copy.dagster_home)) as instance:
            deadline = time.monotonic() + 420
            while time.monotonic() < deadline:
                runs = instance.get_runs(dg.RunsFilter(job_name="rescore_job"))
                if len(runs) >= 5 and all(r.is_finished for r in runs):
                    break
                time.sleep(2)
            statuses = [r.status for r in instance.get_runs(dg.RunsFilter(job_name="rescore_job"))]
    log = (tmp_path / "daemon.log").read_text()
    assert len(statuses) >= 5 and set(statuses) == {dg.DagsterRunStatus.SUCCESS}, (statuses, log[-3000:])
    # a tick that finds the warehouse locked skips (INFO, "warehouse busy"); nothing fails on a lock
    assert not [
        line
        for line in log.splitlines()
        if "lock" in line.lower() and ("ERROR" in line or "Traceback" in line)
    ]
    with duckdb.connect(str(world_copy.warehouse), read_only=True) as con:
        assert con.execute(ALERT, [failing, "payment_failure"]).fetchone() == (1,)
        assert con.execute(ALERT, [cancelling, "cancellation_request"]).fetchone() == (1,)
        assert con.execute("select count(*) from ops.change_batch").fetchone() == (0,)
        (task,) = con.execute(
            "select count(*) from alerts.crm_tasks t join alerts.health_alerts a using (alert_id) "
            "where a.account_id = ? and a.alert_type = 'cancellation_request'",
            [cancelling],
        ).fetchone()
        (mail,) = con.execute(
            "select count(*) from alerts.email_outbox o join alerts.health_alerts a "
            "on starts_with(o.period, a.alert_id) where o.kind = 'critical_alert' and a.account_id = ?",
            [cancelling],
        ).fetchone()
    assert task >= 1 and mail >= 1  # critical: the CSM task and the exec-sponsor outreach task
