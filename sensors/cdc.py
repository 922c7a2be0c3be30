"""A sensor factory over the change tables.

The cursor is the last `seq` seen per change table (JSON). A tick reads each table's max(seq)
through a short read-only connection; when any table has new rows it requests one run for all of
them, keyed by the seq ranges (`run_key`), so a replayed tick never starts the same run twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import duckdb

if TYPE_CHECKING:
    from dagster._core.definitions.sensor_definition import ExecutableDefinition

SeqRanges = dict[str, tuple[int, int]]


def parse_cursor(cursor: str | None) -> dict[str, int]:
    """The cursor as {change table: last seq seen}; empty before the first tick."""
    if not cursor:
        return {}
    return {table: int(seq) for table, seq in json.loads(cursor).items()}


def new_ranges(seen: Mapping[str, int], latest: Mapping[str, int]) -> SeqRanges:
    """The seq ranges (first, last) not yet seen, per table with new rows."""
    return {
        table: (seen.get(table, 0) + 1, last)
        for table, last in sorted(latest.items())
        if last > seen.get(table, 0)
    }


def run_key(ranges: SeqRanges) -> str:
    """A stable key for the runs of these ranges, e.g. `cdc.crm_changes:41-57,cdc.product_changes:900-1200`."""
    return ",".join(f"{table}:{lo}-{hi}" for table, (lo, hi) in sorted(ranges.items()))


def read_latest_seqs(warehouse: Path, tables: Sequence[str]) -> dict[str, int]:
    """max(seq) per table, through one short read-only connection (missing tables count as 0)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        present = {
            f"{schema}.{name}"
            for schema, name in con.execute(
                "select table_schema, table_name from information_schema.tables where table_schema = 'cdc'"
            ).fetchall()
        }
        latest = {}
        for table in tables:
            if table in present:
                (seq,) = con.execute(f"select coalesce(max(seq), 0) from {table}").fetchall()[0]
                latest[table] = int(seq)
        return latest


def build_cdc_sensor(
    *,
    name: str,
    job: ExecutableDefinition,
    tables: Sequence[str],
    warehouse: Callable[[], Path],
    minimum_interval_seconds: int = 5,
) -> dg.SensorDefinition:
    """A sensor that requests a run of `job` for every new range of change rows in `tables`.

    `warehouse` is called at each tick, so the path comes from the environment of the daemon,
    never from import time.
    """

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=f"Requests a rescoring run when new change rows land in {', '.join(tables)}.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        path = warehouse()
        if not path.exists():
            return dg.SkipReason(f"no warehouse at {path} yet")
        try:
            latest = read_latest_seqs(path, tables)
        except duckdb.IOException as exc:
            # Another process is writing the warehouse (DuckDB has one writer): try next tick.
            return dg.SkipReason(f"warehouse busy: {exc}")
        seen = parse_cursor(context.cursor)
        ranges = new_ranges(seen, latest)
        if not ranges:
            return dg.SkipReason("no new change rows")
        tags = {f"healthwatch/seq_range/{table}": f"{lo}-{hi}" for table, (lo, hi) in ranges.items()}
        cursor = json.dumps({**seen, **{table: hi for table, (_, hi) in ranges.items()}}, sort_keys=True)
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=run_key(ranges), tags=tags)], cursor=cursor
        )

    return _sensor
