"""Simulated warehouses built once per session: a small one for shape checks, a larger one for behaviour."""

from pathlib import Path

import duckdb
import pytest

from sim_helpers import build


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """80 accounts over 60 days: every kind of change row, quickly."""
    path = tmp_path_factory.mktemp("sim_small") / "warehouse.duckdb"
    build(path, accounts=80, days=60, seed=11)
    return path


@pytest.fixture(scope="session")
def large_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 accounts over 150 days: enough churn to check that the world means something."""
    path = tmp_path_factory.mktemp("sim_large") / "warehouse.duckdb"
    build(path, accounts=300, days=150, seed=7)
    return path


@pytest.fixture
def small_con(small_world: Path):
    con = duckdb.connect(str(small_world), read_only=True)
    yield con
    con.close()


@pytest.fixture
def large_con(large_world: Path):
    con = duckdb.connect(str(large_world), read_only=True)
    yield con
    con.close()
