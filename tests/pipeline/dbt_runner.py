"""Run dbt directly on a test warehouse (for tests that only need the dbt layer)."""

import subprocess
from pathlib import Path

import duckdb

from healthwatch.batches import ScopeSummary, commit_batch, open_batch, scope_summary
from healthwatch.config import Settings
from pipelines.project import DBT_EXECUTABLE, DBT_PROJECT_DIR, dbt_cli_args


def dbt(command: str, settings: Settings, target: Path, *extra: str, full_refresh: bool = False) -> None:
    """Run one dbt command with the pipeline's vars, artifacts in `target`; fail with dbt's output."""
    args = [DBT_EXECUTABLE, *dbt_cli_args(command, settings, full_refresh=full_refresh)]
    args += ["--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target), *extra]
    result = subprocess.run(args, cwd=DBT_PROJECT_DIR, capture_output=True, text=True, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]


def build_signals(settings: Settings, target: Path, full_refresh: bool = False) -> ScopeSummary:
    """What the signals asset does: open the pending batch, dbt build, mark the batch processed."""
    with duckdb.connect(str(settings.warehouse)) as con:
        batch = open_batch(con, full_refresh=full_refresh)
    dbt("build", settings, target, full_refresh=full_refresh)
    with duckdb.connect(str(settings.warehouse)) as con:
        commit_batch(con, batch)
        return scope_summary(con)
