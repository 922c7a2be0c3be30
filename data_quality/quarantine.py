"""Row-level screening of change rows, quarantine, schema drift and replay.

Before a run's dbt build, every pending change row is checked against the source contract, row
by row, in DuckDB (the row counts of product events rule out a per-row Python loop): envelope
present, op and source table known, the image's key present, every contract column present and of
its contract type, accepted values, ranges, a plausible source time. A failing row is copied to
`quarantine.<system>_changes` with the expectation it failed, the column, the value and the time,
and staging skips it (by seq and ingestion time); the rest go on. So clean + quarantined = input.

A failure shared by every row of a source table in the batch is not a bad row but schema drift
(a column renamed, dropped or retyped upstream): the run stops with a message naming the table,
the column and the contract, before anything is built from half-read rows.

`replay` re-admits fixed rows as new change rows, after the engineer has corrected them.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import duckdb

from data_quality.suites import RANGES
from healthwatch.batches import pending_ranges
from healthwatch.contract import ACCEPTED_VALUES, SOURCE_TABLES, SourceTable
from healthwatch.errors import HealthwatchError
from healthwatch.warehouse import SOURCE_SYSTEMS, change_table, ensure_change_tables, quarantine_table

OPS = ("c", "u", "d", "r")
# Source times outside these bounds are not real: a future one would move the data clock.
EARLIEST_SOURCE_TS = "2000-01-01"
FUTURE_SLACK = "interval 1 day"


@dataclass(frozen=True)
class ScreenOutcome:
    """What the screen did with one change table's pending rows."""

    table: str
    rows_screened: int
    rows_quarantined: int
    by_expectation: dict[str, int]


class SchemaDriftError(HealthwatchError):
    """Every row of a source table breaks the contract the same way: the source changed shape."""


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class _Failure(NamedTuple):
    """One row-level expectation: when it fails (`condition`) and the failure it records (`sql`)."""

    condition: str
    sql: str


def _failure(expectation: str, column: str | None, value_sql: str, condition: str) -> _Failure:
    column_sql = _sql_str(column) if column else "null"
    return _Failure(
        condition,
        f"case when {condition} then {{'expectation': {_sql_str(expectation)}, 'column_name': {column_sql}, "
        f"'value': left(cast({value_sql} as varchar), 200)}} end",
    )


def _image_failures(table: SourceTable) -> list[_Failure]:
    """Row-level failures of one contract table's image (`after`, or `before` for a delete), over
    `vals` (its contract columns as text, in contract order): the JSON is parsed once per row,
    and again only where a value is null, to tell a missing column from a null one."""
    index = {column: i + 1 for i, column in enumerate(table.columns)}
    failures = [
        _failure("expect_column_values_to_not_be_null", table.key, "key",
                 f"vals[{index[table.key]}] is null and op <> 'd'"),
    ]  # fmt: skip
    for column, kind in table.columns.items():
        raw = f"vals[{index[column]}]"
        failures.append(
            _failure(
                "expect_column_to_exist",
                column,
                "null",
                f"op <> 'd' and {raw} is null and not json_exists(image, {_sql_str('$.' + column)})",
            )
        )
        if kind not in ("varchar", "json"):
            failures.append(
                _failure(f"expect_column_values_to_be_of_type:{kind}", column, raw,
                         f"{raw} is not null and try_cast({raw} as {kind}) is null")
            )  # fmt: skip
        if (table.name, column) in ACCEPTED_VALUES:
            allowed = ", ".join(_sql_str(v) for v in ACCEPTED_VALUES[(table.name, column)])
            failures.append(
                _failure(
                    "expect_column_values_to_be_in_set",
                    column,
                    raw,
                    f"{raw} is not null and {raw} not in ({allowed})",
                )
            )
        if (table.name, column) in RANGES:
            low, high = RANGES[(table.name, column)]
            typed = f"try_cast({raw} as double)"
            bounds = [
                f"{typed} < {low}" if low is not None else None,
                f"{typed} > {high}" if high is not None else None,
            ]
            condition = " or ".join(b for b in bounds if b)
            failures.append(_failure("expect_column_values_to_be_between", column, raw, f"({condition})"))
    return failures


def _any(failures: list[_Failure]) -> str:
    return " or ".join(f"({f.condition})" for f in failures) or "false"


def _screen_sql(system: str) -> str:
    """A select over the change rows of `system` in scope giving each failing row's list of
    failures. Rows are kept by the failures' conditions and only the kept rows build the list:
    a list of mostly null failures built for every row cost more than reading the JSON."""
    tables = [t for t in SOURCE_TABLES if t.system == system]
    known = ", ".join(_sql_str(t.name) for t in tables)
    envelope = [
        _failure("expect_column_values_to_be_in_set", "op", "op", f"op is null or op not in ({', '.join(map(_sql_str, OPS))})"),
        _failure("expect_column_values_to_be_in_set", "source_table", "source_table",
                 f"source_table is null or source_table not in ({known})"),
        _failure("expect_column_values_to_not_be_null", "key", "key", "key is null"),
        _failure("expect_column_values_to_not_be_null", "after", "after", "op in ('c', 'u', 'r') and after is null"),
        _failure("expect_column_values_to_be_between", "source_ts", "source_ts",
                 f"source_ts is null or source_ts < timestamp '{EARLIEST_SOURCE_TS}' "
                 f"or source_ts > cast(now() as timestamp) + {FUTURE_SLACK}"),
    ]  # fmt: skip
    images = {t.name: _image_failures(t) for t in tables}
    paths = " ".join(
        f"when {_sql_str(t.name)} then json_extract_string(image, [{', '.join(_sql_str('$.' + c) for c in t.columns)}])"
        for t in tables
    )
    per_table = " ".join(
        f"when source_table = {_sql_str(name)} then [{', '.join(f.sql for f in failures)}]"
        for name, failures in images.items()
    )
    # A plain and / or of the conditions, no case around them: DuckDB then runs each one only on
    # the rows the ones before left undecided, so the second JSON read sees null values alone.
    image_fails = " or ".join(
        f"(source_table = {_sql_str(name)} and ({_any(failures)}))" for name, failures in images.items()
    )
    return f"""
        with images as (
            select *, coalesce(after, before) as image from screened_rows
        ),
        parsed as (
            select *, case source_table {paths} end as vals from images
        )
        select * exclude (image, vals), list_filter(
            list_concat([{", ".join(f.sql for f in envelope)}], case {per_table} else [] end),
            lambda f: f is not null
        ) as failures
        from parsed
        where {_any(envelope)} or {image_fails or "false"}
    """


def _scope_view(con: duckdb.DuckDBPyConnection, table: str, ranges: list[tuple[int, int]]) -> None:
    where = " or ".join(f"seq between {lo} and {hi}" for lo, hi in ranges)
    con.execute(f"create or replace temp view screened_rows as select * from {table} where {where}")


def _check_drift(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Raise SchemaDriftError when a column fails in every row of a source table in the batch
    (`screen_failures`, the failing rows of `screened_rows`)."""
    drift = con.execute(
        """
        with failures as (
            select source_table, seq, ingested_at, unnest(failures) as f
            from screen_failures where op <> 'd'
        ),
        counted as (
            select source_table, f.expectation, f.column_name, count(distinct (seq, ingested_at)) as failing,
                   any_value(f.value) as example
            from failures where f.expectation like 'expect_column_to_exist'
                or f.expectation like 'expect_column_values_to_be_of_type%'
            group by all
        ),
        totals as (
            select source_table, count(*) as total from screened_rows where op <> 'd' group by all
        )
        select c.source_table, c.expectation, c.column_name, c.example, t.total
        from counted c join totals t using (source_table)
        where c.failing = t.total
        order by 1, 3
        """
    ).fetchall()
    if not drift:
        return
    source_table, expectation, column, example, total = drift[0]
    contract = next(t for t in SOURCE_TABLES if t.name == source_table)
    kind = contract.columns[column]
    if expectation == "expect_column_to_exist":
        present = con.execute(
            "select distinct unnest(json_keys(after)) from screened_rows where source_table = ? and op <> 'd'",
            [source_table],
        ).fetchall()
        extra = sorted({k for (k,) in present} - set(contract.columns))
        problem = f"has no column '{column}'" + (f" (it carries {', '.join(extra)} instead)" if extra else "")
    else:
        problem = f"column '{column}' is no longer {kind} (e.g. {example!r})"
    others = f"; {len(drift) - 1} more column(s) drifted" if len(drift) > 1 else ""
    raise SchemaDriftError(
        f"schema drift in {table}: every one of the {total} pending {source_table} rows {problem}{others}; "
        f"the source contract (healthwatch/contract.py) wants {source_table}.{column} {kind}. "
        "Nothing was built from these rows",
        "fix the source or its mapping to the contract, then rerun (the rows stay pending)",
    )


def screen_pending(con: duckdb.DuckDBPyConnection, at: datetime | None = None) -> list[ScreenOutcome]:
    """Screen the change rows no run has processed yet: refuse the whole batch on schema drift,
    quarantine the bad rows (once, however often a failed run is retried), let the rest through."""
    ensure_change_tables(con)
    outcomes = []
    for system in SOURCE_SYSTEMS:
        table = change_table(system)
        ranges = pending_ranges(con, table)
        if not ranges:
            outcomes.append(ScreenOutcome(table, 0, 0, {}))
            continue
        _scope_view(con, table, ranges)
        # The rows' JSON is parsed once: the failing rows' identities and failures are kept for
        # the drift check and the quarantine (parsing twice cost ~0.27 s per million product events).
        con.execute(
            f"""create or replace temp table screen_failures as
            select seq, ingested_at, source_table, op, failures
            from ({_screen_sql(system)})"""
        )
        _check_drift(con, table)
        target = quarantine_table(system)
        stamp = f"cast({_sql_str(str(at))} as timestamp)" if at else "cast(now() as timestamp)"
        con.execute(
            f"""
            insert into {target}
            select {stamp}, r.seq, r.ingested_at, r.source_table, r.op, r.key,
                   f.failures[1].expectation, f.failures[1].column_name, f.failures[1].value,
                   array_to_string(list_transform(f.failures, lambda x: x.expectation || coalesce(' on ' || x.column_name, '')
                       || coalesce(' (value ' || x.value || ')', '')), '; '),
                   r.before, r.after, r.source_ts, 'held', null
            from screen_failures f
            join screened_rows r on r.seq = f.seq and r.ingested_at is not distinct from f.ingested_at
            where not exists (select 1 from {target} q where q.seq = f.seq
                              and q.ingested_at is not distinct from f.ingested_at)
            """
        )
        (screened,) = con.execute("select count(*) from screened_rows").fetchall()[0]
        counts = con.execute(
            f"""select expectation, count(*) from {target} q
            where exists (select 1 from screened_rows s where s.seq = q.seq
                          and s.ingested_at is not distinct from q.ingested_at)
            group by 1 order by 1"""
        ).fetchall()
        by_expectation = {e: int(n) for e, n in counts}
        outcomes.append(ScreenOutcome(table, int(screened), sum(by_expectation.values()), by_expectation))
    con.execute("drop table if exists screen_failures")
    con.execute("drop view if exists screened_rows")
    return outcomes


@dataclass(frozen=True)
class HeldRow:
    """A quarantined change row, as `healthwatch quarantine list` shows it."""

    change_table: str
    seq: int
    source_table: str | None
    key: str | None
    expectation: str
    column_name: str | None
    value: str | None
    quarantined_at: datetime
    status: str


def held_rows(
    con: duckdb.DuckDBPyConnection, system: str | None = None, include_replayed: bool = False
) -> list[HeldRow]:
    """The quarantined change rows, oldest first."""
    ensure_change_tables(con)
    rows = []
    for name in [system] if system else SOURCE_SYSTEMS:
        status = "" if include_replayed else "where status = 'held'"
        for record in con.execute(
            f"""select seq, source_table, key, expectation, column_name, value, quarantined_at, status
            from {quarantine_table(name)} {status} order by quarantined_at, seq"""
        ).fetchall():
            rows.append(HeldRow(change_table(name), *record))
    return rows


def export_held(con: duckdb.DuckDBPyConnection, out: Path, system: str | None = None) -> int:
    """Write the held rows as JSON lines (one change row each, with why it was refused) to fix by hand."""
    ensure_change_tables(con)
    count = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as sink:
        for name in [system] if system else SOURCE_SYSTEMS:
            records = con.execute(
                f"""select seq, cast(ingested_at as varchar), source_table, op, key, before, after,
                    cast(source_ts as varchar), reason
                from {quarantine_table(name)} where status = 'held' order by seq"""
            ).fetchall()
            for seq, ingested_at, source_table, op, key, before, after, source_ts, reason in records:
                line = {"change_table": change_table(name), "seq": seq, "ingested_at": ingested_at,
                        "source_table": source_table, "op": op, "key": key,
                        "before": json.loads(before) if before else None,
                        "after": json.loads(after) if after else None,
                        "source_ts": source_ts, "reason": reason}  # fmt: skip
                sink.write(json.dumps(line) + "\n")
                count += 1
    return count


@dataclass(frozen=True)
class ReplayOutcome:
    readmitted: int
    refused: list[str]


def replay(
    con: duckdb.DuckDBPyConnection, fixed: Iterable[dict], at: datetime | None = None
) -> ReplayOutcome:
    """Re-admit corrected quarantined rows: each becomes a new change row (the next seq of its
    table, so the sensors see it and the next run screens it again) and its quarantine row is
    marked replayed. A row whose key has changed since it was refused is not replayed: the
    newer change would be overwritten by the older image."""
    ensure_change_tables(con)
    readmitted, refused = 0, []
    stamp = at or datetime.now()
    for row in fixed:
        table = row.get("change_table", "")
        system = table.removeprefix("cdc.").removesuffix("_changes")
        if system not in SOURCE_SYSTEMS:
            refused.append(f"seq {row.get('seq')}: unknown change_table {table!r}")
            continue
        target = quarantine_table(system)
        held = con.execute(
            f"select seq, key from {target} where seq = ? and status = 'held' "
            "and cast(ingested_at as varchar) is not distinct from ?",
            [row.get("seq"), row.get("ingested_at")],
        ).fetchall()
        if not held:
            refused.append(
                f"{table} seq {row.get('seq')}: not a held row (already replayed, or never quarantined)"
            )
            continue
        newer = con.execute(
            f"""select min(c.seq) from {table} c where c.key = ? and c.source_table = ? and c.seq > ?
            and not exists (select 1 from {target} q where q.seq = c.seq and q.ingested_at = c.ingested_at)""",
            [row.get("key"), row.get("source_table"), row.get("seq")],
        ).fetchall()[0][0]
        if newer is not None:
            refused.append(f"{table} seq {row['seq']}: key {row.get('key')} changed since (seq {newer})")
            continue
        con.execute("begin")
        (next_seq,) = con.execute(f"select coalesce(max(seq), 0) + 1 from {table}").fetchall()[0]
        con.execute(
            f"insert into {table} values (?, ?, ?, ?, ?, ?, cast(? as timestamp), ?)",
            [next_seq, row.get("source_table"), row.get("op"), row.get("key"),
             json.dumps(row["before"]) if row.get("before") is not None else None,
             json.dumps(row["after"]) if row.get("after") is not None else None,
             row.get("source_ts"), stamp],
        )  # fmt: skip
        con.execute(
            f"update {target} set status = 'replayed', replayed_seq = ? where seq = ? "
            "and cast(ingested_at as varchar) is not distinct from ?",
            [next_seq, row["seq"], row.get("ingested_at")],
        )
        con.execute("commit")
        readmitted += 1
    return ReplayOutcome(readmitted, refused)
