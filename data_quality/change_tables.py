"""Table-level suites of the change tables, run as asset checks at the head of every run.

The envelope (ERROR, blocks the run): the change table still has exactly the envelope's columns.
Bad single rows are not a reason to stop: the screen (data_quality/quarantine.py) quarantines
them. Volume and freshness (WARN, inform): a day with ten times or a tenth of the usual rows, or
a table that has received nothing for a long while, usually means a broken feed.
Validation reads only the pending change rows and a few weeks of daily counts. Great
Expectations is imported inside the functions (it costs seconds to import).
"""

from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from data_quality.gx_runner import Failure, run_suite
from healthwatch.batches import data_clock, pending_batch

ENVELOPE_COLUMNS = ["seq", "source_table", "op", "key", "before", "after", "source_ts", "ingested_at"]


@dataclass(frozen=True)
class ChangeTableOutcome:
    table: str
    first_seq: int
    last_seq: int
    rows_checked: int
    passed: bool
    failures: list[Failure]


def envelope_suite(system: str) -> Any:
    """The expectations every row of `cdc.<system>_changes` must meet."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name=f"{system}_changes_envelope")
    suite.add_expectation(gxe.ExpectTableColumnsToMatchSet(column_set=ENVELOPE_COLUMNS, exact_match=True))
    # Row-level expectations live in the screen, which quarantines instead of blocking; no
    # uniqueness on seq: at-least-once delivery repeats rows, and staging takes one per (key, seq).
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="seq"))
    return suite


def validate_frame(system: str, frame: pd.DataFrame) -> list[Failure]:
    """Run the envelope suite on a DataFrame of change rows; return the failed expectations."""
    return run_suite(lambda: envelope_suite(system), frame)


def validate_pending_changes(
    con: duckdb.DuckDBPyConnection, full_refresh: bool = False
) -> list[ChangeTableOutcome]:
    """Check each change table's shape, and report the pending rows (those the next run will
    process; all of them on a full refresh) the check stands for."""
    batch = pending_batch(con, full_refresh=full_refresh)
    outcomes = []
    for table, seq_ranges in batch.ranges.items():
        system = table.removeprefix("cdc.").removesuffix("_changes")
        frame = con.execute(f"select * from {table} limit 0").df()
        failures = validate_frame(system, frame)
        first, last = (seq_ranges[0][0], seq_ranges[-1][1]) if seq_ranges else (0, 0)
        outcomes.append(ChangeTableOutcome(table, first, last, batch.rows[table], not failures, failures))
    return outcomes


VOLUME_BOUNDS = (0.1, 10.0)
VOLUME_HISTORY_DAYS = 28


FRESH_HOURS = 72.0


@dataclass(frozen=True)
class FeedOutcome:
    """Volume and freshness of one change table's feed."""

    table: str
    days: list[dict[str, Any]]
    hours_behind_clock: float | None
    passed: bool
    failures: list[Failure]


def volume_suite() -> Any:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name="change_volume")
    low, high = VOLUME_BOUNDS
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(column="ratio_to_median", min_value=low, max_value=high)
    )
    return suite


def freshness_suite() -> Any:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name="change_freshness")
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(column="hours_behind_clock", max_value=FRESH_HOURS)
    )
    return suite


def validate_feeds(con: duckdb.DuckDBPyConnection) -> list[FeedOutcome]:
    """Per change table: for every complete day the pending rows touch (the clock's own day is
    still arriving), its row count against the median of the 28 days before it (outside 0.1x-10x
    fails); and the hours its newest row is behind the data clock (over 72 fails). Both are WARN."""
    batch = pending_batch(con, full_refresh=False)
    clock = data_clock(con)
    outcomes = []
    for table, seq_ranges in batch.ranges.items():
        # Behind the data clock, not the wall clock: replayed and simulated worlds work the same.
        (newest, hours) = con.execute(
            f"select max(source_ts), date_diff('second', max(source_ts), ?) / 3600 from {table}", [clock]
        ).fetchall()[0]
        fresh = pd.DataFrame({"hours_behind_clock": [hours]}) if hours is not None else pd.DataFrame()
        failures = run_suite(freshness_suite, fresh) if len(fresh) else []
        if not seq_ranges:
            outcomes.append(FeedOutcome(table, [], hours, not failures, failures))
            continue
        where = " or ".join(f"seq between {lo} and {hi}" for lo, hi in seq_ranges)
        frame = con.execute(
            f"""
            with touched as (select distinct cast(source_ts as date) as day from {table} where {where}),
            window_rows as (
                select cast(source_ts as date) as day, count(*) as rows from {table}
                where source_ts >= (select min(day) from touched) - interval {VOLUME_HISTORY_DAYS + 1} day
                group by 1
            ),
            history as (
                select day, rows, median(rows) over (
                    order by day range between interval {VOLUME_HISTORY_DAYS} day preceding
                    and interval 1 day preceding) as median_rows
                from window_rows
            )
            select cast(day as varchar) as day, rows, median_rows,
                   round(rows / nullif(median_rows, 0), 3) as ratio_to_median
            from history
            where day in (select day from touched) and day < cast($newest as date)
                and median_rows is not null
            order by day
            """,
            {"newest": newest},  # the table's own newest day is still arriving
        ).df()
        failures += run_suite(volume_suite, frame) if len(frame) else []
        outcomes.append(FeedOutcome(table, frame.to_dict("records"), hours, not failures, failures))
    return outcomes
