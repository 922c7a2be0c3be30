"""Run dbt directly on a test warehouse (for tests that only need the dbt layer)."""

import subprocess
from pathlib import Path

from healthwatch.config import Settings
from pipelines.project import DBT_EXECUTABLE, DBT_PROJECT_DIR, dbt_cli_args


def dbt(command: str, settings: Settings, target: Path, *extra: str) -> None:
    """Run one dbt command with the pipeline's vars, artifacts in `target`; fail with dbt's output."""
    args = [DBT_EXECUTABLE, *dbt_cli_args(command, settings), "--profiles-dir", str(DBT_PROJECT_DIR)]
    args += ["--target-path", str(target), *extra]
    result = subprocess.run(args, cwd=DBT_PROJECT_DIR, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:]
