"""The CDC sensor: first tick, a tick with nothing new, a tick with new rows, and a busy warehouse."""

import subprocess
import sys
import textwrap

import dagster as dg
import pytest

from healthwatch.simulator import stream
from healthwatch.warehouse import connect, max_seqs
from pipelines.jobs import rescore_job
from sensors.cdc import build_cdc_sensor, new_ranges, parse_cursor, run_key

from tests_support import settings_at, simulate_into

TABLES = ["cdc.crm_changes", "cdc.engagement_changes", "cdc.product_changes", "cdc.support_changes"]


@pytest.fixture
def world(tmp_path):
    settings = settings_at(tmp_path / "warehouse.duckdb")
    simulate_into(settings, accounts=30, days=60, seed=5)
    return settings


def _sensor(settings):
    return build_cdc_sensor(
        name="test_cdc", job=rescore_job, tables=TABLES, warehouse=lambda: settings.warehouse
    )


def _tick(sensor, cursor, instance):
    return sensor(dg.build_sensor_context(cursor=cursor, instance=instance))


def test_cursor_helpers() -> None:
    assert parse_cursor(None) == {}
    ranges = new_ranges({"cdc.a": 10, "cdc.b": 5}, {"cdc.a": 10, "cdc.b": 9, "cdc.c": 2})
    assert ranges == {"cdc.b": (6, 9), "cdc.c": (1, 2)}
    assert run_key(ranges) == "cdc.b:6-9,cdc.c:1-2"


def test_first_tick_then_nothing_new_then_new_rows(world, dagster_instance) -> None:
    sensor = _sensor(world)
    with connect(world.warehouse, read_only=True) as con:
        first_max = max_seqs(con)

    first = _tick(sensor, None, dagster_instance)
    assert isinstance(first, dg.SensorResult)
    (request,) = first.run_requests
    assert request.run_key == run_key({t: (1, first_max[t]) for t in TABLES})
    assert parse_cursor(first.cursor) == first_max

    idle = _tick(sensor, first.cursor, dagster_instance)
    assert isinstance(idle, dg.SkipReason)

    with connect(world.warehouse) as con:
        stream(con, days=1)
        second_max = max_seqs(con)
    third = _tick(sensor, first.cursor, dagster_instance)
    (request,) = third.run_requests
    assert request.run_key == run_key(
        {t: (first_max[t] + 1, second_max[t]) for t in TABLES if second_max[t] > first_max[t]}
    )
    assert request.tags["healthwatch/seq_range/cdc.product_changes"] == (
        f"{first_max['cdc.product_changes'] + 1}-{second_max['cdc.product_changes']}"
    )
    assert parse_cursor(third.cursor) == second_max
    # A replayed tick with the old cursor asks for the same run key: Dagster runs it once.
    assert _tick(sensor, first.cursor, dagster_instance).run_requests[0].run_key == request.run_key


def test_busy_warehouse_skips_the_tick(world, dagster_instance) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import duckdb, sys, time
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
