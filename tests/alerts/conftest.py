"""Fixtures for the alert tests: a warehouse built once per session, copied fresh for each test."""

import shutil
from pathlib import Path

import duckdb
import pytest

from healthwatch.config import Settings

from alert_world import AS_OF, CLOCK, base_world, make_settings, write_world


@pytest.fixture(scope="session")
def _template_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        write_world(con, base_world(), AS_OF, CLOCK)
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def warehouse(_template_warehouse: Path, settings: Settings):
    """A fresh copy of the built warehouse per test, opened read-write."""
    shutil.copy(_template_warehouse, settings.warehouse)
    con = duckdb.connect(str(settings.warehouse))
    yield con
    con.close()
