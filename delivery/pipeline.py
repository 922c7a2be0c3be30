"""What the Dagster assets and the CLI call: one function per delivery step.

Each takes an open warehouse connection and the settings; the clock defaults to the data clock
(the newest source timestamp), so replayed and live worlds behave alike. The SendGrid key and host
are arguments: the caller reads SENDGRID_API_KEY and HEALTHWATCH_SENDGRID_HOST.
"""

import dataclasses
from datetime import datetime

import duckdb

from delivery.crm_tasks import TaskRunSummary, build_crm_tasks, export_crm_tasks_csv
from delivery.digest import build_daily_digests
from delivery.outbox import DeliverySummary, deliver, enqueue
from healthwatch.config import Settings
from healthwatch.warehouse import data_clock

CRM_TASKS_CSV = "crm_tasks.csv"


def write_crm_tasks(
    con: duckdb.DuckDBPyConnection, settings: Settings, clock: datetime | None = None
) -> TaskRunSummary:
    """Bring `alerts.crm_tasks` up to date and export the open ones to `exports/crm_tasks.csv`."""
    clock = clock or data_clock(con)
    summary = build_crm_tasks(con, clock)
    path = settings.exports_dir / CRM_TASKS_CSV
    exported = export_crm_tasks_csv(con, path)
    return dataclasses.replace(summary, exported=exported, export_path=str(path))


def queue_digests(con: duckdb.DuckDBPyConnection, settings: Settings, clock: datetime | None = None) -> int:
    """Render today's CSM digests into the outbox; return how many new mails were enqueued."""
    clock = clock or data_clock(con)
    return enqueue(con, build_daily_digests(con, clock))


def send_outbox(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    api_key: str | None = None,
    host: str | None = None,
) -> DeliverySummary:
    """Deliver the pending mails: to files without an API key, through SendGrid with one, from
    the sender address in healthwatch.yml (`delivery.from_email`, verified in SendGrid)."""
    return deliver(con, settings, api_key=api_key, host=host, sender=settings.config.delivery.from_email)
