"""Temporary tables of one load: raw rows per contract table, then the same rows checked.

`_hwl_raw_<table>` holds every row read for a table, from any file, as text (contract columns)
plus where it came from; Debezium rows also carry their op, position, time and `before`.
`_hwl_chk_<table>` adds the typed values and the list of reasons (empty = clean).
"""

import duckdb

from healthwatch.contract import SourceTable
from healthwatch.loader.rules import TABLES, Check, column_checks, ident, key_check, lit, typed

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
META_NAMES = (
    "_kind",
    "_file",
    "_file_idx",
    "_line",
    "_op",
    "_seq",
    "_ts",
    "_before",
    "_problem",
    "_problem_rule",
    "_raw",
)


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
        f"{typed(kind, _present_sql(table, column))} as {ident('t_' + column)}"
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
        with r as (
            select *, {typed_columns}
            from {raw_table(table.name)}
        )
        select r.*, {listed("reason")} as _reasons, {listed("rule")} as _rules
        from r {join}"""
    )


def _present_sql(table: SourceTable, column: str) -> str:
    raw = ident(column)
    return raw if table.columns[column] == "varchar" else f"nullif(trim({raw}), '')"


def drop_temp_tables(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "select table_name from duckdb_tables() where temporary and starts_with(table_name, ?)", [PREFIX]
    ).fetchall()
    for (name,) in rows:
        con.execute(f"drop table if exists temp.{ident(name)}")
