"""`export_extracts`: a warehouse's change tables written back out as files `load_path` reads.

`csv` / `parquet`: one file per contract table with its current state (latest change per key by
seq, deletes applied), except invoices, written with every version (one row per status event),
so payment-failure history survives. `debezium`: the whole change log as JSON lines, one file per
change table, in the Debezium envelope with source.table and source.sequence = seq.
Every file is written, empty ones too, so an export never leaves a stale file of an older one.
"""

from pathlib import Path
from typing import Literal

import duckdb

from healthwatch.errors import HealthwatchError
from healthwatch.loader.rules import TABLES, ident, lit
from healthwatch.loader.staging import quiet
from healthwatch.warehouse import SOURCE_SYSTEMS, change_table, require_tables

ExportFormat = Literal["csv", "parquet", "debezium"]
_VERSIONED = ("invoices",)


def export_extracts(con: duckdb.DuckDBPyConnection, folder: Path, *, fmt: ExportFormat) -> dict[str, int]:
    """Write the extracts into `folder` (created if needed); returns rows written per file name."""
    if fmt not in ("csv", "parquet", "debezium"):
        raise HealthwatchError(f"unknown export format {fmt!r}", "use csv, parquet or debezium")
    require_tables(
        con,
        *(change_table(s) for s in SOURCE_SYSTEMS),
        fix="run `healthwatch simulate` or `healthwatch load` first",
    )
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise HealthwatchError(f"cannot export to {folder}: it is a file", "give a folder")
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "debezium":
        targets = {f"{s}_changes.jsonl": _change_log(s) for s in SOURCE_SYSTEMS}
    else:
        targets = {f"{name}.{fmt}": _table_rows(name) for name in TABLES}
    with quiet(con):
        return {
            file: _copy(con, query, folder / file, "json" if fmt == "debezium" else fmt)
            for file, query in targets.items()
        }


def _copy(con: duckdb.DuckDBPyConnection, query: str, target: Path, fmt: str) -> int:
    options = {"csv": "format csv, header true", "parquet": "format parquet", "json": "format json"}[fmt]
    (count,) = con.execute(f"copy ({query}) to {lit(str(target))} ({options})").fetchone()
    return int(count)


def _columns(name: str) -> str:
    out = []
    for column, kind in TABLES[name].columns.items():
        path = lit(f"$.{column}")
        if kind == "json":
            out.append(f"json_extract(after, {path}) as {ident(column)}")
        else:
            out.append(f"cast(json_extract_string(after, {path}) as {kind}) as {ident(column)}")
    return ", ".join(out)


def _table_rows(name: str) -> str:
    """Current state of a contract table (every distinct version for invoices), in seq order."""
    table = TABLES[name]
    changes = f"select * from {change_table(table.system)} where source_table = {lit(name)}"
    current = f"""
        select key from ({changes})
        qualify row_number() over (partition by key order by seq desc) = 1
        and op <> 'd' and after is not null"""
    if name in _VERSIONED:
        rows = f"""
            select * from ({changes}) c
            where op <> 'd' and after is not null and key in ({current})
            qualify row_number() over (partition by key, cast(after as varchar) order by seq) = 1"""
    else:
        rows = f"""
            select * from ({changes})
            qualify row_number() over (partition by key order by seq desc) = 1"""
        rows = f"select * from ({rows}) where op <> 'd' and after is not null"
    return f"select {_columns(name)} from ({rows}) order by seq"


def _change_log(system: str) -> str:
    """Every change row of a change table as a Debezium envelope, in seq order."""
    return f"""
        select before, after, op,
               epoch_ms(source_ts) as ts_ms,
               epoch_us(source_ts) as ts_us,
               struct_pack(
                   connector := 'healthwatch',
                   name := {lit(system)},
                   "table" := source_table,
                   sequence := seq,
                   ts_ms := epoch_ms(source_ts),
                   ts_us := epoch_us(source_ts)
               ) as source
        from {change_table(system)}
        order by seq"""
