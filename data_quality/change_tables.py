"""The change-table envelope suite: every CDC row must be well-formed before staging reads it.

Validation is incremental: only the pending change rows (those the next run will process) are
read. Great Expectations is imported inside the functions (it costs seconds to import).
"""

from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from data_quality.gx_runner import Failure, run_suite
from healthwatch.batches import pending_batch
from healthwatch.contract import SOURCE_TABLES

ENVELOPE_COLUMNS = ["seq", "source_table", "op", "key", "before", "after", "source_ts", "ingested_at"]
OPS = ["c", "u", "d", "r"]


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

    tables = sorted(t.name for t in SOURCE_TABLES if t.system == system)
    suite = gx.ExpectationSuite(name=f"{system}_changes_envelope")
    suite.add_expectation(gxe.ExpectTableColumnsToMatchSet(column_set=ENVELOPE_COLUMNS, exact_match=True))
    for column in ("seq", "source_table", "op", "key", "source_ts", "ingested_at"):
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    # No uniqueness on seq: at-least-once delivery repeats rows, and staging takes one per (key, seq).
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="op", value_set=OPS))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="source_table", value_set=tables))
    return suite


def validate_frame(system: str, frame: pd.DataFrame) -> list[Failure]:
    """Run the envelope suite on a DataFrame of change rows; return the failed expectations."""
    return run_suite(lambda: envelope_suite(system), frame)


def validate_pending_changes(
    con: duckdb.DuckDBPyConnection, full_refresh: bool = False
) -> list[ChangeTableOutcome]:
    """Validate the change rows the next run will process (healthwatch.batches: every row not yet
    processed, whatever order it arrived in). Rows that fail stay pending, so they are checked
    again on every run until fixed: never skipped."""
    batch = pending_batch(con, full_refresh=full_refresh)
    outcomes = []
    for table, seq_ranges in batch.ranges.items():
        system = table.removeprefix("cdc.").removesuffix("_changes")
        if not seq_ranges:
            outcomes.append(ChangeTableOutcome(table, 0, 0, 0, True, []))
            continue
        where = " or ".join(f"seq between {lo} and {hi}" for lo, hi in seq_ranges)
        frame = con.execute(f"select * from {table} where {where} order by seq").df()
        failures = validate_frame(system, frame)
        outcomes.append(
            ChangeTableOutcome(table, seq_ranges[0][0], seq_ranges[-1][1], len(frame), not failures, failures)
        )
    return outcomes
