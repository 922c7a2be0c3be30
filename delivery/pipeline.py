"""What the Dagster assets and the CLI call: one function per delivery step.

Each takes an open warehouse connection and the settings; the clock of what is *built* (digest
periods, due times, repeat intervals) defaults to the data clock (the newest source timestamp),
so replayed and live worlds behave alike, while sending bookkeeping (attempts, back-off) runs on
the wall clock. Secrets and endpoints are arguments, read by the caller from the environment:

| argument | environment variable |
| --- | --- |
| `api_key`, `host` | SENDGRID_API_KEY, HEALTHWATCH_SENDGRID_HOST |
| `slack_webhook_url` | HEALTHWATCH_SLACK_WEBHOOK_URL (Slack is off without it) |
| `crm_token`, `crm_base_url` | HEALTHWATCH_CRM_TOKEN, HEALTHWATCH_CRM_BASE_URL (push is off without a token) |
"""

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from delivery.critical import DEFAULT_REPEAT, build_critical_mails
from delivery.crm_push import DEFAULT_BASE_URL, HubSpotTasksClient, PushSummary, push_crm_tasks
from delivery.crm_tasks import TaskRunSummary, build_crm_tasks, export_crm_tasks_csv
from delivery.digest import build_daily_digests
from delivery.outbox import DeliverySummary, deliver, deliver_with, enqueue, utcnow
from delivery.retry import DEFAULT_POLICY, RetryPolicy
from delivery.slack import SlackTransport
from delivery.weekly import build_weekly_digests
from healthwatch.batches import data_clock
from healthwatch.config import Settings

CRM_TASKS_CSV = "crm_tasks.csv"


@dataclass(frozen=True)
class Endpoints:
    """Where delivery goes and with which secrets, read by `endpoints_from` from the environment.

    `repr` hides the secrets, so logging this object leaks nothing.
    """

    sendgrid_api_key: str | None = dataclasses.field(default=None, repr=False)
    sendgrid_host: str | None = None
    slack_webhook_url: str | None = dataclasses.field(default=None, repr=False)
    crm_token: str | None = dataclasses.field(default=None, repr=False)
    crm_base_url: str | None = None


def endpoints_from(environ: Mapping[str, str]) -> Endpoints:
    """SENDGRID_API_KEY, HEALTHWATCH_SENDGRID_HOST, HEALTHWATCH_SLACK_WEBHOOK_URL,
    HEALTHWATCH_CRM_TOKEN and HEALTHWATCH_CRM_BASE_URL; an empty value counts as unset."""

    def get(name: str) -> str | None:
        return (environ.get(name) or "").strip() or None

    return Endpoints(
        sendgrid_api_key=get("SENDGRID_API_KEY"),
        sendgrid_host=get("HEALTHWATCH_SENDGRID_HOST"),
        slack_webhook_url=get("HEALTHWATCH_SLACK_WEBHOOK_URL"),
        crm_token=get("HEALTHWATCH_CRM_TOKEN"),
        crm_base_url=get("HEALTHWATCH_CRM_BASE_URL"),
    )


def crm_tasks_csv_name(export_format: str = "plain") -> str:
    """`crm_tasks.csv` for the plain export, `crm_tasks_<format>.csv` for a CRM's."""
    return CRM_TASKS_CSV if export_format == "plain" else f"crm_tasks_{export_format}.csv"


def write_crm_tasks(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    clock: datetime | None = None,
    export_formats: tuple[str, ...] = ("plain",),
) -> TaskRunSummary:
    """Bring `alerts.crm_tasks` up to date and export the open ones to `exports/crm_tasks*.csv`."""
    clock = clock or data_clock(con)
    summary = build_crm_tasks(con, clock)
    exported = None
    first_path = None
    for export_format in export_formats:
        path = settings.exports_dir / crm_tasks_csv_name(export_format)
        exported = export_crm_tasks_csv(con, path, export_format)
        first_path = first_path or path
    return dataclasses.replace(
        summary, exported=exported, export_path=str(first_path) if first_path else None
    )


def export_crm_tasks(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    export_format: str = "plain",
    owner_ids: Mapping[str, str] | None = None,
) -> int:
    """`healthwatch export crm-tasks --format plain|salesforce|hubspot [--owner-map FILE]`."""
    return export_crm_tasks_csv(con, path, export_format, owner_ids)


def queue_digests(con: duckdb.DuckDBPyConnection, settings: Settings, clock: datetime | None = None) -> int:
    """Render today's CSM digests into the outbox; return how many new mails were enqueued."""
    clock = clock or data_clock(con)
    return enqueue(con, build_daily_digests(con, clock))


def queue_weekly_digests(
    con: duckdb.DuckDBPyConnection, settings: Settings, clock: datetime | None = None
) -> int:
    """Render this ISO week's manager digests into the outbox (once per manager and week)."""
    clock = clock or data_clock(con)
    return enqueue(con, build_weekly_digests(con, clock))


def queue_critical_alerts(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    clock: datetime | None = None,
    *,
    slack_webhook_url: str | None = None,
    repeat: timedelta | None = DEFAULT_REPEAT,
) -> int:
    """Render the due notifications of critical alerts (mails to CSM, manager and VP, and a Slack
    message when a webhook URL is set) into the outbox; return how many are new."""
    clock = clock or data_clock(con)
    return enqueue(
        con, build_critical_mails(con, clock, repeat=repeat, slack=bool(slack_webhook_url), only_new=True)
    )


def send_outbox(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    api_key: str | None = None,
    host: str | None = None,
    *,
    slack_webhook_url: str | None = None,
    policy: RetryPolicy = DEFAULT_POLICY,
    clock: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliverySummary:
    """Deliver the due outbox rows: mails to files without an API key, through SendGrid with one,
    from the sender address in healthwatch.yml (`delivery.from_email`, verified in SendGrid); Slack
    rows to the webhook when its URL is set (otherwise they wait)."""
    summary = deliver(
        con,
        settings,
        api_key=api_key,
        host=host,
        sender=settings.config.delivery.from_email,
        policy=policy,
        clock=clock,
        sleep=sleep,
    )
    if slack_webhook_url:
        summary += deliver_with(
            con, SlackTransport(slack_webhook_url, clock=clock), policy=policy, clock=clock, sleep=sleep
        )
    return summary


def push_tasks_to_crm(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    token: str,
    base_url: str | None = None,
    *,
    owner_ids: Mapping[str, str] | None = None,
    policy: RetryPolicy = DEFAULT_POLICY,
    clock: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], None] = time.sleep,
) -> PushSummary:
    """Upsert the CRM tasks whose CRM copy is missing or stale (HubSpot-shaped tasks API)."""
    client = HubSpotTasksClient(token, base_url or DEFAULT_BASE_URL)
    return push_crm_tasks(con, client, clock=clock, policy=policy, sleep=sleep, owner_ids=owner_ids)


@dataclass(frozen=True)
class DeliveryRun:
    """What one full delivery pass did (the CLI prints it, assets turn it into metadata)."""

    tasks: TaskRunSummary
    queued_critical: int
    queued_daily: int
    queued_weekly: int
    sent: DeliverySummary
    pushed: PushSummary | None

    def to_dict(self) -> dict[str, object]:
        return {
            "tasks": self.tasks.to_dict(),
            "queued_critical": self.queued_critical,
            "queued_daily": self.queued_daily,
            "queued_weekly": self.queued_weekly,
            "sent": self.sent.to_dict(),
            "pushed": None if self.pushed is None else self.pushed.to_dict(),
        }


def run_delivery(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    *,
    clock: datetime | None = None,
    api_key: str | None = None,
    host: str | None = None,
    slack_webhook_url: str | None = None,
    crm_token: str | None = None,
    crm_base_url: str | None = None,
    daily: bool = True,
    weekly: bool = True,
    policy: RetryPolicy = DEFAULT_POLICY,
    send_clock: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryRun:
    """Every delivery step in order: tasks (and their CSV), critical notifications, digests,
    then the outbox and the CRM push. Safe to run again: nothing is queued or sent twice."""
    clock = clock or data_clock(con)
    tasks = write_crm_tasks(con, settings, clock)
    critical = queue_critical_alerts(con, settings, clock, slack_webhook_url=slack_webhook_url)
    queued_daily = queue_digests(con, settings, clock) if daily else 0
    queued_weekly = queue_weekly_digests(con, settings, clock) if weekly else 0
    sent = send_outbox(
        con,
        settings,
        api_key,
        host,
        slack_webhook_url=slack_webhook_url,
        policy=policy,
        clock=send_clock,
        sleep=sleep,
    )
    pushed = (
        push_tasks_to_crm(
            con, settings, crm_token, crm_base_url, policy=policy, clock=send_clock, sleep=sleep
        )
        if crm_token
        else None
    )
    return DeliveryRun(tasks, critical, queued_daily, queued_weekly, sent, pushed)
