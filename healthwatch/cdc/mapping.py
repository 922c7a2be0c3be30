"""The mapping from PostgreSQL source tables to contract tables, validated on load.

A YAML file (see `cdc_mapping.example.yml`) names each source table as `schema.table`, the contract
table it feeds and, for columns whose names differ, the source column of each contract column
(`null`: always empty). Without a file, `--tables billing.invoices,...` maps each source table to the
contract table of the same name, column for column.
"""

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from healthwatch.contract import SOURCE_TABLES, SourceTable
from healthwatch.errors import HealthwatchError
from healthwatch.yaml_config import load_yaml_model

CONTRACT: dict[str, SourceTable] = {t.name: t for t in SOURCE_TABLES}
_QUALIFIED = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$]*$")


class TableMapping(BaseModel):
    """One source table: the contract table it feeds and renamed columns."""

    model_config = ConfigDict(extra="forbid")
    target: str = Field(description="contract table, e.g. invoices")
    columns: dict[str, str | None] = Field(default_factory=dict)

    @field_validator("target")
    @classmethod
    def _known_target(cls, value: str) -> str:
        if value not in CONTRACT:
            raise ValueError(f"not a contract table; use one of {', '.join(CONTRACT)}")
        return value

    @model_validator(mode="after")
    def _known_columns(self) -> "TableMapping":
        unknown = [c for c in self.columns if c not in CONTRACT[self.target].columns]
        if unknown:
            raise ValueError(
                f"columns {', '.join(unknown)} are not {self.target} contract columns; "
                f"use {', '.join(CONTRACT[self.target].columns)}"
            )
        return self


class MappingFile(BaseModel):
    """The whole file: `tables: {schema.table: {target, columns}}`."""

    model_config = ConfigDict(extra="forbid")
    tables: dict[str, TableMapping] = Field(min_length=1)

    @field_validator("tables")
    @classmethod
    def _qualified_names(cls, value: dict[str, TableMapping]) -> dict[str, TableMapping]:
        bad = [name for name in value if not _QUALIFIED.match(name)]
        if bad:
            raise ValueError(f"source tables must be written schema.table (got {', '.join(bad)})")
        return value


@dataclass(frozen=True)
class MappedTable:
    """A source table resolved against the contract: turns source rows into contract images."""

    source: str
    target: SourceTable
    columns: dict[str, str | None]  # contract column -> source column (None: always null)
    origin: str  # where the mapping came from, for error messages

    @property
    def schema(self) -> str:
        return self.source.split(".", 1)[0]

    @property
    def table(self) -> str:
        return self.source.split(".", 1)[1]

    @property
    def key_source(self) -> str | None:
        return self.columns[self.target.key]

    def image(self, row: dict[str, Any], partial: bool = False) -> dict[str, Any]:
        """The contract image (JSON-ready) of a source row; `partial` allows missing columns
        (a before image under the default replica identity holds only the primary key)."""
        out: dict[str, Any] = {}
        for column, kind in self.target.columns.items():
            source = self.columns[column]
            if source is None:
                out[column] = None
            elif source in row:
                out[column] = contract_value(row[source], kind)
            elif partial:
                out[column] = None
            else:
                raise HealthwatchError(
                    f"{self.origin}: {self.source} has no column {source!r} for contract column "
                    f"{self.target.name}.{column} (it has {', '.join(sorted(row))})",
                    f"map it in the mapping file: tables: {self.source}: columns: {column}: <source column> "
                    "(or null)",
                )
        return out

    def key(self, image: dict[str, Any]) -> str | None:
        value = image.get(self.target.key)
        return None if value is None else str(value)


def _timestamp(value: Any) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    # The simulator's and loader's format (healthwatch.loader.rules.json_text).
    return value.isoformat(timespec="seconds" if value.microsecond == 0 else "microseconds")


def contract_value(value: Any, kind: str) -> Any:
    """A source value (wal2json JSON or a psycopg2 object) as the contract type's JSON value."""
    if value is None:
        return None
    if kind == "timestamp":
        return _timestamp(value)
    if kind == "date":
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        return str(value)[:10]
    if kind == "double":
        return float(value)
    if kind == "integer":
        return int(Decimal(str(value)))
    if kind == "boolean":
        return value if isinstance(value, bool) else str(value).lower() in ("t", "true", "1", "yes")
    if kind == "json":
        return json.loads(value) if isinstance(value, str) else value
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _resolve(source: str, mapping: TableMapping, origin: str) -> MappedTable:
    target = CONTRACT[mapping.target]
    columns = {c: mapping.columns.get(c, c) for c in target.columns}
    if columns[target.key] is None:
        raise HealthwatchError(
            f"{origin}: tables.{source}.columns.{target.key}: the key of {target.name} cannot be null",
            "map it to the source table's primary key column",
        )
    return MappedTable(source=source, target=target, columns=columns, origin=origin)


def load_mapping(path: Path | None, tables: list[str] | None) -> list[MappedTable]:
    """The mapped tables to stream: from the YAML file (restricted to `tables` when given), or
    each of `tables` onto the contract table of its own name."""
    if path is not None:
        spec = load_yaml_model(path, MappingFile)
        unknown = [t for t in tables or [] if t not in spec.tables]
        if unknown:
            raise HealthwatchError(
                f"{path}: tables: no entry for {', '.join(unknown)}",
                f"add them to the file, or stream only {', '.join(spec.tables)}",
            )
        chosen = tables or list(spec.tables)
        return _one_per_target([_resolve(name, spec.tables[name], str(path)) for name in chosen])
    if not tables:
        raise HealthwatchError(
            "no tables to stream",
            "pass --tables schema.table,... or --mapping FILE (see cdc_mapping.example.yml)",
        )
    out = []
    for name in tables:
        if not _QUALIFIED.match(name):
            raise HealthwatchError(f"--tables: {name!r} is not schema.table", "write e.g. public.invoices")
        table = name.split(".", 1)[1]
        if table not in CONTRACT:
            raise HealthwatchError(
                f"--tables: {name} has no contract table of the same name",
                f"name one of {', '.join(CONTRACT)}, or map it with --mapping FILE",
            )
        out.append(_resolve(name, TableMapping(target=table), "--tables"))
    return _one_per_target(out)


def _one_per_target(mapped: list[MappedTable]) -> list[MappedTable]:
    # Two sources of one contract table would overwrite each other's keys in staging.
    seen: dict[str, str] = {}
    for m in mapped:
        if m.target.name in seen:
            raise HealthwatchError(
                f"{m.origin}: {seen[m.target.name]} and {m.source} both feed {m.target.name}",
                "map each contract table from one source table",
            )
        seen[m.target.name] = m.source
    return mapped
