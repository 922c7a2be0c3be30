"""CSV and Parquet extracts: header check, then every row staged as text for the checks.

CSV is read with every column as text (`all_varchar`), so nothing is cast or lost before the
checks; lines DuckDB cannot split into the header's columns are kept as quarantined rows with
DuckDB's message. Parquet columns keep their values, written as text (time zones to UTC, nested
values as JSON).
"""

from dataclasses import dataclass

import duckdb

from healthwatch.errors import HealthwatchError
from healthwatch.loader.files import SourceFile
from healthwatch.loader.rules import TABLES, ident, lit
from healthwatch.loader.staging import PREFIX, raw_table


@dataclass(frozen=True)
class Header:
    mapping: dict[str, str]  # contract column -> column name in the file
    extra: list[str]
    types: dict[str, str]  # file column -> DuckDB type


def _reader(source: SourceFile, *, rejects: str | None = None) -> str:
    path = lit(str(source.path))
    if source.format == "parquet":
        return f"read_parquet({path}, file_row_number = true)"
    options = "header = true, all_varchar = true, allow_quoted_nulls = false"
    if rejects:
        options += (
            f", store_rejects = true, rejects_table = '{rejects}_errors', rejects_scan = '{rejects}_scans'"
        )
    return f"read_csv({path}, {options})"


def read_header(con: duckdb.DuckDBPyConnection, source: SourceFile) -> Header:
    """The file's columns against its table's contract; a missing column stops the load."""
    assert source.table is not None
    table = TABLES[source.table]
    try:
        described = con.execute(f"describe select * from {_reader(source)}").fetchall()
    except duckdb.Error as exc:
        raise HealthwatchError(
            f"cannot read {source.path}: {str(exc).splitlines()[0]}",
            f"check that it is a {source.format.upper()} file with a header row",
        ) from exc
    types = {name: kind for name, kind, *_ in described if name != "file_row_number"}
    by_lower = {name.strip().lower(): name for name in types}
    missing = [c for c in table.columns if c not in by_lower]
    if missing:
        raise HealthwatchError(
            f"{source.path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"of the {table.name} contract ({', '.join(table.columns)})",
            "add the column (values may be empty where the contract allows) or rename the file's column; "
            "nothing was loaded",
        )
    mapping = {c: by_lower[c] for c in table.columns}
    extra = [name for name in types if name.strip().lower() not in table.columns]
    return Header(mapping, extra, types)


def stage(con: duckdb.DuckDBPyConnection, source: SourceFile, file_idx: int, header: Header) -> int:
    """Append every row of the file to its table's raw table; returns the rows read."""
    assert source.table is not None
    table = TABLES[source.table]
    target = raw_table(table.name)
    columns = ", ".join(ident(c) for c in table.columns)
    values = ", ".join(_as_text(source, header, c) for c in table.columns)
    path = str(source.path)
    # Parquet: the row number; CSV: the header is line 1, so the first row is line 2.
    line = "file_row_number + 1" if source.format == "parquet" else "row_number() over () + 1"
    rejects = f"{PREFIX}rej_{file_idx}"
    con.execute(
        f"""insert into {target} (_kind, _file, _file_idx, _line, {columns})
        select 'file', ?, ?, {line}, {values}
        from {_reader(source, rejects=rejects if source.format == "csv" else None)}""",
        [path, file_idx],
    )
    if source.format == "csv":
        con.execute(
            f"""insert into {target} (_kind, _file, _file_idx, _line, _problem, _problem_rule, _raw)
            select 'file', ?, ?, line,
                   'the line could not be read as CSV: ' || string_agg(error_message, '; '),
                   'the line could not be read as CSV',
                   to_json(struct_pack(csv_line := any_value(csv_line)))::varchar
            from {rejects}_errors group by line""",
            [path, file_idx],
        )
        con.execute(f"drop table if exists {rejects}_errors")
        con.execute(f"drop table if exists {rejects}_scans")
    (count,) = con.execute(f"select count(*) from {target} where _file_idx = ?", [file_idx]).fetchone()
    return int(count)


def _as_text(source: SourceFile, header: Header, column: str) -> str:
    name = header.mapping[column]
    expr = ident(name)
    if source.format == "csv":
        return expr
    kind = header.types[name].upper()
    if kind.startswith("TIMESTAMP WITH TIME ZONE") or kind == "TIMESTAMPTZ":
        return f"cast(make_timestamp(epoch_us({expr})) as varchar)"
    if kind.startswith(("STRUCT", "MAP")) or kind.endswith("[]"):
        return f"cast(to_json({expr}) as varchar)"
    return f"cast({expr} as varchar)"
