"""The Dagster definitions load, keep their asset keys, and the whole graph materializes."""

import subprocess
import sys
from pathlib import Path

import duckdb

from pipelines.definitions import defs

SNAPSHOT = Path(__file__).with_name("asset_keys.txt")
REPO_ROOT = Path(__file__).resolve().parents[2]


def _asset_keys() -> list[str]:
    graph = defs.resolve_asset_graph()
    return sorted(key.to_user_string() for key in graph.get_all_asset_keys())


def test_asset_keys_match_snapshot() -> None:
    # A renamed or removed asset shows up here, in review, before it breaks a BI dashboard.
    assert _asset_keys() == SNAPSHOT.read_text().split()


def test_groups_follow_the_design() -> None:
    graph = defs.resolve_asset_graph()
    groups = {graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {"sources", "signals", "ml", "alerts", "delivery"}


def test_dbt_tests_surface_as_asset_checks() -> None:
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert any(name.startswith("unique_accounts_account_id") for name in checks)


def test_definitions_validate_from_the_workspace() -> None:
    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_whole_graph_materializes(built_world) -> None:
    graph = defs.resolve_asset_graph()
    materializable = {key.to_user_string() for key in graph.materializable_asset_keys}
    assert set(built_world.materialized) == materializable


def test_issue_tables_are_filled(built_world) -> None:
    tables = [
        "signals.account_signals_daily",
        "signals.account_baselines",
        "signals.account_features",
        "scoring.account_health_scores",
        "alerts.health_alerts",
        "alerts.crm_tasks",
        "alerts.email_outbox",
    ]
    with duckdb.connect(str(built_world.settings.warehouse), read_only=True) as con:
        for table in tables:
            (rows,) = con.execute(f"select count(*) from {table}").fetchall()[0]
            assert rows > 0, table


def test_signals_are_one_dense_row_per_account_day(built_world) -> None:
    with duckdb.connect(str(built_world.settings.warehouse), read_only=True) as con:
        gaps = con.execute(
            """
            select account_id, count(*) as days, max(signal_date) - min(signal_date) + 1 as span
            from signals.account_signals_daily
            group by account_id
            having count(*) <> max(signal_date) - min(signal_date) + 1
            """
        ).fetchall()
        accounts = con.execute(
            "select count(distinct account_id) from signals.account_signals_daily"
        ).fetchall()
    assert gaps == []
    assert accounts[0][0] == 150
