"""Clean rows become change rows in `cdc.<system>_changes`, with seqs continuing each table.

File rows: facts get op 'c' at their own time; dimensions a snapshot 'r' at the start of the
data. Several rows of one key (an invoice failed, then paid) become successive versions in time
order — the first 'c' / 'r', then 'u' with the previous version as `before` — and a row repeating
the version before it is written once. Debezium rows keep their op, position and time.

Seqs: an event's source position is its seq; the others continue from the largest seq of the
table (or of the positions in this load): Debezium events without a position in line order,
then file rows by (time, parent-before-child, file, line).
"""

from datetime import datetime

import duckdb

from healthwatch.loader.rules import DIMENSIONS, FACT_TIME, RANK, TABLES, ident, json_text, lit
from healthwatch.loader.staging import PREFIX, checked_table
from healthwatch.warehouse import SOURCE_SYSTEMS, change_table

OUT = f"{PREFIX}out"


def _system(table: str) -> str:
    return TABLES[table].system


def load_start(con: duckdb.DuckDBPyConnection, now: datetime) -> datetime:
    """The earliest fact time of this load: dimension snapshots are dated there (now without facts)."""
    parts = []
    for table, column in FACT_TIME.items():
        chk = checked_table(table)
        parts.append(
            f"select min(case when _kind = 'file' then {ident('t_' + column)} else _ts end) as ts "
            f"from {chk} where len(_reasons) = 0 and _op is distinct from 'd'"
        )
    (start,) = con.execute(f"select min(ts) from ({' union all '.join(parts)})").fetchone()
    if start is None:
        dbz = " union all ".join(
            f"select min(_ts) as ts from {checked_table(t)} where len(_reasons) = 0 and _kind = 'debezium'"
            for t in TABLES
        )
        (start,) = con.execute(f"select min(ts) from ({dbz})").fetchone()
    return start if start is not None else now


def _after_json(table: str) -> str:
    fields = ", ".join(
        f"{ident(c)} := {json_text(kind, ident('t_' + c))}" for c, kind in TABLES[table].columns.items()
    )
    return f"to_json(struct_pack({fields}))"


def build(con: duckdb.DuckDBPyConnection, start: datetime, now: datetime) -> dict[str, int]:
    """Stage the change rows of every clean row in `_hwl_out`; returns repeats left out per table."""
    con.execute(
        f"""create or replace temp table {OUT} (
            system varchar, source_table varchar, kind varchar, op varchar, key varchar, before json,
            after json, source_ts timestamp, given_seq bigint, file_idx integer, line bigint, rank integer)"""
    )
    repeats: dict[str, int] = {}
    for name, table in TABLES.items():
        chk = checked_table(name)
        key = ident(table.key)
        first_op = "r" if name in DIMENSIONS else "c"
        # A fact's own time; a dimension's snapshot time (also for Debezium events without a time).
        ts = ident("t_" + FACT_TIME[name]) if name in FACT_TIME else f"timestamp {lit(str(start))}"
        head = f"{lit(table.system)}, {lit(name)}"
        con.execute(
            f"""insert into {OUT}
            with rows as (
                select {key} as key, {_after_json(name)} as after, {ts} as ts, _file_idx, _line
                from {chk} where len(_reasons) = 0 and _kind = 'file'
            ),
            versions as (
                select *, lag(after) over (partition by key order by ts, _file_idx, _line) as prev
                from rows
            )
            select {head}, 'file', case when prev is null then '{first_op}' else 'u' end, key, prev, after,
                   ts, null, _file_idx, _line, {RANK[name]}
            from versions
            where prev is null or cast(prev as varchar) <> cast(after as varchar)"""
        )
        (file_rows,) = con.execute(
            f"select count(*) from {chk} where len(_reasons) = 0 and _kind = 'file'"
        ).fetchone()
        (written,) = con.execute(
            f"select count(*) from {OUT} where source_table = ? and kind = 'file'", [name]
        ).fetchone()
        repeats[name] = int(file_rows) - int(written)
        con.execute(
            f"""insert into {OUT}
            select {head}, 'debezium', _op, {key}, _before,
                   case when _op <> 'd' then {_after_json(name)} end,
                   coalesce(_ts, case when _op <> 'd' then {ts} end), _seq, _file_idx, _line, {RANK[name]}
            from {chk} where len(_reasons) = 0 and _kind = 'debezium'"""
        )
    # A delete without a time: the latest time of its key in this load, else of the load, else now.
    con.execute(
        f"""update {OUT} o set source_ts = coalesce(
                (select max(p.source_ts) from {OUT} p where p.source_table = o.source_table and p.key = o.key),
                (select max(source_ts) from {OUT}),
                timestamp {lit(str(now))})
        where o.source_ts is null"""
    )
    return repeats


def drop_replayed(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Leave out Debezium events already in the warehouse or repeated in this load (same table,
    key and position): at-least-once delivery. Returns how many per table."""
    before = dict(
        con.execute(
            f"select source_table, count(*) from {OUT} where kind = 'debezium' group by all"
        ).fetchall()
    )
    con.execute(
        f"""delete from {OUT} where rowid in (
            select rowid from (
                select rowid, row_number() over (
                    partition by source_table, key, given_seq order by file_idx, line) as n
                from {OUT} where kind = 'debezium' and given_seq is not null)
            where n > 1)"""
    )
    for system in SOURCE_SYSTEMS:
        con.execute(
            f"""delete from {OUT} o where o.kind = 'debezium' and o.given_seq is not null and o.system = ?
            and exists (select 1 from {change_table(system)} c
                        where c.seq = o.given_seq and c.source_table = o.source_table and c.key = o.key)""",
            [system],
        )
    after = dict(
        con.execute(
            f"select source_table, count(*) from {OUT} where kind = 'debezium' group by all"
        ).fetchall()
    )
    return {t: int(n) - int(after.get(t, 0)) for t, n in before.items() if int(n) - int(after.get(t, 0))}


def write(con: duckdb.DuckDBPyConnection, ingested_at: datetime) -> tuple[dict[str, int], list[str]]:
    """Insert the staged change rows; returns rows written per change table and notes."""
    written: dict[str, int] = {}
    notes: list[str] = []
    for system in SOURCE_SYSTEMS:
        target = change_table(system)
        (previous, given_max, given_low) = con.execute(
            f"""select (select coalesce(max(seq), 0) from {target}),
                       (select max(given_seq) from {OUT} where system = ?),
                       (select count(*) from {OUT} where system = ? and given_seq <= (
                            select coalesce(max(seq), 0) from {target}))""",
            [system, system],
        ).fetchone()
        base = max(int(previous), int(given_max or 0))
        con.execute(
            f"""insert into {target} (seq, source_table, op, key, before, after, source_ts, ingested_at)
            select coalesce(given_seq, {base} + row_number() over (
                       partition by given_seq is null
                       order by kind = 'file',
                                case when kind = 'file' then source_ts end,
                                case when kind = 'file' then rank end,
                                file_idx, line)) as seq,
                   source_table, op, key, before, after, source_ts, timestamp {lit(str(ingested_at))}
            from {OUT} where system = ?
            order by seq""",
            [system],
        )
        (count,) = con.execute(f"select count(*) from {OUT} where system = ?", [system]).fetchone()
        written[target] = int(count)
        if given_low and previous:
            notes.append(
                f"{target}: {given_low} Debezium events have a position at or below the table's previous "
                f"largest seq ({previous}); sensors that follow seq will not see them — run "
                "`healthwatch run --full-refresh`"
            )
    return written, notes
