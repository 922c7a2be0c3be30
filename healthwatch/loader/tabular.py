"""CSV and Parquet extracts: header check, then every row staged as text for the checks.

CSV is read with every column as text (`all_varchar`), so nothing is cast or lost before the
checks; lines DuckDB cannot split into the header's columns are kept as quarantined rows with
DuckDB's message. Parquet columns keep their values, written as text (time zones to UTC, nested
values as JSON).
"""

import csv
from dataclasses import dataclass
from pathlib import Path

import duckdb

from healthwatch.errors import HealthwatchError
from healthwatch.loader.files import SourceFile, open_source
from healthwatch.loader.rules import TABLES, ident, lit
from healthwatch.loader.staging import PREFIX, raw_table, rejects_options, take_rejects

_DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class Header:
    mapping: dict[str, str]  # contract column -> column name in the file
    extra: list[str]
    types: dict[str, str]  # file column -> DuckDB type
    delimiter: str = ","


def _reader(source: SourceFile, header: Header | None = None, *, rejects: str | None = None) -> str:
    path = lit(str(source.path))
    if source.format == "parquet":
        return f"read_parquet({path}, file_row_number = true)"
    assert header is not None
    # The header is read here, not sniffed: every column is text, the delimiter is the header's,
    # quotes are RFC 4180; a line of another shape is rejected (and quarantined), never guessed.
    columns = "{" + ", ".join(f"{lit(name)}: 'VARCHAR'" for name in header.types) + "}"
    options = (
        f"header = true, auto_detect = false, columns = {columns}, delim = {lit(header.delimiter)}, "
        "quote = '\"', escape = '\"', allow_quoted_nulls = false"
    )
    if rejects:
        options += f", {rejects_options(rejects)}"
    return f"read_csv({path}, {options})"


def _csv_columns(path: Path) -> tuple[list[str], str]:
    """The header row's names (made unique) and the delimiter it uses."""
    try:
        with open_source(path, "rt", encoding="utf-8-sig", newline="") as handle:
            first = handle.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise HealthwatchError(
            f"cannot read {path}: {exc}", "save it as UTF-8 CSV with a header row"
        ) from exc
    if not first.strip():
        raise HealthwatchError(
            f"cannot load {path}: it has no header row", "write the column names on the first line"
        )
    delimiter = max(_DELIMITERS, key=first.count)
    names: list[str] = []
    for i, raw in enumerate(next(csv.reader([first], delimiter=delimiter))):
        name = raw.strip() or f"column{i + 1}"
        while name.lower() in {n.lower() for n in names}:
            name += "_2"
        names.append(name)
    return names, delimiter


def read_header(con: duckdb.DuckDBPyConnection, source: SourceFile) -> Header:
    """The file's columns against its table's contract; a missing column stops the load."""
    assert source.table is not None
    table = TABLES[source.table]
    if source.format == "csv":
        names, delimiter = _csv_columns(source.path)
        types = dict.fromkeys(names, "VARCHAR")
    else:
        delimiter = ","
        try:
            described = con.execute(f"describe select * from {_reader(source)}").fetchall()
        except duckdb.Error as exc:
            raise HealthwatchError(
                f"cannot read {source.path}: {str(exc).splitlines()[0]}",
                "check that it is a Parquet file",
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
    return Header(mapping, extra, types, delimiter)


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
        from {_reader(source, header, rejects=rejects if source.format == "csv" else None)}""",
        [path, file_idx],
    )
    if source.format == "csv":
        lines = take_rejects(con, rejects, target, file_idx)
        con.execute(
            f"""insert into {target} (_kind, _file, _file_idx, _line, _problem, _problem_rule, _raw)
            select 'file', ?, ?, line, 'the line could not be read as CSV: ' || message,
                   'the line could not be read as CSV', to_json(struct_pack(csv_line := csv_line))::varchar
            from {lines}""",
            [path, file_idx],
        )
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
