"""A small simulated source warehouse and its exports, built once; helpers read change tables."""

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb
import pytest

from healthwatch.contract import SOURCE_TABLES, SourceTable
from healthwatch.loader import export_extracts
from healthwatch.simulator import simulate
from healthwatch.warehouse import SOURCE_SYSTEMS, change_table

START = date(2025, 9, 1)


@pytest.fixture(scope="session")
def source_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("loader_source") / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        simulate(
            con,
            accounts=40,
            days=70,
            seed=3,
            start_date=START,
            core_features=["reports", "dashboards", "workflows", "integrations"],
        )
    return path


@pytest.fixture(scope="session")
def exports(source_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The source warehouse exported in each format (read them, don't change them)."""
    root = tmp_path_factory.mktemp("loader_exports")
    out = {}
    with duckdb.connect(str(source_warehouse), read_only=True) as con:
        for fmt in ("debezium", "csv", "parquet"):
            out[fmt] = root / fmt
            export_extracts(con, out[fmt], fmt=fmt)
    return out


@pytest.fixture
def warehouse(tmp_path: Path):
    """An empty warehouse file, open for writing."""
    con = duckdb.connect(str(tmp_path / "target.duckdb"))
    yield con
    con.close()


@pytest.fixture
def source_con(source_warehouse: Path):
    con = duckdb.connect(str(source_warehouse), read_only=True)
    yield con
    con.close()


def _state_sql(table: SourceTable) -> str:
    """A contract table's current state, as dbt staging computes it: latest change per key by seq."""
    return f"""
        select key, cast(after as varchar) as after from (
            select * from {change_table(table.system)} where source_table = '{table.name}'
            qualify row_number() over (partition by key order by seq desc) = 1
        ) where op <> 'd' and after is not null"""


@pytest.fixture
def current_state() -> Callable[[duckdb.DuckDBPyConnection, str], dict[str, dict]]:
    """key -> the row (parsed `after`), compared as values so JSON formatting does not matter."""

    def read(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, dict]:
        table = next(t for t in SOURCE_TABLES if t.name == name)
        rows = con.execute(_state_sql(table)).fetchall()
        state = {key: json.loads(after) for key, after in rows}
        assert len(state) == len(rows), f"{name}: a key twice in the current state"
        return state

    return read


@pytest.fixture
def change_counts() -> Callable[[duckdb.DuckDBPyConnection], dict[str, int]]:
    def count(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
        out = {}
        for system in SOURCE_SYSTEMS:
            exists = con.execute(
                "select count(*) from information_schema.tables where table_schema = 'cdc' and table_name = ?",
                [f"{system}_changes"],
            ).fetchone()[0]
            out[system] = (
                con.execute(f"select count(*) from {change_table(system)}").fetchone()[0] if exists else -1
            )
        return out

    return count
