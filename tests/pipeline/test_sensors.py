"""The CDC sensors: first tick, nothing new, new rows, a replayed tick, a running job, a failed
range retried, a busy warehouse."""

import subprocess
import sys
import textwrap

import dagster as dg
import duckdb
import pytest

from healthwatch.batches import commit_batch, open_batch
from healthwatch.simulator import stream
from pipelines.jobs import rescore_job
from sensors.cdc import TableState, build_cdc_sensor, decide, run_key

from tests_support import settings_at, simulate_into

TABLE = "cdc.crm_changes"


@pytest.fixture
def world(tmp_path):
    settings = settings_at(tmp_path / "warehouse.duckdb")
    simulate_into(settings, accounts=30, days=60, seed=5)
    return settings


def _sensor(settings):
    return build_cdc_sensor(table=TABLE, job=rescore_job, warehouse=lambda: settings.warehouse)


def _tick(sensor, cursor, instance):
    return sensor(dg.build_sensor_context(cursor=cursor, instance=instance))


def _max_seq(settings) -> int:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(f"select max(seq) from {TABLE}").fetchall()[0][0]


def _process_everything(settings) -> None:
    with duckdb.connect(str(settings.warehouse)) as con:
        commit_batch(con, open_batch(con))


def test_decisions() -> None:
    fresh = TableState(max_seq=57, pending=[(41, 57)])
    request, cursor, _ = decide(TABLE, 40, fresh, run_active=False, last_run_id="r1")
    assert (request.run_key, cursor) == ("cdc.crm_changes:41-57", 57)
    # while a run is active, new rows wait for the next run and the cursor stays
    request, cursor, reason = decide(TABLE, 40, fresh, run_active=True, last_run_id="r1")
    assert (request, cursor) == (None, 40) and "next" in reason
    # rows at or below the cursor still unprocessed (a failed run) are retried, keyed by the last run
    failed = TableState(max_seq=57, pending=[(41, 57)])
    request, cursor, _ = decide(TABLE, 57, failed, run_active=False, last_run_id="r2")
    assert (request.run_key, cursor) == ("cdc.crm_changes:41-57:retry-after-r2", 57)
    assert request.tags["healthwatch/retry"] == "true"
    # everything processed: nothing to do
    done = TableState(max_seq=57, pending=[])
    assert decide(TABLE, 57, done, run_active=False, last_run_id="r2")[0] is None
    # new rows someone else processed already: the cursor catches up without a run
    assert decide(TABLE, 40, done, run_active=False, last_run_id="r2")[:2] == (None, 57)
    assert run_key(TABLE, 1, 2) == "cdc.crm_changes:1-2"


def test_first_tick_then_nothing_new_then_new_rows(world, dagster_instance) -> None:
    sensor = _sensor(world)
    first_max = _max_seq(world)

    first = _tick(sensor, None, dagster_instance)
    (request,) = first.run_requests
    assert request.run_key == f"{TABLE}:1-{first_max}"
    assert first.cursor == str(first_max)
    _process_everything(world)  # the run it asked for

    idle = _tick(sensor, first.cursor, dagster_instance)
    assert isinstance(idle, dg.SkipReason)

    with duckdb.connect(str(world.warehouse)) as con:
        stream(con, days=5)
    second_max = _max_seq(world)
    assert second_max > first_max
    third = _tick(sensor, first.cursor, dagster_instance)
    assert isinstance(third, dg.SensorResult), third
    (request,) = third.run_requests
    assert request.run_key == f"{TABLE}:{first_max + 1}-{second_max}"
    assert request.tags[f"healthwatch/seq_range/{TABLE}"] == f"{first_max + 1}-{second_max}"
    # A replayed tick (same cursor) asks for the same run key: Dagster runs it once.
    assert _tick(sensor, first.cursor, dagster_instance).run_requests[0].run_key == request.run_key


def test_a_failed_range_is_retried(world, dagster_instance, tmp_path) -> None:
    sensor = _sensor(world)
    first = _tick(sensor, None, dagster_instance)
    # the run for that range failed: nothing was marked processed
    retry = _tick(sensor, first.cursor, dagster_instance)
    (request,) = retry.run_requests
    assert request.run_key.startswith(f"{TABLE}:1-") and ":retry-after-" in request.run_key
    assert retry.cursor == first.cursor
    _process_everything(world)
    assert isinstance(_tick(sensor, first.cursor, dagster_instance), dg.SkipReason)


def test_busy_warehouse_skips_the_tick(world, dagster_instance) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import duckdb, sys
                con = duckdb.connect({str(world.warehouse)!r})
                print("locked", flush=True)
                sys.stdin.readline()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = _tick(_sensor(world), None, dagster_instance)
        assert isinstance(result, dg.SkipReason)
        assert "busy" in result.skip_message
    finally:
        holder.communicate("\n", timeout=30)


def test_missing_warehouse_skips(tmp_path, dagster_instance) -> None:
    settings = settings_at(tmp_path / "nothing.duckdb")
    result = _tick(_sensor(settings), None, dagster_instance)
    assert isinstance(result, dg.SkipReason)
    assert not settings.warehouse.exists()


def test_one_sensor_per_change_table() -> None:
    from pipelines.definitions import defs

    names = sorted(s.name for s in defs.sensors)
    assert names == [
        "cdc_crm_changes_sensor",
        "cdc_engagement_changes_sensor",
        "cdc_product_changes_sensor",
        "cdc_support_changes_sensor",
    ]
