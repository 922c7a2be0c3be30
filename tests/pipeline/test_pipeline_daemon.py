"""A rescoring run killed mid-way is redone by the sensor's next tick, leaving exactly the alerts
an uninterrupted run leaves. (The daemon end to end — a change row to its alert, task and mail
with no manual step — is tests/faults/test_faults_burst.py.)"""

import os
import shutil
import signal
import subprocess
import sys
import time

import dagster as dg
import duckdb

from bench.latency import append_change
from pipelines.daemon import daemon_env
from pipelines.jobs import rescore_job
from pipelines.run import run_job
from sensors.cdc import build_cdc_sensor

from tests_support import rounded_rows, settings_at

ALERT = (
    "select alert_id from alerts.health_alerts where account_id = ? and alert_type = ? and status = 'open'"
)


def _wait_for(warehouse, sql: str, params: list, timeout_s: float) -> list:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with duckdb.connect(str(warehouse), read_only=True) as con:
                rows = con.execute(sql, params).fetchall()
            if rows:
                return rows
        except duckdb.Error:
            pass  # a run holds the write lock
        time.sleep(0.5)
    return []


def _quiet_account(warehouse, alert_type: str) -> str:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select account_id from signals.accounts where not is_churned and account_id not in "
            "(select account_id from alerts.health_alerts where alert_type = ?) order by arr desc limit 1",
            [alert_type],
        ).fetchall()[0][0]


def test_a_killed_run_is_redone_by_the_next_tick(world_copy, tmp_path, dagster_instance) -> None:
    twin = settings_at(tmp_path / "twin" / "warehouse.duckdb")
    shutil.copytree(world_copy.data_dir, twin.data_dir)
    account_id = _quiet_account(world_copy.warehouse, "payment_failure")
    for settings in (world_copy, twin):
        append_change(settings, "payment_failure", account_id, 1)

    # uninterrupted
    run_job("rescore_job", twin, instance=dagster_instance)

    # killed once its signals are built, before scores, alerts and the batch commit
    env = daemon_env(world_copy)
    runner = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "healthwatch"), "run"],
        cwd=tmp_path,
        env=env,
        start_new_session=True,
    )
    log = world_copy.data_dir / "logs" / "rescore_job.log"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and "Completed successfully" not in (
        log.read_text() if log.exists() else ""
    ):
        time.sleep(0.2)
    os.killpg(runner.pid, signal.SIGKILL)
    runner.wait()

    sensor = build_cdc_sensor(
        table="cdc.crm_changes", job=rescore_job, warehouse=lambda: world_copy.warehouse
    )
    with duckdb.connect(str(world_copy.warehouse), read_only=True) as con:
        (max_seq,) = con.execute("select max(seq) from cdc.crm_changes").fetchall()[0]
    tick = sensor(dg.build_sensor_context(cursor=str(max_seq), instance=dagster_instance))
    (request,) = tick.run_requests
    assert "retry" in request.run_key
    run_job("rescore_job", world_copy, tags=request.tags, instance=dagster_instance)

    def alerts(warehouse) -> list:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return rounded_rows(
                con.execute(
                    "select * exclude (updated_at) from alerts.health_alerts order by alert_id"
                ).fetchall()
            )

    assert alerts(world_copy.warehouse) == alerts(twin.warehouse)
    assert _wait_for(world_copy.warehouse, ALERT, [account_id, "payment_failure"], 1)
