"""Run a job of the definitions in this process, on the instance under DAGSTER_HOME.

The CLI uses this, so `healthwatch run` executes the very assets the Dagster UI shows, and its
runs appear in the UI's run history.
"""

from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass

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


def instance_for(settings: Settings) -> dg.DagsterInstance:
    """The Dagster instance under settings.dagster_home (SQLite storage unless its dagster.yaml says otherwise)."""
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.from_config(str(settings.dagster_home))


def run_job(
    job_name: str,
    settings: Settings,
    tags: Mapping[str, str] | None = None,
    instance: dg.DagsterInstance | None = None,
) -> JobOutcome:
    """Execute a job in process on these settings (not re-read from the environment); a failed
    step becomes one HealthwatchError naming the step and the cause."""
    from pipelines.definitions import defs

    job = defs.resolve_job_def(job_name)
    resources = {
        "healthwatch": HealthwatchResource(
            warehouse=str(settings.warehouse), config_path=str(settings.config_path)
        )
    }
    with instance_for(settings) if instance is None else nullcontext(instance) as active:
        result = job.execute_in_process(
            instance=active,
            tags=dict(tags or {}),
            run_config=QUIET,
            resources=resources,
            raise_on_error=False,
        )
        stats = active.get_run_stats(result.run_id)
    if not result.success:
        raise HealthwatchError(
            _failure_message(result, job_name), f"see run {result.run_id} in the Dagster UI"
        )
    materialized = sorted(
        event.asset_key.to_user_string()
        for event in result.get_asset_materialization_events()
        if event.asset_key
    )
    seconds = (stats.end_time or 0) - (stats.start_time or 0)
    return JobOutcome(run_id=result.run_id, job_name=job_name, materialized=materialized, seconds=seconds)


def _failure_message(result: dg.ExecuteInProcessResult, job_name: str) -> str:
    failures = result.get_step_failure_events()
    if not failures:
        return f"{job_name} failed"
    error = failures[0].step_failure_data.error
    cause = error.cause if error and error.cause else error
    message = cause.message.strip().splitlines()[-1] if cause else "unknown error"
    return f"step {failures[0].step_key} of {job_name} failed: {message}"
