"""Debezium change events from JSON lines, parsed in SQL and routed to the contract tables.

A line is one event: the bare envelope `{"before", "after", "op", "ts_ms", "source": {...}}`,
the same wrapped as `{"schema": ..., "payload": {...}}` (Kafka Connect JSON with schemas), or a
Kafka record dump (`{"topic", "offset", "key", "payload" | "value"}`, the value possibly a JSON
string). A record whose value is null but has a key is a tombstone: a delete of that key.

Position (→ seq): source.sequence, source.lsn (PostgreSQL), the last entry of a PostgreSQL
sequence array, binlog file number and source.pos (MySQL), source.scn (Oracle), else the Kafka
offset; without any, the event gets the next seq in line order. Time (→ source_ts):
source.ts_us / ts_ns / ts_ms (when the change was committed), else the envelope's ts_us / ts_ns /
ts_ms, else the Kafka record time.
"""

import codecs
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from healthwatch.errors import HealthwatchError
from healthwatch.loader.files import SourceFile, open_source
from healthwatch.loader.rules import DEBEZIUM_OPS, TABLE_NAMES, TABLES, ident, lit
from healthwatch.loader.staging import PREFIX, raw_table

LINES = f"{PREFIX}dbz_lines"
EVENTS = f"{PREFIX}dbz"
UNROUTED = "debezium_events"  # quarantine table of lines that name no contract table or do not parse

_RECORD_FIELDS = {
    "op": "VARCHAR",
    "before": "JSON",
    "after": "JSON",
    "source": "JSON",
    "ts_ms": "VARCHAR",
    "ts_us": "VARCHAR",
    "ts_ns": "VARCHAR",
    "payload": "JSON",
    "value": "JSON",
    "key": "JSON",
    "topic": "VARCHAR",
    "offset": "VARCHAR",
    "ts": "VARCHAR",
    "timestamp": "VARCHAR",
}
_SOURCE_FIELDS = {
    name: "VARCHAR" for name in ("table", "sequence", "lsn", "pos", "file", "scn", "ts_ms", "ts_us", "ts_ns")
}
_MAX_LINE = 16 * 1024 * 1024
_CHUNK = 16 * 1024 * 1024  # bytes read at a time; lines are cut at the chunk's last LF


def _spec(fields: dict[str, str]) -> str:
    return lit("{" + ", ".join(f'"{k}": "{v}"' for k, v in fields.items()) + "}")


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"create or replace temp table {LINES} (file varchar, fi integer, line bigint, raw varchar, problem varchar)"
    )


def read_lines(con: duckdb.DuckDBPyConnection, source: SourceFile, file_idx: int) -> int:
    """Append the file's lines (blank ones are counted for numbering, then left out)."""
    path = str(source.path)
    try:
        for batch in _line_batches(source.path):  # noqa: B007 (the insert reads it by name: a replacement scan)
            con.execute(f"insert into {LINES} select ?, ?, line, raw, problem from batch", [path, file_idx])
    except (OSError, EOFError) as exc:  # unreadable, or a broken / truncated gzip file
        raise HealthwatchError(
            f"cannot read {path}: {exc}",
            "check the file (gzip files must be complete), or move it out of the folder",
        ) from exc
    (count,) = con.execute(
        f"select count(*) from {LINES} where fi = ? and raw is not null and (strlen(raw) > 8 or trim(raw) <> '')",
        [file_idx],
    ).fetchone()
    return int(count)


def _line_batches(path: Path) -> Iterator[pa.Table]:
    """The file's lines as Arrow batches (line, raw, problem), split on LF only.

    A CR inside a line is data (JSON escapes its own), so lines are not split on it; one CR
    before the LF (CRLF files) is dropped. A line that is not UTF-8 or is longer than 16 MiB
    is kept as a problem at its own line number.
    """
    number = 0
    rest = b""
    with open_source(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            data = rest + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            rest = data[cut + 1 :]
            batch = _batch(data[:cut], number)
            number += batch.num_rows
            yield batch
    if rest:
        yield _batch(rest, number)


def _batch(data: bytes, before: int) -> pa.Table:
    if before == 0 and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    raw = pc.list_flatten(pc.split_pattern(pa.array([data], pa.binary()), "\n"))
    try:
        lines = raw.cast(pa.string())  # checks UTF-8
        problems = pa.nulls(len(lines), pa.string())
    except pa.ArrowInvalid:  # find the lines that are not UTF-8 (rare: decode one by one)
        texts, notes = [], []
        for line in raw.to_pylist():
            try:
                texts.append(line.decode("utf-8"))
                notes.append(None)
            except UnicodeDecodeError as exc:
                texts.append(line.decode("utf-8", "replace"))
                notes.append(f"the line could not be read: not UTF-8 text (byte {exc.start + 1})")
        lines, problems = pa.array(texts, pa.string()), pa.array(notes, pa.string())
    lines = pc.replace_substring_regex(lines, "\r$", "", max_replacements=1)  # CRLF line ends
    lines = pc.if_else(pc.equal(lines, ""), pa.scalar(None, pa.string()), lines)
    long = pc.fill_null(pc.greater(pc.binary_length(lines), _MAX_LINE), False)
    if pc.any(long).as_py():
        lines = pc.if_else(long, pc.utf8_slice_codeunits(lines, 0, 1024), lines)
        problems = pc.if_else(long, f"the line could not be read: longer than {_MAX_LINE:,} bytes", problems)
    return pa.table({"line": pa.array(range(before + 1, before + len(lines) + 1), pa.int64()), "raw": lines,
                     "problem": problems})  # fmt: skip


def parse(con: duckdb.DuckDBPyConnection, file_tables: dict[int, str | None]) -> None:
    """Parse every staged line into `_hwl_dbz`: table, op, position, time, images, problems."""
    record = _spec(_RECORD_FIELDS)
    source = _spec(_SOURCE_FIELDS)

    def is_env(level: str) -> str:
        return f"({level}.op is not null or {level}.after is not null or {level}.before is not null)"

    def unquote(expr: str) -> str:
        # A JSON string holding JSON (a Kafka value dumped as text) becomes that JSON.
        return (
            f"case when json_type({expr}) = 'VARCHAR' then "
            f"case when json_valid({expr} ->> '$') then json({expr} ->> '$') end else {expr} end"
        )

    def inner(level: str) -> str:
        value = unquote(f"coalesce({level}.payload, {level}.value)")
        return (
            f"case when {level} is not null and not {is_env(level)} and json_type({value}) = 'OBJECT' "
            f"then json_transform({value}, {record}) end"
        )

    file_table = " ".join(f"when {fi} then {lit(t)}" for fi, t in file_tables.items() if t)
    file_table_sql = f"case fi {file_table} end" if file_table else "null"
    key_tables = " ".join(
        f"when json_exists(key_obj, {lit('$.' + t.key)}) then {lit(t.name)}" for t in TABLES.values()
    )
    key_of_table = " ".join(
        f"when {lit(t.name)} then json_extract_string(key_obj, {lit('$.' + t.key)})" for t in TABLES.values()
    )
    contract = ", ".join(lit(t) for t in TABLE_NAMES)
    ops = ", ".join(lit(o) for o in DEBEZIUM_OPS)

    con.execute(
        f"""create or replace temp table {EVENTS} as
        with l as (
            select file, fi, line, raw, problem as read_problem,
                   try(json_transform(raw, {record})) as l1
            from {LINES}
            where raw is not null and (strlen(raw) > 8 or trim(raw) <> '')
        ),
        l2 as (select *, {inner("l1")} as l2 from l),
        l3 as (select *, {inner("l2")} as l3 from l2),
        e as (
            select *,
                   case when {is_env("l1")} then l1 when {is_env("l2")} then l2 when {is_env("l3")} then l3 end as env,
                   coalesce(l1.key, l2.key) as rec_key,
                   -- a tombstone: a record with a key whose value is null (or absent)
                   coalesce(l1.key, l2.key) is not null and coalesce(l1.payload, l1.value) is null
                       and not {is_env("l1")} as tombstone,
                   coalesce(l1.topic, l2.topic) as topic,
                   coalesce(l1."offset", l2."offset") as rec_offset,
                   coalesce(l1.ts, l1."timestamp", l2.ts, l2."timestamp") as rec_ts
            from l3
        ),
        s as (
            select *,
                   case when json_type(env.source) = 'OBJECT' then json_transform(env.source, {source}) end as src,
                   {unquote("rec_key")} as key_json0
            from e
        ),
        k as (
            select *,
                   case when json_type(key_json0) = 'OBJECT' and json_exists(key_json0, '$.payload')
                        then {unquote("key_json0 -> '$.payload'")} else key_json0 end as key_json
            from s
        ),
        t as (
            select *,
                   case when json_type(key_json) = 'OBJECT' then key_json end as key_obj,
                   case when json_type(key_json) in ('VARCHAR', 'BIGINT', 'UBIGINT', 'DOUBLE')
                        then key_json ->> '$' end as key_scalar
            from k
        ),
        r as (
            select *,
                   lower(coalesce(
                       nullif(split_part(src."table", '.', -1), ''),
                       nullif(split_part(topic, '.', -1), ''),
                       case when tombstone then case {key_tables} end end,
                       {file_table_sql}
                   )) as tbl,
                   case when tombstone then 'd' else env.op end as op,
                   coalesce(
                       try_cast(src.sequence as bigint),
                       try_cast(src.lsn as bigint),
                       case when json_valid(src.sequence) and json_type(src.sequence) = 'ARRAY'
                            then try_cast(json_extract_string(src.sequence, '$[#-1]') as bigint) end,
                       case when regexp_matches(src.file, '\\.(\\d+)$') and try_cast(src.pos as bigint) is not null
                            then try_cast(regexp_extract(src.file, '\\.(\\d+)$', 1) as bigint) * 1000000000000
                                 + try_cast(src.pos as bigint) end,
                       try_cast(src.pos as bigint),
                       try_cast(src.scn as bigint),
                       try_cast(rec_offset as bigint)
                   ) as seq,
                   try(make_timestamp(coalesce(
                       try_cast(src.ts_us as bigint),
                       try_cast(src.ts_ns as bigint) // 1000,
                       try_cast(src.ts_ms as bigint) * 1000,
                       try_cast(env.ts_us as bigint),
                       try_cast(env.ts_ns as bigint) // 1000,
                       try_cast(env.ts_ms as bigint) * 1000,
                       try_cast(rec_ts as bigint) * 1000
                   ))) as ts,
                   case when json_type(env.before) = 'OBJECT' then env.before end as before_obj,
                   case when json_type(env.after) = 'OBJECT' then env.after end as after_obj
            from t
        ),
        p as (
            select *,
                   case
                       when read_problem is not null then read_problem
                       when l1 is null or (env is null and not tombstone and json_type(case when l1 is not null then raw end) <> 'OBJECT')
                           then case when json_valid(raw) then 'the line is not a JSON object'
                                     else 'the line is not valid JSON' end
                       when env is null and not tombstone
                           then 'no change event on the line (no op, before or after, and no key for a tombstone)'
                       when tbl is null
                           then 'no table: source.table, the topic or the file name must name a contract table'
                       when tbl not in ({contract}) then 'table ' || {lit("'")} || tbl || {lit("'")}
                           || ' is not a contract table ({", ".join(TABLE_NAMES)})'
                       when op is null or op not in ({ops}) then 'op ' || coalesce('''' || op || '''', 'null')
                           || ' is not one of c, u, d, r'
                       when op in ('c', 'u', 'r') and env.after is null then 'after is missing for op ''' || op || ''''
                       when op in ('c', 'u', 'r') and after_obj is null then 'after is not a JSON object'
                   end as problem,
                   case
                       when read_problem is not null then 'the line could not be read'
                       when l1 is null or (env is null and not tombstone and json_type(case when l1 is not null then raw end) <> 'OBJECT')
                           then case when json_valid(raw) then 'the line is not a JSON object'
                                     else 'the line is not valid JSON' end
                       when env is null and not tombstone then 'no change event on the line'
                       when tbl is null then 'no table'
                       when tbl not in ({contract}) then 'not a contract table'
                       when op is null or op not in ({ops}) then 'op is not one of c, u, d, r'
                       when op in ('c', 'u', 'r') and env.after is null then 'after is missing'
                       when op in ('c', 'u', 'r') and after_obj is null then 'after is not a JSON object'
                   end as problem_rule
            from r
        )
        select file, fi, line,
               case when tbl in ({contract}) then tbl end as tbl,
               op, seq, ts, before_obj as before,
               case when op = 'd' then before_obj when op in ('c', 'u', 'r') then after_obj end as image,
               coalesce(case tbl {key_of_table} end,
                   case when len(json_keys(key_obj)) = 1
                        then json_extract_string(key_obj, '$.' || json_keys(key_obj)[1]) end,
                   key_scalar) as tomb_key,
               problem, problem_rule
        from p"""
    )


def route(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Stage the events of each contract table into its raw table; return notes.

    A c/u/r image without a contract column is schema drift: the load stops, naming the file,
    the line and the column. Extra columns are left out, with a note.
    """
    notes: list[str] = []
    for table in TABLES.values():
        columns = list(table.columns)
        listed = "[" + ", ".join(lit(c) for c in columns) + "]"
        drift = con.execute(
            f"""select file, line, list_filter({listed}, lambda x: not list_contains(keys, x))
            from (select file, fi, line, json_keys(image) as keys from {EVENTS}
                  where tbl = ? and problem is null and op in ('c', 'u', 'r'))
            where len(list_filter({listed}, lambda x: not list_contains(keys, x))) > 0
            order by fi, line limit 1""",
            [table.name],
        ).fetchone()
        if drift:
            file, line, missing = drift
            raise HealthwatchError(
                f"{file} line {line}: the {table.name} change has no column {', '.join(missing)} "
                f"(the {table.name} contract: {', '.join(columns)})",
                "add the column to the source table (or map it in the connector), then load again; "
                "nothing was loaded",
            )
        extras = con.execute(
            f"""select list(distinct x order by x) from (
                select unnest(list_filter(json_keys(image), lambda x: not list_contains({listed}, x))) as x
                from {EVENTS} where tbl = ? and problem is null and op in ('c', 'u', 'r'))""",
            [table.name],
        ).fetchone()[0]
        if extras:
            notes.append(f"Debezium {table.name}: extra columns ignored: {', '.join(extras)}")
        spec = _spec(dict.fromkeys(columns, "VARCHAR"))
        values = ", ".join(
            f"coalesce(c.{ident(col)}, tomb_key)" if col == table.key else f"c.{ident(col)}"
            for col in columns
        )
        con.execute(
            f"""insert into {raw_table(table.name)}
            select 'debezium', file, fi, line, op, seq, ts, before, problem, problem_rule, null, {values}
            from (select *, case when image is not null then json_transform(image, {spec}) end as c
                  from {EVENTS} where tbl = ?)""",
            [table.name],
        )
    return notes


def unrouted_count(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute(f"select count(*) from {EVENTS} where tbl is null").fetchone()[0])
