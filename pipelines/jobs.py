"""Jobs and schedules. Warehouse writers run in process: one step at a time, one DuckDB writer."""

import dagster as dg

from pipelines.assets.alerts import HEALTH_ALERTS
from pipelines.assets.bookkeeping import PROCESSED_CHANGES
from pipelines.assets.delivery import CRITICAL_NOTIFICATIONS, CRM_TASKS, EMAIL_OUTBOX, WEEKLY_DIGESTS
from pipelines.assets.ml import CHURN_MODEL, HEALTH_SCORES
from pipelines.assets.sources import CHANGE_TABLE_KEYS
from pipelines.hooks import failpoint_hook

SIGNALS = dg.AssetSelection.groups("signals")
# Every job writes the warehouse: the instance's run queue lets one such run go at a time.
WRITER = {"healthwatch/warehouse": "writer"}
# Off unless HEALTHWATCH_FAILPOINT is set (the fault-injection suite kills runs between steps).
HOOKS = {failpoint_hook}
# The change tables are written outside Dagster; their checks run at the head of every run that reads them.
SOURCE_CHECKS = dg.AssetSelection.checks_for_assets(*CHANGE_TABLE_KEYS.values())

# Everything from the change tables to CRM tasks, then the critical mails at the end; the model is
# trained on its own schedule, digests go on theirs.
rescore_job = dg.define_asset_job(
    name="rescore_job",
    selection=SOURCE_CHECKS
    | SIGNALS
    | dg.AssetSelection.assets(
        HEALTH_SCORES, HEALTH_ALERTS, CRM_TASKS, PROCESSED_CHANGES, CRITICAL_NOTIFICATIONS
    ),
    executor_def=dg.in_process_executor,
    hooks=HOOKS,
    tags=WRITER,
    description="Recompute signals, scores, alerts and CRM tasks after new change rows; mail critical alerts.",
)

# The main job: the whole graph, model and outbox (every kind of mail) included.
healthwatch_job = dg.define_asset_job(
    name="healthwatch_job",
    selection=SOURCE_CHECKS | (dg.AssetSelection.all() - dg.AssetSelection.groups("sources")),
    executor_def=dg.in_process_executor,
    hooks=HOOKS,
    tags=WRITER,
    description="Build everything: signals, model, scores, alerts, CRM tasks and the email outbox.",
)

train_job = dg.define_asset_job(
    name="train_job",
    selection=dg.AssetSelection.assets(CHURN_MODEL),
    executor_def=dg.in_process_executor,
    hooks=HOOKS,
    tags=WRITER,
    description="Retrain the churn model (promoted only if not worse on the same holdout).",
)

# The nightly reconcile: the whole graph but the digests, which go out on their own schedules
# (a rebuild at 02:00 must not send Monday's manager digest before its time).
rebuild_job = dg.define_asset_job(
    name="rebuild_job",
    selection=SOURCE_CHECKS
    | (
        dg.AssetSelection.all()
        - dg.AssetSelection.groups("sources")
        - dg.AssetSelection.assets(EMAIL_OUTBOX, WEEKLY_DIGESTS)
    ),
    executor_def=dg.in_process_executor,
    hooks=HOOKS,
    tags=WRITER,
    description="Rebuild everything from the change tables (full refresh); digests excluded.",
)

digest_job = dg.define_asset_job(
    name="digest_job",
    selection=dg.AssetSelection.assets(EMAIL_OUTBOX),
    executor_def=dg.in_process_executor,
    hooks=HOOKS,
    tags=WRITER,
    description="Queue and deliver the daily CSM digests.",
)

weekly_digest_job = dg.define_asset_job(
    name="weekly_digest_job",
    selection=dg.AssetSelection.assets(WEEKLY_DIGESTS),
    executor_def=dg.in_process_executor,
    hooks=HOOKS,
    tags=WRITER,
    description="Queue and deliver the weekly manager digests.",
)

schedules = [
    dg.ScheduleDefinition(
        name="daily_digests", job=digest_job, cron_schedule="0 7 * * 1-5", execution_timezone="UTC"
    ),
    dg.ScheduleDefinition(
        name="weekly_manager_digests",
        job=weekly_digest_job,
        cron_schedule="0 7 * * 1",
        execution_timezone="UTC",
    ),
    dg.ScheduleDefinition(
        name="weekly_retrain", job=train_job, cron_schedule="0 3 * * 0", execution_timezone="UTC"
    ),
    dg.ScheduleDefinition(
        name="nightly_rebuild",
        job=rebuild_job,
        cron_schedule="0 2 * * *",
        execution_timezone="UTC",
        tags={"healthwatch/full_refresh": "true"},
    ),
]
