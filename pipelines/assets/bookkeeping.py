"""The last step of every run that processes change rows: marking them processed."""

import dagster as dg

from healthwatch.batches import commit_open_batch
from pipelines.assets.alerts import HEALTH_ALERTS
from pipelines.assets.delivery import CRITICAL_NOTIFICATIONS, CRM_TASKS
from pipelines.assets.ml import HEALTH_SCORES
from pipelines.resources import HealthwatchResource

PROCESSED_CHANGES = dg.AssetKey(["ops", "processed_changes"])


@dg.asset(
    key=PROCESSED_CHANGES,
    group_name="delivery",
    deps=[HEALTH_SCORES, HEALTH_ALERTS, CRM_TASKS, CRITICAL_NOTIFICATIONS],
    kinds={"duckdb"},
)
def processed_changes(healthwatch: HealthwatchResource) -> dg.MaterializeResult:
    """Mark the run's batch of change rows processed, once its signals, scores, alerts, tasks and
    critical mails are all done: a run that dies before this step leaves the rows pending, and the
    next run redoes the whole of it (every step is idempotent; mails have deterministic ids)."""
    with healthwatch.connect() as con:
        batch = commit_open_batch(con)
    ranges = {
        table: [f"{lo}-{hi}" for lo, hi in seq_ranges]
        for table, seq_ranges in (batch.ranges if batch else {}).items()
    }
    return dg.MaterializeResult(metadata={"seq_ranges": dg.MetadataValue.json(ranges)})
