"""`quarantine.<table>`: every row a load refused, with where it came from and why."""

from datetime import datetime

import duckdb

from healthwatch.loader.debezium import EVENTS, LINES, UNROUTED
from healthwatch.loader.rules import TABLES, ident, lit
from healthwatch.loader.staging import checked_table

SCHEMA = "quarantine"
COLUMNS = """
    quarantined_at timestamp not null,
    source_file varchar not null,
    line_number bigint,
    reason varchar not null,
    row_json varchar
"""
_INSERT = "(quarantined_at, source_file, line_number, reason, row_json)"


def table_name(table: str) -> str:
    return f"{SCHEMA}.{table}"


def ensure(con: duckdb.DuckDBPyConnection, table: str) -> None:
    con.execute(f"create schema if not exists {SCHEMA}")
    con.execute(f"create table if not exists {table_name(table)} ({COLUMNS})")


def write(con: duckdb.DuckDBPyConnection, at: datetime, *, with_unrouted: bool) -> None:
    """Copy the refused rows of every staged table (and unrouted Debezium lines) to quarantine."""
    stamp = f"timestamp {lit(str(at))}"
    for name, table in TABLES.items():
        ensure(con, name)
        values = ", ".join(f"{ident(c)} := c.{ident(c)}" for c in table.columns)
        con.execute(
            f"""insert into {table_name(name)} {_INSERT}
            select {stamp}, c._file, c._line, array_to_string(c._reasons, '; '),
                   coalesce(c._raw, d.raw, cast(to_json(struct_pack({values})) as varchar))
            from {checked_table(name)} c
            left join {LINES} d on c._kind = 'debezium' and d.fi = c._file_idx and d.line = c._line
            where len(c._reasons) > 0
            order by c._file_idx, c._line"""
        )
    if with_unrouted:
        ensure(con, UNROUTED)
        con.execute(
            f"""insert into {table_name(UNROUTED)} {_INSERT}
            select {stamp}, e.file, e.line, e.problem, l.raw
            from {EVENTS} e join {LINES} l using (fi, line)
            where e.tbl is null order by e.fi, e.line"""
        )
