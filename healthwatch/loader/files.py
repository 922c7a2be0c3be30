"""Which files a load reads: contract-named CSV / Parquet extracts and Debezium JSON lines.

`accounts.csv`, `events.parquet`, `events.2025-09.parquet` (a part), `accounts.csv.gz` name
their table; `*.jsonl`, `*.ndjson` and `*.json` hold Debezium change events of any table.
Anything else stops the load before it reads a row, naming the file and the fix.
"""

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from healthwatch.errors import HealthwatchError
from healthwatch.loader.rules import TABLE_NAMES

Format = Literal["csv", "parquet", "debezium"]
_CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_JSON_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz")


@dataclass(frozen=True)
class SourceFile:
    path: Path
    format: Format
    table: (
        str | None
    )  # the contract table a CSV / Parquet file holds (a JSON lines file: from its name, if any)

    @property
    def name(self) -> str:
        return self.path.name


def open_source(path: Path, mode: str, **options: Any) -> IO[Any]:
    """Open an extract, decompressing it when its name ends in .gz."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    return opener(path, mode, **options)


def discover(path: Path) -> tuple[list[SourceFile], list[str]]:
    """The files to load under `path` (a folder, not recursive, or one file), in name order.

    Returns the files and notes about what was passed over (sub-folders, hidden files).
    """
    if not path.exists():
        raise HealthwatchError(
            f"nothing to load: {path} does not exist",
            "give a folder of extracts (accounts.csv, events.parquet, ... or Debezium *.jsonl) or one such file",
        )
    notes: list[str] = []
    if path.is_dir():
        candidates = []
        for entry in sorted(path.iterdir(), key=lambda p: p.name):
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                notes.append(f"sub-folder {entry.name}/ not read (loads are not recursive)")
                continue
            candidates.append(entry)
    else:
        candidates = [path]
    files = [_classify(entry) for entry in candidates]
    if not files:
        raise HealthwatchError(
            f"nothing to load: {path} holds no extracts",
            f"add files named after contract tables ({', '.join(TABLE_NAMES)}) as .csv or .parquet, "
            "or Debezium change events as .jsonl",
        )
    return files, notes


def _classify(path: Path) -> SourceFile:
    lower = path.name.lower()
    stem = lower.split(".", 1)[0]
    table = stem if stem in TABLE_NAMES else None
    if lower.endswith(_JSON_SUFFIXES):
        return SourceFile(path, "debezium", table)
    kind: Format | None = (
        "csv" if lower.endswith(_CSV_SUFFIXES) else "parquet" if lower.endswith(_PARQUET_SUFFIXES) else None
    )
    if kind is None:
        raise HealthwatchError(
            f"cannot load {path}: not a .csv, .parquet or Debezium .jsonl file",
            f"name extracts <table>.csv or <table>.parquet (tables: {', '.join(TABLE_NAMES)}), "
            "change events *.jsonl, or move the file out of the folder",
        )
    if table is None:
        raise HealthwatchError(
            f"cannot load {path}: {path.name.split('.', 1)[0]!r} is not a contract table",
            f"rename it to one of {', '.join(f'{t}.{kind}' for t in TABLE_NAMES)}, "
            "or move it out of the folder",
        )
    return SourceFile(path, kind, table)
