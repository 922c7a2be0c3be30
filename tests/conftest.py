"""Shared fixtures: one small simulated warehouse, built once per session through the real
Dagster job (real dbt build, real LightGBM, real alert and delivery steps)."""

import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from healthwatch.config import Settings

from tests_support import WORLD, settings_at, simulate_into

# The folders of the longest tests, run first: on two xdist workers (`make test`) the suite then
# ends with short files on both workers rather than one long fault or property test on one.
SLOW_FOLDERS = ("faults", "pipeline", "cdc")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the slow folders first, keeping the order within each folder (a stable sort)."""

    def rank(item: pytest.Item) -> int:
        folder = item.path.parent.name
        return SLOW_FOLDERS.index(folder) if folder in SLOW_FOLDERS else len(SLOW_FOLDERS)

    items.sort(key=rank)


@dataclass(frozen=True)
class BuiltWorld:
    settings: Settings
    materialized: list[str]


@pytest.fixture(scope="session")
def dagster_instance():
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


@pytest.fixture(scope="session")
def built_world(tmp_path_factory: pytest.TempPathFactory, dagster_instance: dg.DagsterInstance) -> BuiltWorld:
    """A simulated world taken through `healthwatch_job`, the whole graph. Read it, don't change it:
    tests that write take `world_copy`."""
    from pipelines.run import run_job

    settings = settings_at(tmp_path_factory.mktemp("built") / "warehouse.duckdb")
    simulate_into(settings, **WORLD)
    outcome = run_job("healthwatch_job", settings, instance=dagster_instance)
    return BuiltWorld(settings=settings, materialized=outcome.materialized)


@pytest.fixture
def world_copy(built_world: BuiltWorld, tmp_path: Path) -> Settings:
    """A private copy of the built world (warehouse, models, outbox) for a test that writes."""
    source = built_world.settings.data_dir
    target = tmp_path / "data"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("dagster_home"))
    return settings_at(target / built_world.settings.warehouse.name)
