"""Settings resolution and the arguments every dbt invocation gets."""

import json
import os
import time
from pathlib import Path

import pytest

from healthwatch.config import load_settings
from healthwatch.errors import HealthwatchError
from pipelines.project import dbt_cli_args, prune_invocation_folders


def test_defaults_resolve_from_the_working_directory(tmp_path: Path) -> None:
    settings = load_settings(env={}, cwd=tmp_path)
    assert settings.warehouse == tmp_path / "data" / "warehouse.duckdb"
    assert settings.dagster_home == tmp_path / "data" / "dagster_home"
    assert settings.config.churn.horizon_days == 90


def test_relative_paths_and_dagster_home(tmp_path: Path) -> None:
    env = {"HEALTHWATCH_WAREHOUSE": "w/x.duckdb", "DAGSTER_HOME": "dh"}
    settings = load_settings(env=env, cwd=tmp_path)
    assert settings.warehouse == tmp_path / "w" / "x.duckdb"
    assert settings.models_dir == tmp_path / "w" / "models"
    assert settings.dagster_home == tmp_path / "dh"


def test_config_is_validated(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text("calendar:\n  business_hours:\n    start_hour: 17\n    end_hour: 9\n")
    with pytest.raises(HealthwatchError, match=r"calendar\.business_hours"):
        load_settings(env={"HEALTHWATCH_CONFIG": str(config)}, cwd=tmp_path)


def test_dbt_args_carry_the_absolute_warehouse_and_config(tmp_path: Path) -> None:
    settings = load_settings(env={"HEALTHWATCH_WAREHOUSE": "rel/w.duckdb"}, cwd=tmp_path)
    args = dbt_cli_args("build", settings)
    assert args[:2] == ["build", "--vars"]
    assert json.loads(args[2]) == {
        "warehouse_path": str(tmp_path / "rel" / "w.duckdb"),
        "core_features": ["reports", "dashboards", "workflows", "integrations"],
        "churn_definition": "contract",
        "churn_inactive_days": 30,
        "signals_part_account_days": 1_000_000,
        "duckdb_memory_limit": "2.5GB",
        "duckdb_threads": str(os.cpu_count() or 1),
        "duckdb_temp_directory": str(tmp_path / "rel" / "w.duckdb.tmp"),
    }
    # Serialised the same way every time, so dbt keeps its partial parse.
    assert args == dbt_cli_args("build", settings)
    assert args[3:] == ["--exclude-resource-type", "unit_test"]  # unit tests run in full builds
    assert dbt_cli_args("build", settings, full_refresh=True)[3:] == ["--full-refresh"]
    assert dbt_cli_args("docs generate", settings)[:2] == ["docs", "generate"]


def test_duckdb_settings_from_config_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text("warehouse:\n  memory_limit: 2GiB\n  threads: 1\n  temp_directory: spill\n")
    env = {"HEALTHWATCH_CONFIG": str(config), "HEALTHWATCH_WAREHOUSE": "w/x.duckdb"}
    assert load_settings(env=env, cwd=tmp_path).duckdb_settings == {
        "memory_limit": "2GiB",
        "threads": "1",
        "temp_directory": str(tmp_path / "w" / "spill"),
    }
    env["HEALTHWATCH_DUCKDB_MEMORY_LIMIT"] = "3GB"
    assert load_settings(env=env, cwd=tmp_path).duckdb_settings["memory_limit"] == "3GB"
    env["HEALTHWATCH_DUCKDB_THREADS"] = "lots"
    with pytest.raises(HealthwatchError, match="HEALTHWATCH_DUCKDB_THREADS"):
        load_settings(env=env, cwd=tmp_path)


def test_connections_get_the_duckdb_settings(tmp_path: Path) -> None:
    from healthwatch.warehouse import connect

    settings = {"memory_limit": "1GiB", "threads": "1", "temp_directory": str(tmp_path / "spill")}
    with connect(tmp_path / "w.duckdb", settings=settings) as con:
        row = con.execute(
            "select current_setting('memory_limit'), current_setting('threads'), current_setting('temp_directory')"
        ).fetchone()
    assert row == ("1.0 GiB", 1, str(tmp_path / "spill"))


def test_old_dbt_target_folders_are_pruned_once_idle(tmp_path: Path) -> None:
    """Only idle folders of the same op beyond the newest few go; a run still writing its dbt.log stays."""
    now = time.time()

    def folder(name: str, age_s: float, log_age_s: float | None = None) -> Path:
        path = tmp_path / name
        path.mkdir()
        (path / "dbt.log").write_text("log")
        os.utime(path / "dbt.log", (now - (log_age_s if log_age_s is not None else age_s),) * 2)
        os.utime(path, (now - age_s,) * 2)
        return path

    current = folder("signals_dbt-aaaaaaa-0000000", 0)
    old = [folder(f"signals_dbt-b{i:06d}-1111111", 7200 + i) for i in range(5)]
    running = folder("signals_dbt-ccccccc-2222222", 9000, log_age_s=10)  # another run's log still grows
    recent = folder("signals_dbt-ddddddd-3333333", 60)
    other_op = folder("rebuild_dbt-eeeeeee-4444444", 99999)
    (tmp_path / "manifest.json").write_text("{}")

    pruned = prune_invocation_folders(current, keep=3, idle_s=3600)

    # kept: current + the two most recently active (running, recent); the five old ones go
    assert sorted(pruned) == sorted(old)
    assert all(not p.exists() for p in old)
    assert current.exists() and running.exists() and recent.exists() and other_op.exists()
    assert (tmp_path / "manifest.json").exists()
    # a second call finds nothing more to do
    assert prune_invocation_folders(current, keep=3, idle_s=3600) == []
    # with keep=1 every other folder may go, but only once idle: the running one stays
    assert prune_invocation_folders(current, keep=1, idle_s=30) == [recent]
    assert running.exists() and current.exists()
