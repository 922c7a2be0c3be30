"""CRM tasks, critical notifications, digests and the outbox (the work is in delivery/).

Secrets and endpoints come from the environment when a run starts (`delivery.pipeline.endpoints_from`).
"""

import os
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import dagster as dg
import duckdb

from alerts.storm import held_storms
from delivery.outbox import outbox_stats
from delivery.pipeline import (
    Endpoints,
    endpoints_from,
    push_tasks_to_crm,
    queue_critical_alerts,
    queue_digests,
    queue_weekly_digests,
    send_outbox,
    write_crm_tasks,
)
from healthwatch.config import Settings
from healthwatch.warehouse import signals_clock
from pipelines.assets.alerts import HEALTH_ALERTS
from pipelines.metadata import result_metadata
from pipelines.resources import HealthwatchResource

CRM_TASKS = dg.AssetKey(["alerts", "crm_tasks"])
EMAIL_OUTBOX = dg.AssetKey(["alerts", "email_outbox"])
CRITICAL_NOTIFICATIONS = dg.AssetKey(["delivery", "critical_notifications"])
WEEKLY_DIGESTS = dg.AssetKey(["delivery", "weekly_digests"])
# Every import file the pipeline keeps current under exports/ (see README, "Delivery").
EXPORT_FORMATS = ("plain", "salesforce", "hubspot")

# queue(con, settings, endpoints, clock): rows put in the outbox
Queue = Callable[[duckdb.DuckDBPyConnection, Settings, Endpoints, datetime], int]


def _outbox_metadata(stats: dict[str, Any]) -> dict[str, Any]:
    return {
        "outbox_rows": stats["rows"],
        "mails_by_status": dg.MetadataValue.json(stats["by_status"]),
        "mails_by_kind": dg.MetadataValue.json(stats["by_kind"]),
    }


def _held(con: duckdb.DuckDBPyConnection) -> dg.MaterializeResult | None:
    """While an alert storm waits for a person (alerts/storm.py), nothing is delivered."""
    held = held_storms(con)
    if not held:
        return None
    return dg.MaterializeResult(
        metadata={"held_by_alert_storm": dg.MetadataValue.json([s.storm_id for s in held])}
    )


def _queue_and_send(healthwatch: HealthwatchResource, queue: Queue) -> dg.MaterializeResult:
    """Queue (committed), then deliver every due outbox row; report counts and timings."""
    settings = healthwatch.settings()
    endpoints = endpoints_from(os.environ)
    with healthwatch.connect() as con:
        if held := _held(con):
            return held
        started = time.perf_counter()
        queued = queue(con, settings, endpoints, signals_clock(con))
        queued_at = time.perf_counter()
        sent = send_outbox(
            con,
            settings,
            endpoints.sendgrid_api_key,
            endpoints.sendgrid_host,
            slack_webhook_url=endpoints.slack_webhook_url,
        )
        sent_at = time.perf_counter()
        stats = outbox_stats(con)
    return dg.MaterializeResult(
        metadata={
            "queued": queued,
            "transport": "sendgrid" if endpoints.sendgrid_api_key else "files",
            "slack": "on" if endpoints.slack_webhook_url else "off",
            **result_metadata(sent),
            **_outbox_metadata(stats),
            "queue_seconds": round(queued_at - started, 3),
            "send_seconds": round(sent_at - queued_at, 3),
        }
    )


@dg.asset(key=CRM_TASKS, group_name="delivery", deps=[HEALTH_ALERTS], kinds={"duckdb", "csv"})
def crm_tasks(healthwatch: HealthwatchResource) -> dg.MaterializeResult:
    """One CRM task per actionable alert (idempotent by alert id), exported as import-ready CSVs
    (plain, Salesforce, HubSpot), and pushed to the CRM when HEALTHWATCH_CRM_TOKEN is set."""
    settings = healthwatch.settings()
    endpoints = endpoints_from(os.environ)
    with healthwatch.connect() as con:
        if held := _held(con):
            return held
        started = time.perf_counter()
        result = write_crm_tasks(con, settings, signals_clock(con), export_formats=EXPORT_FORMATS)
        built_at = time.perf_counter()
        pushed = (
            push_tasks_to_crm(con, settings, endpoints.crm_token, endpoints.crm_base_url)
            if endpoints.crm_token
            else None
        )
        pushed_at = time.perf_counter()
        (rows,) = con.execute("select count(*) from alerts.crm_tasks").fetchone()
    metadata = result_metadata(result)
    metadata["rows"] = int(rows)
    metadata["push"] = dg.MetadataValue.json(pushed.to_dict()) if pushed else "off"
    metadata["build_seconds"] = round(built_at - started, 3)
    metadata["push_seconds"] = round(pushed_at - built_at, 3)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=CRITICAL_NOTIFICATIONS,
    group_name="delivery",
    deps=[HEALTH_ALERTS],
    kinds={"sendgrid", "slack"},
)
def critical_notifications(healthwatch: HealthwatchResource) -> dg.MaterializeResult:
    """At the end of a rescoring run: mail each due critical alert to its CSM, manager and VP now
    (and post it to Slack when HEALTHWATCH_SLACK_WEBHOOK_URL is set), then deliver the outbox."""
    return _queue_and_send(
        healthwatch,
        lambda con, settings, endpoints, clock: queue_critical_alerts(
            con, settings, clock, slack_webhook_url=endpoints.slack_webhook_url
        ),
    )


@dg.asset(key=EMAIL_OUTBOX, group_name="delivery", deps=[HEALTH_ALERTS], kinds={"sendgrid"})
def email_outbox(healthwatch: HealthwatchResource) -> dg.MaterializeResult:
    """Queue each CSM's daily digest in the outbox, then deliver: through SendGrid when
    SENDGRID_API_KEY is set, otherwise rendered to files."""
    return _queue_and_send(healthwatch, lambda con, settings, _, clock: queue_digests(con, settings, clock))


@dg.asset(key=WEEKLY_DIGESTS, group_name="delivery", deps=[HEALTH_ALERTS], kinds={"sendgrid"})
def weekly_digests(healthwatch: HealthwatchResource) -> dg.MaterializeResult:
    """Queue each manager's weekly digest (team view, SLA breaches, alert precision) once per ISO
    week, then deliver the outbox."""
    return _queue_and_send(
        healthwatch, lambda con, settings, _, clock: queue_weekly_digests(con, settings, clock)
    )
