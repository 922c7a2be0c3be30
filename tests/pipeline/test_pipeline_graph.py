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


def test_the_dbt_resource_skips_only_what_it_can_answer_itself() -> None:
    # DbtResource overrides two private methods of dagster-dbt's resource: an upgrade that renames
    # them would silently bring their cost back, so their names are checked here ...
    from dagster_dbt import DbtCliResource

    from pipelines.project import DBT_EXECUTABLE, DbtResource, dbt_project

    overridden = {"_cli_version", "_initialize_dbt_core_adapter"}
    assert overridden <= set(vars(DbtCliResource)) and overridden <= set(vars(DbtResource))
    # ... and the version it reads from the package is the one `dbt --version` prints
    printed = subprocess.run([DBT_EXECUTABLE, "--version"], capture_output=True, text=True, check=True).stdout
    resource = DbtResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)
    assert f"installed: {resource._cli_version}" in printed
    assert resource._initialize_dbt_core_adapter([]) is None


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


def test_trailing_distinct_counts_match_the_daily_lists(built_world) -> None:
    # The mart counts distinct users and core features over windows with sums (runs of days,
    # one flag per feature); here they are counted again from the daily lists, as sets.
    with duckdb.connect(str(built_world.settings.warehouse), read_only=True) as con:
        signals = con.execute(
            """
            select account_id, signal_date, active_users_7d, core_features_used_28d, core_features_abandoned_28d
            from signals.account_signals_daily order by account_id, signal_date
            """
        ).fetchall()
        lists = {
            (account, day): (set(users or []), set(features or []))
            for account, day, users, features in con.execute(
                "select account_id, activity_date, active_user_ids, core_features_used_list from intermediate.int_usage_daily"
            ).fetchall()
        }
    days_of: dict[str, list] = {}
    for account, day, *_ in signals:
        days_of.setdefault(account, []).append(day)

    def union(account: str, rows: list, index: int, first: int, last: int, kind: int) -> set:
        values: set = set()
        for day in rows[max(index - first, 0) : max(index - last + 1, 0)]:
            values |= lists.get((account, day), (set(), set()))[kind]
        return values

    expected, abandoning_days = [], 0
    for account, day, *_ in signals:
        rows = days_of[account]
        i = rows.index(day)
        features_28d = union(account, rows, i, 27, 0, 1)
        features_before = union(account, rows, i, 55, 28, 1)
        abandoned = len(features_before - features_28d)
        abandoning_days += abandoned > 0
        expected.append((account, day, len(union(account, rows, i, 6, 0, 0)), len(features_28d), abandoned))
    assert signals == expected
    assert abandoning_days > 0 and any(row[2] > 1 for row in signals)
