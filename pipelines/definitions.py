"""The one composition root: every asset, job, schedule, sensor and resource."""

import dagster as dg

from healthwatch.config import load_settings
from pipelines.assets.alerts import health_alerts
from pipelines.assets.bookkeeping import processed_changes
from pipelines.assets.checks import (
    alert_storm_check,
    change_envelope_checks,
    change_feed_checks,
    signal_ranges_check,
    source_contract_checks,
)
from pipelines.assets.delivery import critical_notifications, crm_tasks, email_outbox, weekly_digests
from pipelines.assets.ml import account_health_scores, churn_model
from pipelines.assets.signals import signals_dbt
from pipelines.assets.sources import CHANGE_TABLE_KEYS, change_tables, ops_tables, quarantine_tables
from pipelines.jobs import (
    digest_job,
    healthwatch_job,
    rebuild_job,
    rescore_job,
    schedules,
    train_job,
    weekly_digest_job,
)
from pipelines.project import DBT_EXECUTABLE, DbtResource, dbt_project
from pipelines.resources import HealthwatchResource
from sensors.cdc import build_cdc_sensor

cdc_sensors = [
    build_cdc_sensor(table=table, job=rescore_job, warehouse=lambda: load_settings().warehouse)
    for table in CHANGE_TABLE_KEYS
]

defs = dg.Definitions(
    assets=[
        *change_tables,
        *ops_tables,
        *quarantine_tables,
        signals_dbt,
        churn_model,
        account_health_scores,
        health_alerts,
        crm_tasks,
        email_outbox,
        critical_notifications,
        weekly_digests,
        processed_changes,
    ],
    asset_checks=[
        change_envelope_checks,
        change_feed_checks,
        source_contract_checks,
        signal_ranges_check,
        alert_storm_check,
    ],
    jobs=[rescore_job, healthwatch_job, rebuild_job, train_job, digest_job, weekly_digest_job],
    schedules=schedules,
    sensors=cdc_sensors,
    resources={
        "dbt": DbtResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
        "healthwatch": HealthwatchResource(),
    },
)
