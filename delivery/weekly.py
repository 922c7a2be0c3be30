"""The weekly manager digest: one mail per manager, about their team's accounts only.

The team is the CSMs who report to the manager in `signals.team_members`; an alert belongs to the
team of its account's current owner (`delivery.alert_view.owner_of`). It shows the team's open
alerts of medium severity and up (or what the alerts engine marked `in_manager_digest`), the ones
past their SLA, a line per CSM, the week's openings and resolutions, and alert precision per type
from `alerts.rule_performance` when the alerts engine has written it.
"""

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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
    load_alerts_changed_since,
    load_health_trends,
    load_team,
    owner_of,
    table_columns,
)
from delivery.digest import DigestItem, Recipient, digest_item, member_recipient
from delivery.outbox import Mail
from delivery.render import render_mail
from healthwatch.warehouse import require_tables

log = logging.getLogger(__name__)

WEEKLY_DIGEST = "weekly_digest"
RULE_PERFORMANCE_TABLE = "alerts.rule_performance"
MANAGER_SEVERITIES = ("critical", "high", "medium")
MAX_LISTED_ALERTS = 25
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class TeamItem(DigestItem):
    """A digest item that also names the CSM who owns the account."""

    owner_id: str = ""
    owner_name: str = ""


@dataclass(frozen=True)
class CsmLine:
    member_id: str
    name: str
    open: int
    urgent: int  # P1–P3
    critical: int
    breaches: int


@dataclass(frozen=True)
class PrecisionLine:
    alert_type: str
    label: str
    alerts: int
    precision: float | None  # None: not enough outcomes yet


def in_manager_view(alert: AlertView) -> bool:
    """The alerts engine's `in_manager_digest` when it wrote one, else medium severity and up."""
    if alert.in_manager_digest is not None:
        return bool(alert.in_manager_digest)
    return alert.severity in MANAGER_SEVERITIES


def is_sla_breach(alert: AlertView, now: datetime) -> bool:
    """Open (nobody acknowledged it) and past its SLA due time."""
    return alert.status == "open" and alert.sla_due_at is not None and alert.sla_due_at < now


def team_of(
    owner_id: str | None, alert: AlertView | None, team: Mapping[str, Mapping[str, Any]]
) -> str | None:
    """The manager an account owner reports to: from the team table, else the alert's routing."""
    if owner_id and owner_id in team:
        return team[owner_id].get("manager_id")
    return alert.manager_id if alert is not None else None


def load_precision(con: duckdb.DuckDBPyConnection) -> list[PrecisionLine]:
    """Precision per alert type from `alerts.rule_performance` (alert_type, segment, precision,
    alerts[, with_outcome]), weighted across segments by the alerts with an outcome (by all alerts
    when the table lacks that column); [] when the table or its columns are not there."""
    columns = table_columns(con, RULE_PERFORMANCE_TABLE)
    if not {"alert_type", "precision", "alerts"} <= columns:
        return []
    # Precision is a share of the alerts with an outcome: across segments, weigh by those.
    weight = "with_outcome" if "with_outcome" in columns else "alerts"
    rows = con.execute(
        f"""
        select alert_type,
            sum(coalesce(alerts, 0)) as alerts,
            sum(precision * {weight}) filter (where precision is not null and {weight} > 0)
                / nullif(sum({weight}) filter (where precision is not null and {weight} > 0), 0) as precision
        from {RULE_PERFORMANCE_TABLE}
        where alert_type is not null
        group by alert_type
        order by alert_type
        """
    ).fetchall()
    return [
        PrecisionLine(
            alert_type=str(alert_type),
            label=formatting.humanize(str(alert_type)),
            alerts=int(alerts or 0),
            precision=None if precision is None else float(precision),
        )
        for alert_type, alerts, precision in rows
    ]


def _csm_lines(
    members: list[str], items: list[TeamItem], team: Mapping[str, Mapping[str, Any]], now: datetime
) -> list[CsmLine]:
    by_owner: dict[str, list[TeamItem]] = {m: [] for m in members}
    for item in items:
        by_owner.setdefault(item.owner_id, []).append(item)
    lines = [
        CsmLine(
            member_id=member_id,
            name=(team.get(member_id) or {}).get("name") or (owned[0].owner_name if owned else member_id),
            open=len(owned),
            urgent=sum(i.alert.priority <= 3 for i in owned),
            critical=sum(i.alert.severity == "critical" for i in owned),
            breaches=sum(is_sla_breach(i.alert, now) for i in owned),
        )
        for member_id, owned in by_owner.items()
    ]
    return sorted(lines, key=lambda line: (-line.breaches, -line.critical, -line.open, line.name.casefold()))


def render_weekly_digest(
    recipient: Recipient,
    items: list[TeamItem],
    members: list[str],
    team: Mapping[str, Mapping[str, Any]],
    precision: list[PrecisionLine],
    opened_this_week: int,
    resolved_this_week: int,
    clock: datetime,
) -> Mail:
    breaches = [i for i in items if is_sla_breach(i.alert, clock)]
    critical = sum(i.alert.severity == "critical" for i in items)
    week_label = formatting.iso_week(clock)
    subject = formatting.one_line(
        f"healthwatch · your team's week: {len(items)} open alert{'s' * (len(items) != 1)}"
        + (f", {len(breaches)} past SLA" if breaches else "")
    )
    headline = f"Your team has {len(items)} open alert{'s' * (len(items) != 1)}" + (
        f"; {len(breaches)} {'is' if len(breaches) == 1 else 'are'} past the SLA." if breaches else "."
    )
    bodies = render_mail(
        WEEKLY_DIGEST,
        subject=subject,
        preheader=headline,
        headline=headline,
        recipient_name=recipient.name,
        week_label=week_label,
        timezone=recipient.timezone,
        as_of=clock,
        stats=[
            ("open alerts", len(items), "neutral"),
            ("critical", critical, "critical" if critical else "neutral"),
            ("past SLA", len(breaches), "critical" if breaches else "good"),
            ("opened in 7 days", opened_this_week, "neutral"),
            ("resolved in 7 days", resolved_this_week, "good" if resolved_this_week else "neutral"),
        ],
        breaches=breaches,
        by_csm=_csm_lines(members, items, team, clock),
        items=items[:MAX_LISTED_ALERTS],
        total_open=len(items),
        precision=precision,
    )
    return Mail(
        kind=WEEKLY_DIGEST,
        recipient_id=recipient.member_id,
        recipient_email=recipient.email or "",
        period=week_label,
        subject=subject,
        html_body=bodies.html,
        text_body=bodies.text,
    )


def build_weekly_digests(con: duckdb.DuckDBPyConnection, clock: datetime) -> list[Mail]:
    """One digest per manager with a team (CSMs reporting to them), their team's accounts only."""
    require_tables(
        con,
        ALERTS_TABLE,
        TEAM_TABLE,
        HISTORY_TABLE,
        fix="build the signals, scores and alerts first (`healthwatch run`)",
    )
    team = load_team(con)
    account_owners = load_account_owners(con)
    managers = sorted(m for m, member in team.items() if str(member.get("role") or "").lower() == "manager")
    members_of: dict[str, list[str]] = {m: [] for m in managers}
    for member_id, member in sorted(team.items()):
        manager_id = member.get("manager_id")
        if manager_id in members_of and str(member.get("role") or "").lower() == "csm":
            members_of[manager_id].append(member_id)

    active = [a for a in load_active_alerts(con) if in_manager_view(a)]
    trends = load_health_trends(con, sorted({a.account_id for a in active}), clock)
    recent = load_alerts_changed_since(con, clock - WEEK)
    precision = load_precision(con)

    def by_manager(alerts: Iterable[AlertView]) -> dict[str | None, list[AlertView]]:
        # each alert to its manager once (not every alert for every manager: 420 managers at L)
        grouped: dict[str | None, list[AlertView]] = {}
        for alert in alerts:
            grouped.setdefault(team_of(owner_of(alert, account_owners), alert, team), []).append(alert)
        return grouped

    active_of = by_manager(active)
    recent_of = by_manager(a for a in recent if in_manager_view(a))

    mails = []
    week_start = clock - WEEK
    for manager_id in managers:
        recipient = member_recipient(manager_id, team)
        if not members_of[manager_id]:
            continue  # nobody reports to them: no team view to send
        if not recipient.email:
            log.warning("weekly digest: manager %s has no email address; left out", manager_id)
            continue
        items = []
        for alert in active_of.get(manager_id, []):
            owner_id = owner_of(alert, account_owners)
            base = digest_item(alert, trends.get(alert.account_id, ()), recipient.timezone, clock)
            owner = team.get(owner_id or "", {})
            items.append(
                TeamItem(
                    **{f: getattr(base, f) for f in DigestItem.__dataclass_fields__},
                    owner_name=owner.get("name") or alert.owner_name or owner_id or "unassigned",
                    owner_id=owner_id or "",
                )
            )
        team_recent = recent_of.get(manager_id, [])
        opened = sum(a.opened_at is not None and a.opened_at >= week_start for a in team_recent)
        resolved = sum(
            a.status == "resolved" and a.resolved_at is not None and a.resolved_at >= week_start
            for a in team_recent
        )
        mails.append(
            render_weekly_digest(
                recipient, items, members_of[manager_id], team, precision, opened, resolved, clock
            )
        )
    return mails
