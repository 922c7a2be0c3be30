"""Bad input gets one clear line saying what is wrong and how to fix it, never a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests_support import REPO_ROOT, settings_at, simulate_into

HEALTHWATCH = str(Path(sys.executable).parent / "healthwatch")


def run_cli(*args: str, env: dict[str, str], cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHWATCH_")} | env
    return subprocess.run(
        [HEALTHWATCH, *args], env=full_env, cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )


def assert_one_clear_line(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_missing_warehouse(tmp_path) -> None:
    result = run_cli("summary", env={"HEALTHWATCH_WAREHOUSE": str(tmp_path / "none.duckdb")})
    assert_one_clear_line(result, "no warehouse at", "healthwatch simulate")


def test_warehouse_path_must_be_a_duckdb_file(tmp_path) -> None:
    result = run_cli("summary", env={"HEALTHWATCH_WAREHOUSE": str(tmp_path)})
    assert_one_clear_line(result, "must name a .duckdb file")


def test_config_file_named_but_missing(tmp_path) -> None:
    result = run_cli("summary", env={"HEALTHWATCH_CONFIG": str(tmp_path / "nope.yml")})
    assert_one_clear_line(result, "config file not found", "nope.yml")


def test_bad_config_names_file_and_key(tmp_path) -> None:
    config = tmp_path / "healthwatch.yml"
    config.write_text("churn:\n  horizon_days: 2\ndemo:\n  acounts: 10\n")
    result = run_cli("summary", env={"HEALTHWATCH_CONFIG": str(config)})
    assert_one_clear_line(result, str(config), "churn.horizon_days", "demo.acounts", "unknown key")


def test_bad_yaml_names_the_line(tmp_path) -> None:
    config = tmp_path / "healthwatch.yml"
    config.write_text("churn:\n  horizon_days: [1\n")
    result = run_cli("summary", env={"HEALTHWATCH_CONFIG": str(config)})
    assert_one_clear_line(result, "not valid YAML", "line")


def test_bad_argument_is_refused_without_a_traceback(tmp_path) -> None:
    result = run_cli(
        "simulate", "--accounts", "five", env={"HEALTHWATCH_WAREHOUSE": str(tmp_path / "w.duckdb")}
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--accounts" in result.stderr


def test_stream_without_a_world(tmp_path) -> None:
    warehouse = tmp_path / "w.duckdb"
    warehouse.touch()
    warehouse.unlink()
    import duckdb

    duckdb.connect(str(warehouse)).close()
    result = run_cli("stream", env={"HEALTHWATCH_WAREHOUSE": str(warehouse)})
    assert_one_clear_line(result, "no simulated world", "healthwatch simulate")


@pytest.fixture(scope="module")
def small_warehouse(tmp_path_factory) -> Path:
    settings = settings_at(tmp_path_factory.mktemp("cli") / "warehouse.duckdb")
    simulate_into(settings, accounts=20, days=60, seed=1)
    return settings.warehouse


def test_simulate_refuses_to_overwrite_without_replace(small_warehouse) -> None:
    result = run_cli(
        "simulate", "--accounts", "20", "--days", "60", env={"HEALTHWATCH_WAREHOUSE": str(small_warehouse)}
    )
    assert_one_clear_line(result, "already holds data", "--replace")


def test_run_before_build_names_the_step(small_warehouse, tmp_path) -> None:
    # No signal tables yet and an export asked for: the export says what to run first.
    result = run_cli(
        "export",
        "crm-tasks",
        "--out",
        str(tmp_path / "t.csv"),
        env={"HEALTHWATCH_WAREHOUSE": str(small_warehouse)},
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_simulating_past_today_warns_that_the_future_days_will_be_quarantined(tmp_path) -> None:
    from datetime import date

    from healthwatch.config import load_settings

    start = load_settings(env={}, cwd=REPO_ROOT).config.simulation.start_date
    days = (date.today() - start).days + 10
    env = {"HEALTHWATCH_WAREHOUSE": str(tmp_path / "w.duckdb")}
    result = run_cli("simulate", "--accounts", "20", "--days", str(days), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "past today" in result.stdout and "simulation.start_date" in result.stdout
