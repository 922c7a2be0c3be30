"""Temporary tables of one load: raw rows per contract table, then the same rows checked.

`_hwl_raw_<table>` holds every row read for a table, from any file, as text (contract columns)
plus where it came from; Debezium rows also carry their op, position, time and `before`.
`_hwl_chk_<table>` adds the typed values and the list of reasons (empty = clean).
"""

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from healthwatch.contract import SourceTable
from healthwatch.loader.rules import (
    TABLES,
    Check,
    column_checks,
    ident,
    json_members,
    key_check,
    lit,
    present,
    typed,
)

PREFIX = "_hwl_"
KNOWN_ACCOUNTS = f"{PREFIX}known_accounts"

# Row origin: 'file' (CSV / Parquet) or 'debezium'; _problem is an envelope problem found
# while reading (an unparseable CSV line, a bad op...), a reason on its own.
META_COLUMNS = """
    _kind varchar not null,
    _file varchar not null,
    _file_idx integer not null,
    _line bigint not null,
    _op varchar,
    _seq bigint,
    _ts timestamp,
    _before json,
    _problem varchar,
    _problem_rule varchar,
    _raw varchar
"""


def raw_table(name: str) -> str:
    return f"{PREFIX}raw_{name}"


def checked_table(name: str) -> str:
    return f"{PREFIX}chk_{name}"


def create_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table in TABLES.values():
        columns = ",\n".join(f"{ident(c)} varchar" for c in table.columns)
        con.execute(f"create or replace temp table {raw_table(table.name)} ({META_COLUMNS}, {columns})")


def check_table(con: duckdb.DuckDBPyConnection, table: SourceTable, *, account_check: bool) -> None:
    """Validate every staged row of `table` in one query into `_hwl_chk_<table>`.

    Deletes (op 'd', tombstones) need only their key; rows with an envelope problem are
    quarantined for it alone.
    """
    typed_columns = ",\n".join(
        f"{typed(kind, present(table, column, alias=None))} as {ident('t_' + column)}"
        for column, kind in table.columns.items()
    )
    body_checks = column_checks(table, account_check=account_check)
    keyed = key_check(table)

    def listed(field: str) -> str:
        def text(check: Check) -> str:
            return check.reason if field == "reason" else lit(check.rule)

        problem = "r._problem" if field == "reason" else "r._problem_rule"
        items = [
            problem,
            f"case when r._problem is null and ({keyed.failed}) then {text(keyed)} end",
            *(
                f"case when r._problem is null and r._op is distinct from 'd' and ({c.failed}) then {text(c)} end"
                for c in body_checks
            ),
        ]
        return f"list_filter([{', '.join(items)}], lambda x: x is not null)"

    join = ""
    if account_check and "account_id" in table.columns and table.name != "accounts":
        join = f"left join {KNOWN_ACCOUNTS} k on k.account_id = r.{ident('account_id')}"
    con.execute(
        f"""create or replace temp table {checked_table(table.name)} as
        with t as (
            select *, {typed_columns}
            from {raw_table(table.name)}
        ),
        r as (select {", ".join(["*", *json_members(table)])} from t)
        select r.*, {listed("reason")} as _reasons, {listed("rule")} as _rules
        from r {join}"""
    )


def rejects_options(name: str) -> str:
    """read_csv options keeping the lines DuckDB cannot read in `<name>_errors` instead of failing."""
    return f"store_rejects = true, rejects_table = '{name}_errors', rejects_scan = '{name}_scans'"


def take_rejects(
    con: duckdb.DuckDBPyConnection,
    name: str,
    target: str,
    file_idx: int,
    *,
    line: str = "_line",
    file: str = "_file_idx",
) -> str:
    """Number the file's rows as records of the file, rejected ones included, and leave the
    rejected records (line, csv_line, message) in the temp table returned."""
    rejects = f"{name}_lines"
    con.execute(
        f"""create or replace temp table {rejects} as
        select line, any_value(csv_line) as csv_line, string_agg(distinct error_message, '; ') as message
        from {name}_errors group by line"""
    )
    con.execute(f"drop table if exists {name}_errors")
    con.execute(f"drop table if exists {name}_scans")
    # Rows were numbered as if no record was rejected: the b-th readable record moves down by the
    # rejected records before it, i.e. those r_i (i-th in order) with r_i - i < b.
    con.execute(
        f"""update {target} t set {line} = t.{line} + (
            select count(*) from (select line - row_number() over (order by line) as g from {rejects})
            where g < t.{line})
        where t.{file} = ?""",
        [file_idx],
    )
    return rejects


def drop_temp_tables(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "select table_name from duckdb_tables() where temporary and starts_with(table_name, ?)", [PREFIX]
    ).fetchall()
    for (name,) in rows:
        con.execute(f"drop table if exists temp.{ident(name)}")


@contextmanager
def quiet(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """No DuckDB progress bar on stdout while we run (callers show their own); restored after."""
    (before,) = con.execute("select current_setting('enable_progress_bar')").fetchone()
    con.execute("set enable_progress_bar = false")
    try:
        yield
    finally:
        con.execute(f"set enable_progress_bar = {'true' if before else 'false'}")
