"""The change-table envelope suite: every CDC row must be well-formed before staging reads it.

Validation is incremental: only rows after the last validated `seq` of each table are read, and
the mark moves only when they pass, so a failing range is checked again on the next run, never
skipped. Great Expectations is imported inside the functions (it costs seconds to import).
"""

from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from healthwatch.contract import SOURCE_TABLES
from healthwatch.warehouse import SOURCE_SYSTEMS, change_table

ENVELOPE_COLUMNS = ["seq", "source_table", "op", "key", "before", "after", "source_ts", "ingested_at"]
OPS = ["c", "u", "d", "r"]
MARKS_TABLE = "data_quality.validated_changes"


@dataclass(frozen=True)
class Failure:
    expectation: str
    column: str | None
    unexpected_count: int
    examples: list[Any] = field(default_factory=list)


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
    suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column="seq"))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="op", value_set=OPS))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="source_table", value_set=tables))
    return suite


def validate_frame(system: str, frame: pd.DataFrame) -> list[Failure]:
    """Run the envelope suite on a DataFrame of change rows; return the failed expectations."""
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    batch_definition = (
        context.data_sources.add_pandas(name=f"{system}_changes")
        .add_dataframe_asset(name="rows")
        .add_batch_definition_whole_dataframe(name="new_rows")
    )
    suite = context.suites.add(envelope_suite(system))
    validation = gx.ValidationDefinition(
        data=batch_definition, suite=suite, name=f"{system}_changes_envelope"
    )
    result = validation.run(batch_parameters={"dataframe": frame}, result_format={"result_format": "SUMMARY"})
    failures = []
    for outcome in result.results:
        if outcome.success:
            continue
        config = outcome.expectation_config
        details = outcome.result or {}
        failures.append(
            Failure(
                expectation=config.type,
                column=config.kwargs.get("column"),
                unexpected_count=int(details.get("unexpected_count") or 0),
                examples=[str(v) for v in (details.get("partial_unexpected_list") or [])[:5]],
            )
        )
    return failures


def validate_new_changes(con: duckdb.DuckDBPyConnection) -> list[ChangeTableOutcome]:
    """Validate every change table's rows since its last validated seq; advance marks that pass."""
    con.execute("create schema if not exists data_quality")
    con.execute(
        f"create table if not exists {MARKS_TABLE} (change_table varchar primary key, last_seq bigint)"
    )
    marks = dict(con.execute(f"select change_table, last_seq from {MARKS_TABLE}").fetchall())
    outcomes = []
    for system in SOURCE_SYSTEMS:
        table = change_table(system)
        since = int(marks.get(table, 0))
        frame = con.execute(f"select * from {table} where seq > ? order by seq", [since]).df()
        if frame.empty:
            outcomes.append(ChangeTableOutcome(table, since, since, 0, True, []))
            continue
        failures = validate_frame(system, frame)
        last = int(frame["seq"].max())
        outcomes.append(ChangeTableOutcome(table, since + 1, last, len(frame), not failures, failures))
        if not failures:
            con.execute(f"insert or replace into {MARKS_TABLE} values (?, ?)", [table, last])
    return outcomes
