"""`load_path`: files in, change rows out, every row accounted for — all in one transaction."""

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from healthwatch.loader import changes, debezium, quarantine, tabular
from healthwatch.loader.files import SourceFile, discover
from healthwatch.loader.report import FileReport, LoadReport, TableReport
from healthwatch.loader.rules import TABLES, ident
from healthwatch.loader.staging import (
    KNOWN_ACCOUNTS,
    check_table,
    checked_table,
    create_raw_tables,
    drop_temp_tables,
    quiet,
)
from healthwatch.warehouse import ensure_change_tables

Progress = Callable[[str, int, int], None]


def utc_naive(moment: datetime | None) -> datetime:
    """`now` as a naive UTC timestamp (the warehouse's convention); the current time by default."""
    if moment is None:
        return datetime.now(UTC).replace(tzinfo=None)
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def load_path(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> LoadReport:
    """Load a folder (or one file) of contract-shaped CSV / Parquet extracts and Debezium JSON lines.

    Every row is checked against the source contract; good rows become change rows in
    `cdc.<system>_changes`, bad rows go to `quarantine.<table>` with a reason. An unknown file
    name or a file without a contract column stops the load before anything is written; any
    failure leaves the warehouse as it was (one transaction). `progress(step, done, total)` is
    called as files are read and tables checked.
    """
    started = time.monotonic()
    path = Path(path)
    report = LoadReport(path=path, ingested_at=utc_naive(now))
    files, notes = discover(path)
    report.notes.extend(notes)
    steps = len(files) + len(TABLES) + 2

    def tick(step: str, done: int) -> None:
        if progress is not None:
            progress(step, done, steps)

    with quiet(con):
        headers = {i: tabular.read_header(con, f) for i, f in enumerate(files) if f.format != "debezium"}
        for i, header in headers.items():
            if header.extra:
                report.notes.append(f"{files[i].name}: extra columns ignored: {', '.join(header.extra)}")
        con.begin()
        try:
            _load(con, files, headers, report, tick)
            drop_temp_tables(con)
            con.commit()
        except BaseException:
            con.rollback()
            raise
    report.seconds = time.monotonic() - started
    tick("done", steps)
    return report


def _load(
    con: duckdb.DuckDBPyConnection,
    files: list[SourceFile],
    headers: dict[int, tabular.Header],
    report: LoadReport,
    tick: Callable[[str, int], None],
) -> None:
    now = report.ingested_at
    ensure_change_tables(con)
    create_raw_tables(con)
    debezium.create_tables(con)
    for i, source in enumerate(files):
        tick(f"reading {source.name}", i)
        if source.format == "debezium":
            rows = debezium.read_lines(con, source, i)
        else:
            rows = tabular.stage(con, source, i, headers[i])
        extra = tuple(headers[i].extra) if i in headers else ()
        report.files.append(FileReport(source.path, source.format, source.table, rows, extra))
    debezium.parse(con, {i: f.table for i, f in enumerate(files) if f.format == "debezium"})
    report.notes.extend(debezium.route(con))
    done = len(files)
    for name in sorted(TABLES, key=lambda n: n != "accounts"):  # the others are checked against accounts
        tick(f"checking {name}", done)
        done += 1
        check_table(con, TABLES[name], account_check=name != "accounts")
        if name == "accounts":
            _known_accounts(con)
    tick("writing change rows", done)
    repeats = changes.build(con, changes.load_start(con, now), now)
    replayed = changes.drop_replayed(con)
    report.change_rows, write_notes = changes.write(con, now)
    report.notes.extend(write_notes)
    unrouted = debezium.unrouted_count(con)
    quarantine.write(con, now, with_unrouted=unrouted > 0)
    for name in TABLES:
        report.tables[name] = _table_report(con, name, repeats.get(name, 0) + replayed.get(name, 0))
    if unrouted:
        report.tables[debezium.UNROUTED] = _unrouted_report(con, unrouted)
    tick("committing", done + 1)


def _known_accounts(con: duckdb.DuckDBPyConnection) -> None:
    """Accounts a row may name: the clean accounts of this load and those already loaded."""
    con.execute(
        f"""create or replace temp table {KNOWN_ACCOUNTS} as
        select distinct account_id from (
            select {ident("account_id")} as account_id from {checked_table("accounts")}
            where len(_reasons) = 0 and _op is distinct from 'd'
            union all
            select key from (
                select key, op, after from cdc.crm_changes where source_table = 'accounts'
                qualify row_number() over (partition by key order by seq desc) = 1
            ) where op <> 'd' and after is not null
        )"""
    )


def _table_report(con: duckdb.DuckDBPyConnection, name: str, repeats: int) -> TableReport:
    chk = checked_table(name)
    read, bad = con.execute(
        f"select count(*), count(*) filter (where len(_reasons) > 0) from {chk}"
    ).fetchone()
    top = con.execute(
        f"""select rule, count(*) as n from (select unnest(_rules) as rule from {chk} where len(_rules) > 0)
        group by rule order by n desc, rule limit 3"""
    ).fetchall()
    return TableReport(
        table=name,
        rows_read=int(read),
        rows_loaded=int(read) - int(bad),
        rows_quarantined=int(bad),
        top_reasons=tuple((rule, int(n)) for rule, n in top),
        repeats=repeats,
    )


def _unrouted_report(con: duckdb.DuckDBPyConnection, count: int) -> TableReport:
    top = con.execute(
        f"""select problem_rule, count(*) as n from {debezium.EVENTS} where tbl is null
        group by all order by n desc, problem_rule limit 3"""
    ).fetchall()
    return TableReport(
        table=debezium.UNROUTED,
        rows_read=count,
        rows_loaded=0,
        rows_quarantined=count,
        top_reasons=tuple((rule, int(n)) for rule, n in top),
    )
