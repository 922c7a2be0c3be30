"""Immediate mails for critical alerts, and the optional Slack message for each.

Recipients follow the alert's routing (`notify_member_ids`: CSM, manager and VP for critical),
with the account's current CSM standing in for a previous owner. The mail id is
recipient|critical_alert|<notification key>, where the key says which notification of the alert
this is (`notification_key`):

- the alerts engine's own `notification_key` column ("<count>-<reason>", changing exactly when a
  new notification is due), when it writes one: it then decides escalations and repeats, and
  `notify_reason = 'repeat'` marks a reminder;
- otherwise derived: the alert id; plus `:<severity>:<escalated_at>` once the alert has escalated
  (a rise to critical is a new notification); plus `#r<k>` when the alert is still open (not
  acknowledged) k repeat intervals after it became critical.

So a rerun, a retry or a crash never yields a second mail for the same notification, and a
reminder is a new mail only when the alert escalated or its repeat interval passed.
"""

import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import duckdb

from delivery import formatting
from delivery.alert_view import (
    ALERTS_TABLE,
    HISTORY_TABLE,
    TEAM_TABLE,
    AlertView,
    load_account_owners,
    load_active_alerts,
    load_health_trends,
    load_team,
    owner_of,
)
from delivery.digest import Recipient, digest_item, member_recipient
from delivery.outbox import Mail, mail_id, queued_mail_ids
from delivery.render import render_mail, render_slack
from healthwatch.warehouse import require_tables

log = logging.getLogger(__name__)

CRITICAL_ALERT = "critical_alert"
CRITICAL_SEVERITIES = ("critical",)
DEFAULT_REPEAT = timedelta(hours=24)
SLACK_RECIPIENT = "slack"


def became_critical_at(alert: AlertView) -> datetime | None:
    """When the alert reached its current severity: its escalation, else its opening."""
    return alert.escalated_at or alert.opened_at


def repeat_index(alert: AlertView, clock: datetime, repeat: timedelta | None) -> int:
    """How many repeat intervals an open, unacknowledged alert has been critical for (0: none)."""
    anchor = became_critical_at(alert)
    if repeat is None or repeat <= timedelta(0) or anchor is None or alert.status != "open":
        return 0
    return max(0, int((clock - anchor) / repeat))


def notification_key(alert: AlertView, clock: datetime, repeat: timedelta | None = DEFAULT_REPEAT) -> str:
    """Which notification of this alert is due now (the mail id's period); see the module docstring."""
    if alert.notification_key:
        return f"{alert.alert_id}:{alert.notification_key}"
    key = alert.alert_id
    if alert.escalated_at is not None:
        key += f":{alert.severity}:{alert.escalated_at:%Y%m%dT%H%M%S}"
    k = repeat_index(alert, clock, repeat)
    return key + (f"#r{k}" if k else "")


def recipients_of(alert: AlertView, account_owners: Mapping[str, str]) -> list[str]:
    """The routed members, the account's current CSM in place of a previous owner; no repeats."""
    owner = owner_of(alert, account_owners)
    routed = list(alert.notify_member_ids) or [alert.owner_id or ""]
    people = [owner if member == alert.owner_id else member for member in routed]
    if owner and owner not in people:
        people.insert(0, owner)
    return list(dict.fromkeys(p for p in people if p))


def _role_line(
    member_id: str, owner_id: str | None, alert: AlertView, team: Mapping[str, Mapping[str, Any]]
) -> str:
    owner_name = (team.get(owner_id or "") or {}).get("name") or alert.owner_name or "its CSM"
    if member_id == owner_id:
        return "a critical alert opened on an account you own."
    role = str((team.get(member_id) or {}).get("role") or "").lower()
    if role == "manager":
        return f"a critical alert opened on an account of {owner_name}, on your team."
    if role == "vp":
        return f"a critical alert opened on an account of {owner_name}; critical alerts reach you at once."
    return f"a critical alert opened on an account of {owner_name}."


def _repeat_label(repeat: timedelta | None) -> str:
    if repeat is None or repeat <= timedelta(0):
        return ""
    hours = repeat.total_seconds() / 3600
    return f"{hours:g} hours" if hours != 24 else "day"


def build_critical_mails(
    con: duckdb.DuckDBPyConnection,
    clock: datetime,
    *,
    repeat: timedelta | None = DEFAULT_REPEAT,
    slack: bool = False,
    severities: tuple[str, ...] = CRITICAL_SEVERITIES,
    only_new: bool = False,
) -> list[Mail]:
    """One mail per recipient of each open or acknowledged critical alert's current notification,
    plus one Slack message per notification when `slack` (a webhook URL is configured).

    `only_new`: leave out the messages already in the outbox, before rendering them (every run
    would otherwise render every open critical alert's mails again for `enqueue` to drop).
    """
    require_tables(
        con, ALERTS_TABLE, TEAM_TABLE, HISTORY_TABLE, fix="build the alerts first (`healthwatch run`)"
    )
    alerts = load_active_alerts(con, severities)
    if not alerts:
        return []
    team = load_team(con)
    account_owners = load_account_owners(con)
    keys = {alert.alert_id: notification_key(alert, clock, repeat) for alert in alerts}
    queued: set[str] = set()
    if only_new:
        wanted = {
            mail_id(member_id, CRITICAL_ALERT, keys[alert.alert_id]): alert.alert_id
            for alert in alerts
            for member_id in [*recipients_of(alert, account_owners), *([SLACK_RECIPIENT] if slack else [])]
        }
        queued = queued_mail_ids(con, wanted)
        pending = {alert_id for mid, alert_id in wanted.items() if mid not in queued}
        alerts = [alert for alert in alerts if alert.alert_id in pending]
    trends = load_health_trends(con, sorted({a.account_id for a in alerts}), clock)
    mails: list[Mail] = []
    for alert in alerts:
        key = keys[alert.alert_id]
        reminder = (
            alert.notify_reason == "repeat"
            if alert.notification_key
            else repeat_index(alert, clock, repeat) > 0
        )
        owner_id = owner_of(alert, account_owners)
        trend = trends.get(alert.account_id, ())
        for member_id in recipients_of(alert, account_owners):
            if mail_id(member_id, CRITICAL_ALERT, key) in queued:
                continue
            recipient = member_recipient(member_id, team)
            if member_id == alert.owner_id and not recipient.email:
                recipient = Recipient(
                    member_id=member_id,
                    name=alert.owner_name or member_id,
                    email=alert.owner_email,
                    timezone=alert.owner_timezone or "UTC",
                )
            if not recipient.email:
                log.warning("critical alert %s: %s has no email address; left out", alert.alert_id, member_id)
                continue
            item = digest_item(alert, trend, recipient.timezone, clock)
            subject = formatting.one_line(
                f"{'Reminder: ' if reminder else ''}Critical · {alert.account_name} — {alert.type_label} (P{alert.priority})"
            )
            bodies = render_mail(
                CRITICAL_ALERT,
                subject=subject,
                preheader=alert.reason,
                recipient_name=recipient.name,
                role_line=_role_line(member_id, owner_id, alert, team),
                reminder=reminder,
                repeat_label=_repeat_label(repeat),
                date_label=formatting.day_label(clock),
                timezone=recipient.timezone,
                as_of=clock,
                item=item,
            )
            mails.append(
                Mail(
                    kind=CRITICAL_ALERT,
                    recipient_id=member_id,
                    recipient_email=recipient.email,
                    period=key,
                    subject=subject,
                    html_body=bodies.html,
                    text_body=bodies.text,
                )
            )
        if slack and mail_id(SLACK_RECIPIENT, CRITICAL_ALERT, key) not in queued:
            mails.append(slack_message(alert, key, reminder, trend, team, owner_id))
    return mails


def slack_message(
    alert: AlertView,
    key: str,
    reminder: bool,
    trend: tuple[float, ...],
    team: Mapping[str, Mapping[str, Any]],
    owner_id: str | None,
) -> Mail:
    """The Block Kit message for one critical notification, as an outbox row of channel `slack`."""
    owner_name = (team.get(owner_id or "") or {}).get("name") or alert.owner_name or owner_id or "unassigned"
    payload = render_slack(
        CRITICAL_ALERT,
        alert=alert,
        reminder=reminder,
        owner_name=owner_name,
        trend=formatting.trend_text(trend) if trend else "",
    )
    fallback = payload.get("text", "")
    return Mail(
        kind=CRITICAL_ALERT,
        recipient_id=SLACK_RECIPIENT,
        recipient_email="",
        period=key,
        subject=formatting.one_line(fallback),
        html_body="",
        text_body=fallback,
        channel="slack",
        payload=json.dumps(payload, ensure_ascii=False),
    )
