"""A sensor factory: one sensor per change table.

The cursor is the last `seq` seen in the table. A tick opens a short read-only connection, reads
the table's max(seq) and which of its rows are still unprocessed (healthwatch.batches), and:
- asks for a rescoring run when rows past the cursor arrived, keyed by `table:first-last` (the
  `run_key`), so a replayed tick never starts the same run twice; the cursor moves with the request;
- waits while a rescoring run is queued or running: rows that arrive meanwhile are batched into
  the next run (each run processes every pending row, whichever sensor asked for it);
- asks again for rows at or below the cursor that are still unprocessed once no run is active —
  a failed run's range, or late rows below the cursor — keyed by the range and the last run's id,
  so a failed range is retried, never skipped, and a replayed tick still never runs twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import duckdb

from healthwatch.batches import pending_ranges
from healthwatch.warehouse import table_exists

if TYPE_CHECKING:
    from dagster._core.definitions.sensor_definition import ExecutableDefinition

ACTIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dataclass(frozen=True)
class TableState:
    """What a tick reads of one change table."""

    max_seq: int
    pending: list[tuple[int, int]]


def read_table_state(warehouse: Path, table: str) -> TableState:
    """max(seq) and the unprocessed seq ranges of `table`, through one short read-only connection."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        if not table_exists(con, table):
            return TableState(0, [])
        (max_seq,) = con.execute(f"select coalesce(max(seq), 0) from {table}").fetchall()[0]
        return TableState(int(max_seq), pending_ranges(con, table))


def parse_cursor(cursor: str | None) -> int:
    """The last seq seen (0 before the first tick)."""
    return int(cursor) if cursor else 0


def run_key(table: str, first: int, last: int, retry_of: str | None = None) -> str:
    """A stable key for the run of one seq range, e.g. `cdc.crm_changes:41-57`."""
    key = f"{table}:{first}-{last}"
    return f"{key}:retry-after-{retry_of}" if retry_of else key


def decide(
    table: str, cursor: int, state: TableState, run_active: bool, last_run_id: str | None
) -> tuple[dg.RunRequest | None, int, str]:
    """The decision of one tick: a run request or None, the new cursor, and why (pure, tested)."""
    if run_active:
        return None, cursor, "a rescoring run is queued or running; new rows go into the next one"
    if state.max_seq > cursor and not any(hi > cursor for _, hi in state.pending):
        # processed already (by `healthwatch run`, or before this sensor started): just catch up
        return None, state.max_seq, f"rows up to {state.max_seq} are processed already"
    if state.max_seq > cursor:
        first, last = cursor + 1, state.max_seq
        request = dg.RunRequest(
            run_key=run_key(table, first, last), tags={f"healthwatch/seq_range/{table}": f"{first}-{last}"}
        )
        return request, last, f"new rows {first}-{last}"
    stale = [(lo, hi) for lo, hi in state.pending if lo <= cursor]
    if stale:
        first, last = stale[0][0], min(stale[-1][1], cursor)
        request = dg.RunRequest(
            run_key=run_key(table, first, last, retry_of=last_run_id or "none"),
            tags={f"healthwatch/seq_range/{table}": f"{first}-{last}", "healthwatch/retry": "true"},
        )
        return request, cursor, f"rows {first}-{last} are still unprocessed: retrying"
    return None, cursor, "no new change rows"


def build_cdc_sensor(
    *,
    table: str,
    job: ExecutableDefinition,
    warehouse: Callable[[], Path],
    minimum_interval_seconds: int = 5,
) -> dg.SensorDefinition:
    """A sensor requesting runs of `job` for the change rows of `table`.

    `warehouse` is called at each tick, so the path comes from the daemon's environment, never
    from import time.
    """
    job_name = job.name

    @dg.sensor(
        name=f"{table.replace('.', '_')}_sensor",
        job=job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=f"Requests a rescoring run when change rows land in {table}; retries failed ranges.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        path = warehouse()
        if not path.exists():
            return dg.SkipReason(f"no warehouse at {path} yet")
        active = context.instance.get_runs(
            filters=dg.RunsFilter(job_name=job_name, statuses=ACTIVE_STATUSES), limit=1
        )
        if active:  # its writer holds the warehouse; what arrives now goes into the next run
            return dg.SkipReason(decide(table, 0, TableState(0, []), True, None)[2])
        try:
            state = read_table_state(path, table)
        except duckdb.IOException as exc:
            # Another process is writing the warehouse (a CDC writer, `healthwatch run`): next tick.
            return dg.SkipReason(f"warehouse busy: {exc}")
        latest = context.instance.get_runs(filters=dg.RunsFilter(job_name=job_name), limit=1)
        request, cursor, reason = decide(
            table, parse_cursor(context.cursor), state, bool(active), latest[0].run_id if latest else None
        )
        if request is None:
            if cursor != parse_cursor(context.cursor):
                return dg.SensorResult(skip_reason=reason, cursor=str(cursor))
            return dg.SkipReason(reason)
        context.log.info(reason)
        return dg.SensorResult(run_requests=[request], cursor=str(cursor))

    return _sensor
