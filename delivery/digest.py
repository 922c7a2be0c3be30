"""The daily CSM digest: one mail per alert owner with open or acknowledged alerts on their accounts.

Recipients are the alerts' owners (the alert engine routes each alert to its account's CSM);
`signals.team_members` gives their current address, name and timezone when it knows them.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
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
from delivery.outbox import Mail
from delivery.render import render_mail
from healthwatch.warehouse import require_tables

log = logging.getLogger(__name__)

DAILY_DIGEST = "daily_digest"


@dataclass(frozen=True)
class DigestItem:
    """An alert as a digest shows it: with the account's trend and the due time in the reader's zone."""

    alert: AlertView
    trend: str
    due_local: str
    due_relative: str
    overdue: bool
    spark: str = ""


@dataclass(frozen=True)
class Recipient:
    member_id: str
    name: str
    email: str | None
    timezone: str


def _recipient(owner_id: str, alerts: list[AlertView], team: Mapping[str, Mapping[str, Any]]) -> Recipient:
    member = team.get(owner_id, {})
    # The alert's contact fields describe its owner: use them only for that same person.
    first = next((a for a in alerts if a.owner_id == owner_id), None)
    return Recipient(
        member_id=owner_id,
        name=member.get("name") or (first.owner_name if first else None) or owner_id,
        email=member.get("email") or (first.owner_email if first else None),
        timezone=member.get("timezone") or (first.owner_timezone if first else None) or "UTC",
    )


def member_recipient(member_id: str, team: Mapping[str, Mapping[str, Any]]) -> Recipient:
    """A team member as a recipient (managers, VPs): address and timezone from `signals.team_members`."""
    member = team.get(member_id, {})
    return Recipient(
        member_id=member_id,
        name=member.get("name") or member_id,
        email=member.get("email"),
        timezone=member.get("timezone") or "UTC",
    )


def digest_item(alert: AlertView, trend: tuple[float, ...], timezone: str, now: datetime) -> DigestItem:
    if not trend and alert.health_score is not None:
        trend = (alert.health_score,)  # no history yet: the score the alert fired with
    return DigestItem(
        alert=alert,
        trend=formatting.trend_text(trend),
        due_local=formatting.local_time(alert.sla_due_at, timezone),
        due_relative=formatting.due_relative(alert.sla_due_at, now),
        overdue=alert.sla_due_at is not None and alert.sla_due_at < now,
        spark=formatting.sparkline(trend) if len(trend) > 1 else "",
    )


def counts(items: list[DigestItem]) -> tuple[int, int, int]:
    """(accounts, P1 accounts, overdue alerts): an account is counted once however many alerts it has."""
    accounts = {item.alert.account_id for item in items}
    p1_accounts = {item.alert.account_id for item in items if item.alert.priority == 1}
    return len(accounts), len(p1_accounts), sum(item.overdue for item in items)


def _need_you(accounts: int) -> str:
    return f"{accounts} account needs you today" if accounts == 1 else f"{accounts} accounts need you today"


def digest_subject(items: list[DigestItem]) -> str:
    """`healthwatch · 5 accounts need you today (2 P1)`."""
    accounts, p1, _ = counts(items)
    return f"healthwatch · {_need_you(accounts)}" + (f" ({p1} P1)" if p1 else "")


def render_daily_digest(recipient: Recipient, items: list[DigestItem], clock: datetime) -> Mail:
    accounts, p1, overdue = counts(items)
    extras = [f"{p1} P1"] * bool(p1) + [f"{overdue} overdue"] * bool(overdue)
    summary = _need_you(accounts) + (f": {', '.join(extras)}" if extras else "")
    subject = formatting.one_line(digest_subject(items))
    bodies = render_mail(
        DAILY_DIGEST,
        subject=subject,
        preheader=summary,
        headline=summary + ".",
        recipient_name=recipient.name,
        date_label=formatting.day_label(clock),
        stats=[
            ("accounts", accounts, "neutral"),
            ("P1", p1, "critical" if p1 else "neutral"),
            ("overdue", overdue, "critical" if overdue else "neutral"),
        ],
        timezone=recipient.timezone,
        as_of=clock,
        items=items,
    )
    return Mail(
        kind=DAILY_DIGEST,
        recipient_id=recipient.member_id,
        recipient_email=recipient.email or "",
        period=clock.date().isoformat(),
        subject=subject,
        html_body=bodies.html,
        text_body=bodies.text,
    )


def build_daily_digests(con: duckdb.DuckDBPyConnection, clock: datetime) -> list[Mail]:
    """One digest per owner of open/acknowledged alerts, their accounts only, most urgent first.

    The owner is the account's current CSM (`signals.accounts`), falling back to the alert's owner.
    """
    require_tables(
        con,
        ALERTS_TABLE,
        TEAM_TABLE,
        HISTORY_TABLE,
        fix="build the signals, scores and alerts first (`healthwatch run`)",
    )
    alerts = load_active_alerts(con)
    team = load_team(con)
    account_owners = load_account_owners(con)
    trends = load_health_trends(con, sorted({a.account_id for a in alerts}), clock)
    by_owner: dict[str, list[AlertView]] = {}
    for alert in alerts:
        owner_id = owner_of(alert, account_owners)
        if not owner_id:
            log.warning(
                "digest: alert %s on %s has no owner; it is left out", alert.alert_id, alert.account_id
            )
            continue
        by_owner.setdefault(owner_id, []).append(alert)
    mails = []
    for owner_id in sorted(by_owner):
        owned = by_owner[owner_id]  # already in priority order
        recipient = _recipient(owner_id, owned, team)
        if not recipient.email:
            log.warning(
                "digest: %s has no email address; their %d alert(s) are left out", owner_id, len(owned)
            )
            continue
        items = [digest_item(a, trends.get(a.account_id, ()), recipient.timezone, clock) for a in owned]
        mails.append(render_daily_digest(recipient, items, clock))
    return mails
