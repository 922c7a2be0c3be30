"""CRM tasks and the email outbox (the work is in delivery/)."""

import os

import dagster as dg

from delivery.pipeline import queue_digests, send_outbox, write_crm_tasks
from pipelines.assets.alerts import HEALTH_ALERTS
from pipelines.metadata import result_metadata
from pipelines.resources import HealthwatchResource

CRM_TASKS = dg.AssetKey(["alerts", "crm_tasks"])
EMAIL_OUTBOX = dg.AssetKey(["alerts", "email_outbox"])


@dg.asset(key=CRM_TASKS, group_name="delivery", deps=[HEALTH_ALERTS], kinds={"duckdb", "csv"})
def crm_tasks(healthwatch: HealthwatchResource) -> dg.MaterializeResult:
    """One CRM task per actionable alert (idempotent by alert id), exported as an import-ready CSV."""
    settings = healthwatch.settings()
    with healthwatch.connect() as con:
        result = write_crm_tasks(con, settings)
    return dg.MaterializeResult(metadata=result_metadata(result))


@dg.asset(key=EMAIL_OUTBOX, group_name="delivery", deps=[HEALTH_ALERTS], kinds={"sendgrid"})
def email_outbox(healthwatch: HealthwatchResource) -> dg.MaterializeResult:
    """Queue each CSM's daily digest in the outbox, then deliver: through SendGrid when
    SENDGRID_API_KEY is set, otherwise rendered to files."""
    settings = healthwatch.settings()
    with healthwatch.connect() as con:
        queued = queue_digests(con, settings)
        result = send_outbox(
            con,
            settings,
            api_key=os.environ.get("SENDGRID_API_KEY"),
            host=os.environ.get("HEALTHWATCH_SENDGRID_HOST"),
        )
    metadata = result_metadata(result)
    metadata["queued"] = queued
    return dg.MaterializeResult(metadata=metadata)
