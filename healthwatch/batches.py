"""Which change rows a run must process: the pending batch, and what counts as processed.

A change row is identified by its table and `seq` (its source position). Processed seqs are kept
as ranges in `ops.processed_changes`; a run's batch is every seq present and not yet processed,
written as ranges to `ops.change_batch` for dbt to read. This holds whatever order rows arrive
in: a late batch of lower seqs fills a gap in the ranges and is picked up, while a replayed row
(a seq already processed) is not processed twice. The batch is marked processed only after the
run that read it succeeded, so a failed range is retried, never skipped.

The data clock is the newest source time of the change rows not quarantined. The processed rows'
first and last times are kept per change table in `ops.processed_times` as batches are marked
processed, so the clock reads the rows not processed yet and not the whole history.
"""

from dataclasses import dataclass
from datetime import date, datetime

import duckdb

from healthwatch.errors import HealthwatchError
from healthwatch.warehouse import (
    PROCESSED_TIMES,
    SOURCE_SYSTEMS,
    change_table,
    ensure_change_tables,
    kept_changes_sql,
    kept_times_sql,
    quarantine_table,
    require_tables,
    table_exists,
)

BATCH_TABLE = "ops.change_batch"
PROCESSED_TABLE = "ops.processed_changes"
CLOCK_TABLE = "ops.processed_clock"
OPEN_TABLE = "ops.open_batch"
SCOPE_TABLE = "intermediate.int_recompute_scope"


@dataclass(frozen=True)
class Batch:
    """The pending change rows of one run, as seq ranges per change table, and the data clock's
    day when the batch was opened (every account's days up to it are built by the run)."""

    ranges: dict[str, list[tuple[int, int]]]
    rows: dict[str, int]
    full_refresh: bool
    as_of_date: date | None

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def _islands(con: duckdb.DuckDBPyConnection, table: str, where: str) -> list[tuple[int, int]]:
    """Consecutive runs of distinct seqs in `table` matching `where`, as (first, last) ranges."""
    rows, low, high = con.execute(
        f"select count(*), min(seq), max(seq) from {table} where {where}"
    ).fetchone()
    if not rows:
        return []
    # Mostly there are no gaps (seqs are dense; a gap lasts while rows arrive out of order): one
    # pass setting a bit per seq of the span tells, where numbering the distinct seqs in order
    # sorts them all (a full refresh at 100,000 accounts: 0.5 s against 18 s for 85 M events).
    # A span wider than the rows has gaps for certain, and its bitmap could be huge.
    if high - low + 1 <= rows:
        (present,) = con.execute(
            f"select bit_count(bitstring_agg(seq, {int(low)}, {int(high)})) from {table} where {where}"
        ).fetchone()
        if present == high - low + 1:
            return [(int(low), int(high))]
    return [
        (int(first), int(last))
        for first, last in con.execute(
            f"""
            with seqs as (select distinct seq from {table} where {where}),
            grouped as (select seq, seq - row_number() over (order by seq) as island from seqs)
            select min(seq), max(seq) from grouped group by island order by 1
            """
        ).fetchall()
    ]


def pending_ranges(
    con: duckdb.DuckDBPyConnection, table: str, full_refresh: bool = False
) -> list[tuple[int, int]]:
    """The seq ranges of `table` not processed yet (all of them on a full refresh). Only reads."""
    if not table_exists(con, table):
        return []
    return _islands(con, table, "true" if full_refresh else _pending_where(con, table))


def _pending_where(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """A condition on the rows of `table` (no alias): not processed yet."""
    if not table_exists(con, PROCESSED_TABLE):
        return "true"
    lowest = con.execute(
        f"select first_seq, last_seq from {PROCESSED_TABLE} where change_table = ? order by first_seq limit 1",
        [table],
    ).fetchall()
    if not lowest:
        return "true"
    # Everything up to the end of the lowest processed range is done (when no seq lies below it);
    # above it, only the processed ranges themselves are (few: gaps exist only while rows arrive
    # out of order), so a run reads the tail of the table, not all of it.
    (min_seq,) = con.execute(f"select min(seq) from {table}").fetchall()[0]
    first, last = lowest[0]
    done_through = int(last) if min_seq is not None and min_seq >= first else 0
    return (
        f"seq > {done_through} and not exists (select 1 from {PROCESSED_TABLE} p "
        f"where p.change_table = '{table}' and seq between p.first_seq and p.last_seq)"
    )


def pending_batch(con: duckdb.DuckDBPyConnection, full_refresh: bool = False) -> Batch:
    """The seqs present in each change table and not processed yet (all of them on a full refresh).

    Only reads, so a sensor can call it on a short read-only connection."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    rows: dict[str, int] = {}
    for system in SOURCE_SYSTEMS:
        table = change_table(system)
        ranges[table] = pending_ranges(con, table, full_refresh)
        if not ranges[table]:
            rows[table] = 0
            continue
        (count,) = con.execute(
            f"select count(*) from {table} where {' or '.join(_between(r) for r in ranges[table])}"
        ).fetchall()[0]
        rows[table] = int(count)
    latest = _clock(con)
    return Batch(
        ranges=ranges, rows=rows, full_refresh=full_refresh, as_of_date=latest.date() if latest else None
    )


def data_clock(con: duckdb.DuckDBPyConnection) -> datetime:
    """The pipeline's "now": the newest source timestamp of the change rows not quarantined.

    Simulated and replayed worlds then behave the same as live ones, and runs are deterministic.
    """
    require_tables(
        con,
        *(change_table(s) for s in SOURCE_SYSTEMS),
        fix="run `healthwatch simulate` or `healthwatch load` first",
    )
    clock = _clock(con)
    if clock is None:
        raise HealthwatchError(
            "the change tables are empty", "run `healthwatch simulate` or `healthwatch load` first"
        )
    return clock


def _clock(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The newest source time of the change rows not quarantined (None when there are none): the
    processed rows' last times as kept, and the rows not processed yet (a refused row dated in
    the future must not move the clock)."""
    parts = []
    for system in SOURCE_SYSTEMS:
        table = change_table(system)
        if not table_exists(con, table):
            continue
        rows = kept_changes_sql(system) if table_exists(con, quarantine_table(system)) else table
        if not table_exists(con, PROCESSED_TIMES):  # an earlier version's, not opened to write since
            parts.append(f"select max(source_ts) as ts from {rows}")
            continue
        parts.append(f"select last_ts as ts from {PROCESSED_TIMES} where change_table = '{table}'")
        parts.append(f"select max(source_ts) from {rows} where {_pending_where(con, table)}")
    if not parts:
        return None
    (clock,) = con.execute(f"select max(ts) from ({' union all '.join(parts)})").fetchall()[0]
    return clock


def _between(seq_range: tuple[int, int]) -> str:
    return f"seq between {seq_range[0]} and {seq_range[1]}"


def open_batch(con: duckdb.DuckDBPyConnection, full_refresh: bool = False) -> Batch:
    """Compute the pending batch and write it to ops.change_batch for dbt to read."""
    ensure_change_tables(con)
    batch = pending_batch(con, full_refresh)
    con.execute("begin")
    con.execute(f"delete from {BATCH_TABLE}")
    con.execute(f"delete from {OPEN_TABLE}")
    for table, seq_ranges in batch.ranges.items():
        if seq_ranges:
            con.executemany(
                f"insert into {BATCH_TABLE} values (?, ?, ?)", [(table, lo, hi) for lo, hi in seq_ranges]
            )
    con.execute(f"insert into {OPEN_TABLE} values (?, ?)", [batch.as_of_date, batch.full_refresh])
    con.execute("commit")
    return batch


def commit_open_batch(con: duckdb.DuckDBPyConnection) -> Batch | None:
    """Mark the batch written by the last open_batch processed (None when none is open).

    A run opens the batch before dbt and commits it as its very last step, once scores, alerts
    and tasks are written too: a run that dies anywhere in between leaves the rows pending, and
    the next run does the whole of it again."""
    ensure_change_tables(con)
    opened = con.execute(f"select as_of_date, full_refresh from {OPEN_TABLE}").fetchall()
    if not opened:
        return None
    ranges: dict[str, list[tuple[int, int]]] = {}
    for table, first, last in con.execute(f"select * from {BATCH_TABLE} order by 1, 2").fetchall():
        ranges.setdefault(table, []).append((int(first), int(last)))
    as_of_date, full_refresh = opened[0]
    batch = Batch(ranges=ranges, rows={}, full_refresh=bool(full_refresh), as_of_date=as_of_date)
    commit_batch(con, batch)
    return batch


def commit_batch(con: duckdb.DuckDBPyConnection, batch: Batch) -> None:
    """Mark the batch processed: merge its ranges into ops.processed_changes (adjacent ranges join)."""
    ensure_change_tables(con)
    con.execute("begin")
    if batch.full_refresh:
        con.execute(f"delete from {PROCESSED_TABLE}")
    for table, seq_ranges in batch.ranges.items():
        if seq_ranges:
            con.executemany(
                f"insert into {PROCESSED_TABLE} values (?, ?, ?)", [(table, lo, hi) for lo, hi in seq_ranges]
            )
    merged = con.execute(
        f"""
        with ordered as (
            select *, max(last_seq) over (
                partition by change_table order by first_seq rows between unbounded preceding and 1 preceding
            ) as reach_before
            from {PROCESSED_TABLE}
        ),
        starts as (
            select *, sum(case when reach_before is null or first_seq > reach_before + 1 then 1 else 0 end)
                over (partition by change_table order by first_seq) as island
            from ordered
        )
        select change_table, min(first_seq), max(last_seq) from starts group by change_table, island
        """
    ).fetchall()
    con.execute(f"delete from {PROCESSED_TABLE}")
    if merged:
        con.executemany(f"insert into {PROCESSED_TABLE} values (?, ?, ?)", merged)
    _keep_processed_times(con, batch)
    con.execute(f"delete from {BATCH_TABLE}")
    con.execute(f"delete from {OPEN_TABLE}")
    if batch.as_of_date is not None:
        con.execute(f"delete from {CLOCK_TABLE}")
        con.execute(f"insert into {CLOCK_TABLE} values (?)", [batch.as_of_date])
    con.execute("commit")


def _keep_processed_times(con: duckdb.DuckDBPyConnection, batch: Batch) -> None:
    """Widen each change table's processed first and last source times by the batch's rows (a
    full refresh starts them over), in the caller's transaction."""
    if batch.full_refresh:
        con.execute(f"delete from {PROCESSED_TIMES}")
    for system in SOURCE_SYSTEMS:
        table = change_table(system)
        seq_ranges = batch.ranges.get(table)
        if not seq_ranges:
            continue
        first, last = con.execute(kept_times_sql(system, seq_ranges)).fetchone()
        kept = con.execute(
            f"select first_ts, last_ts from {PROCESSED_TIMES} where change_table = ?", [table]
        ).fetchone()
        if kept is not None:  # kept times are never null
            first = kept[0] if first is None else min(first, kept[0])
            last = kept[1] if last is None else max(last, kept[1])
        if first is None:  # every row of the batch was quarantined, and none processed before
            continue
        con.execute(f"delete from {PROCESSED_TIMES} where change_table = ?", [table])
        con.execute(f"insert into {PROCESSED_TIMES} values (?, ?, ?)", [table, first, last])


@dataclass(frozen=True)
class ScopeSummary:
    """What the last run recomputed: accounts with changes, and accounts only rolled to new days."""

    changed_accounts: int
    rolled_accounts: int
    first_day: date | None


def scope_summary(con: duckdb.DuckDBPyConnection) -> ScopeSummary:
    """Read the last run's recompute scope (zeros before the first run)."""

    if not table_exists(con, SCOPE_TABLE):
        return ScopeSummary(0, 0, None)
    changed, rolled, first = con.execute(
        f"select count(*) filter (where has_changes), count(*) filter (where not has_changes), "
        f"min(recompute_from) from {SCOPE_TABLE}"
    ).fetchall()[0]
    return ScopeSummary(int(changed), int(rolled), first)


def scope_accounts(con: duckdb.DuckDBPyConnection) -> list[str] | None:
    """The accounts the last signals run rebuilt (None before the first run: score everyone)."""
    if not table_exists(con, SCOPE_TABLE):
        return None
    return [
        account for (account,) in con.execute(f"select account_id from {SCOPE_TABLE} order by 1").fetchall()
    ]
