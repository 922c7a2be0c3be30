"""Run a job of the definitions in this process, on the instance under DAGSTER_HOME.

The CLI uses this, so `healthwatch run` executes the very assets the Dagster UI shows, and its
runs appear in the UI's run history.
"""

import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from healthwatch.config import Settings
from healthwatch.errors import HealthwatchError
from pipelines.resources import HealthwatchResource

# The CLI reports failures itself, in one line; the full log stays in the run (Dagster UI).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass(frozen=True)
class JobOutcome:
    run_id: str
    job_name: str
    materialized: list[str]
    seconds: float


LOCAL_INSTANCE_CONFIG = Path(__file__).resolve().parent / "instance" / "dagster.yaml"


def ensure_instance_config(dagster_home: Path) -> None:
    """Give a new DAGSTER_HOME the local instance config (SQLite, one warehouse writer at a time);
    an existing dagster.yaml (e.g. the PostgreSQL one) is left alone."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    target = dagster_home / "dagster.yaml"
    if not target.exists():
        shutil.copyfile(LOCAL_INSTANCE_CONFIG, target)


def instance_for(settings: Settings) -> dg.DagsterInstance:
    """The Dagster instance under settings.dagster_home, as its dagster.yaml configures it."""
    ensure_instance_config(settings.dagster_home)
    return dg.DagsterInstance.from_config(str(settings.dagster_home))


def run_job(
    job_name: str,
    settings: Settings,
    tags: Mapping[str, str] | None = None,
    instance: dg.DagsterInstance | None = None,
    log_path: Path | None = None,
) -> JobOutcome:
    """Execute a job in process on these settings (not re-read from the environment); a failed
    step becomes one HealthwatchError naming the step and the cause. With `log_path`, what the
    steps print (dbt's log, which dagster-dbt echoes to stdout) goes to that file instead."""
    from pipelines.definitions import defs

    job = defs.resolve_job_def(job_name)
    resources = {
        "healthwatch": HealthwatchResource(
            warehouse=str(settings.warehouse), config_path=str(settings.config_path)
        )
    }
    with (
        instance_for(settings) if instance is None else nullcontext(instance) as active,
        _stdout_to(log_path),
    ):
        result = job.execute_in_process(
            instance=active,
            tags=dict(tags or {}),
            run_config=QUIET,
            resources=resources,
            raise_on_error=False,
        )
        stats = active.get_run_stats(result.run_id)
    if not result.success:
        where = f"see run {result.run_id} in the Dagster UI" + (f" and {log_path}" if log_path else "")
        raise HealthwatchError(_failure_message(result, job_name), where)
    materialized = sorted(
        event.asset_key.to_user_string()
        for event in result.get_asset_materialization_events()
        if event.asset_key
    )
    seconds = (stats.end_time or 0) - (stats.start_time or 0)
    return JobOutcome(run_id=result.run_id, job_name=job_name, materialized=materialized, seconds=seconds)


@contextmanager
def _stdout_to(path: Path | None) -> Iterator[None]:
    """Send file descriptor 1 to `path`: Dagster tees captured step output to the real stdout,
    so replacing sys.stdout alone is not enough."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with path.open("w", encoding="utf-8") as log:
            os.dup2(log.fileno(), 1)
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _failure_message(result: dg.ExecuteInProcessResult, job_name: str) -> str:
    """One line per failed step (several checks can fail in one run), each with its cause."""
    failures = result.get_step_failure_events()
    if not failures:
        return f"{job_name} failed"
    lines = []
    for failure in failures:
        error = failure.step_failure_data.error
        cause = error.cause if error and error.cause else error
        # The first line: the error itself (DuckDB's own messages end with advice and a link).
        message = cause.message.strip().splitlines()[0] if cause else "unknown error"
        lines.append(f"step {failure.step_key} of {job_name} failed: {message}")
    return "; ".join(lines)
