"""Run a job of the definitions in this process, on the instance under DAGSTER_HOME.

The CLI uses this, so `healthwatch run` executes the very assets the Dagster UI shows, and its
runs appear in the UI's run history.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import dagster as dg

from healthwatch.config import Settings
from healthwatch.errors import HealthwatchError

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


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


def run_job(job_name: str, settings: Settings, tags: Mapping[str, str] | None = None) -> JobOutcome:
    """Execute a job in process; a failed step becomes one HealthwatchError naming the step and the cause."""
    from pipelines.definitions import defs

    job = defs.resolve_job_def(job_name)
    with instance_for(settings) as instance:
        result = job.execute_in_process(
            instance=instance, tags=dict(tags or {}), run_config=QUIET, raise_on_error=False
        )
        stats = instance.get_run_stats(result.run_id)
    if not result.success:
        failures = result.get_step_failure_events()
        if failures:
            step = failures[0].step_key
            error = failures[0].step_failure_data.error
            cause = error.cause if error and error.cause else error
            message = cause.message.strip().splitlines()[-1] if cause else "unknown error"
            raise HealthwatchError(
                f"step {step} of {job_name} failed: {message}", f"see run {result.run_id} in the Dagster UI"
            )
        raise HealthwatchError(f"{job_name} failed", f"see run {result.run_id} in the Dagster UI")
    materialized = sorted(
        event.asset_key.to_user_string()
        for event in result.get_asset_materialization_events()
        if event.asset_key
    )
    seconds = (stats.end_time or 0) - (stats.start_time or 0)
    return JobOutcome(run_id=result.run_id, job_name=job_name, materialized=materialized, seconds=seconds)
