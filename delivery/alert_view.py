"""Read `alerts.health_alerts` into the one view every delivery channel presents.

CRM tasks, digests and (later) immediate mails and chat messages all show the same alert the same
way: they load it here, sort it with `sort_key`, and hand it to a template.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb

from delivery import formatting

ALERTS_TABLE = "alerts.health_alerts"
HISTORY_TABLE = "scoring.account_health_score_history"
TEAM_TABLE = "signals.team_members"

ACTIVE_STATUSES = ("open", "acknowledged")
ACTIONABLE_SEVERITIES = ("critical", "high", "medium")
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
TOP_DRIVERS = 3
TREND_POINTS = 4
# Trends read the score history of these last days only: live accounts are scored every day, and
# the history grows by a row per account and scoring (a year at 80,000 accounts: 29 M rows).
TREND_DAYS = 28

# Columns every alert row has (alerts/schema.py); a missing one is an error.
_REQUIRED_COLUMNS = (
    "alert_id",
    "account_id",
    "account_name",
    "segment",
    "arr",
    "alert_type",
    "severity",
    "priority",
    "status",
    "title",
    "reason",
    "evidence",
    "churn_probability",
    "health_score",
    "health_class",
    "drivers",
    "model_version",
    "playbook",
    "owner_id",
    "owner_name",
    "owner_email",
    "owner_timezone",
    "manager_id",
    "needs_exec_outreach",
    "opened_at",
    "sla_due_at",
)
# Read when present, None otherwise: the alerts engine adds columns over time, and delivery must
# keep working with a table from before or after (coordination is through the table only).
_OPTIONAL_COLUMNS = (
    "notify_member_ids",
    "in_manager_digest",
    "acknowledged_at",
    "escalated_at",
    "escalated_from",
    "resolved_at",
    "last_seen_at",
    "notification_key",  # if the alerts engine marks re-notifications itself (see delivery.critical)
    "notify_reason",  # opened | escalated | sla_breach | repeat | unsuppressed
    "escalation_reason",  # condition | sla_breach
    "playbook_steps",  # JSON list of the playbook's steps
)


@dataclass(frozen=True)
class AlertView:
    """An alert with its JSON parsed and its display strings ready."""

    alert_id: str
    account_id: str
    account_name: str
    segment: str | None
    arr: float | None
    alert_type: str
    severity: str
    priority: int
    status: str
    title: str | None
    reason: str
    evidence: Any
    churn_probability: float | None
    health_score: float | None
    health_class: str | None
    drivers: tuple[str, ...]
    model_version: str | None
    playbook: str | None
    owner_id: str | None
    owner_name: str | None
    owner_email: str | None
    owner_timezone: str | None
    manager_id: str | None
    needs_exec_outreach: bool
    opened_at: datetime | None
    sla_due_at: datetime | None
    notify_member_ids: tuple[str, ...] = ()
    in_manager_digest: bool | None = None
    acknowledged_at: datetime | None = None
    escalated_at: datetime | None = None
    escalated_from: str | None = None
    resolved_at: datetime | None = None
    notification_key: str | None = None
    notify_reason: str | None = None
    escalation_reason: str | None = None
    playbook_steps: tuple[str, ...] = ()

    @property
    def type_label(self) -> str:
        return formatting.humanize(self.alert_type)

    @property
    def segment_label(self) -> str:
        return formatting.segment_label(self.segment)

    @property
    def evidence_text(self) -> str:
        return formatting.evidence_text(self.evidence)

    @property
    def arr_text(self) -> str:
        return formatting.money(self.arr)

    @property
    def account_facts(self) -> str:
        """`Enterprise · ARR $240k`, leaving out what is unknown."""
        parts = [self.segment_label, f"ARR {self.arr_text}" if self.arr is not None else ""]
        return " · ".join(p for p in parts if p)

    @property
    def churn_text(self) -> str:
        return formatting.percent(self.churn_probability)

    @property
    def crm_priority(self) -> str:
        return formatting.crm_priority(self.priority)

    @property
    def escalation_text(self) -> str:
        """`Escalated from high after its SLA passed`, or '' when it never escalated."""
        if not self.escalated_from:
            return ""
        text = f"Escalated from {self.escalated_from}"
        return text + (" after its SLA passed" if self.escalation_reason == "sla_breach" else "")


def sort_key(alert: AlertView) -> tuple:
    """Priority first, then severity, then ARR (largest first), then stable tie-breakers."""
    return (
        alert.priority,
        SEVERITY_RANK.get(alert.severity, len(SEVERITY_RANK)),
        -(alert.arr or 0.0),
        alert.account_name.casefold(),
        alert.alert_id,
    )


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def driver_sentences(drivers: Any, limit: int = TOP_DRIVERS) -> tuple[str, ...]:
    """The sentences of the largest contributions (by absolute value), as the model explained them."""
    drivers = _json(drivers)
    if not isinstance(drivers, list):
        return ()
    entries = [d for d in drivers if isinstance(d, dict)]

    def weight(driver: dict) -> float:
        contribution = driver.get("contribution")
        return -abs(contribution) if isinstance(contribution, int | float) else 0.0

    entries.sort(key=weight)
    sentences = []
    for driver in entries[:limit]:
        sentence = (
            driver.get("sentence") or f"{formatting.humanize(driver.get('feature'))} = {driver.get('value')}"
        )
        sentences.append(str(sentence))
    return tuple(sentences)


def _member_ids(value: Any) -> tuple[str, ...]:
    value = _json(value)
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value if v)
    return ()


def _view(row: dict[str, Any]) -> AlertView:
    return AlertView(
        alert_id=str(row["alert_id"]),
        account_id=str(row["account_id"]),
        account_name=row["account_name"] or str(row["account_id"]),
        segment=row["segment"],
        arr=row["arr"],
        alert_type=row["alert_type"] or "",
        severity=row["severity"] or "",
        priority=int(row["priority"]),
        status=row["status"],
        title=row["title"],
        reason=row["reason"] or "",
        evidence=_json(row["evidence"]),
        churn_probability=row["churn_probability"],
        health_score=row["health_score"],
        health_class=row["health_class"],
        drivers=driver_sentences(row["drivers"]),
        model_version=row["model_version"],
        playbook=row["playbook"],
        owner_id=row["owner_id"],
        owner_name=row["owner_name"],
        owner_email=row["owner_email"],
        owner_timezone=row["owner_timezone"],
        manager_id=row["manager_id"],
        needs_exec_outreach=bool(row["needs_exec_outreach"]),
        opened_at=row["opened_at"],
        sla_due_at=row["sla_due_at"],
        notify_member_ids=_member_ids(row.get("notify_member_ids")),
        in_manager_digest=row.get("in_manager_digest"),
        acknowledged_at=row.get("acknowledged_at"),
        escalated_at=row.get("escalated_at"),
        escalated_from=row.get("escalated_from"),
        resolved_at=row.get("resolved_at"),
        notification_key=None if row.get("notification_key") is None else str(row["notification_key"]),
        notify_reason=row.get("notify_reason"),
        escalation_reason=row.get("escalation_reason"),
        playbook_steps=_steps(row.get("playbook_steps")),
    )


def _steps(value: Any) -> tuple[str, ...]:
    value = _json(value)
    if not isinstance(value, list):
        return ()
    steps = []
    for step in value:
        if isinstance(step, dict):
            step = step.get("text") or step.get("step") or step.get("title") or ""
        if step:
            steps.append(str(step))
    return tuple(steps)


def table_columns(con: duckdb.DuckDBPyConnection, qualified: str) -> set[str]:
    schema, name = qualified.split(".")
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchall()
    return {r[0] for r in rows}


def _select_list(con: duckdb.DuckDBPyConnection) -> str:
    have = table_columns(con, ALERTS_TABLE)
    optional = [c if c in have else f"null as {c}" for c in _OPTIONAL_COLUMNS]
    return ", ".join([*_REQUIRED_COLUMNS, *optional])


def _load(con: duckdb.DuckDBPyConnection, where: str, params: dict[str, Any]) -> list[AlertView]:
    cursor = con.execute(f"select {_select_list(con)} from {ALERTS_TABLE} where {where}", params)
    names = [d[0] for d in cursor.description]
    return [_view(dict(zip(names, row, strict=True))) for row in cursor.fetchall()]


def _active(severities: tuple[str, ...] | None) -> tuple[str, dict[str, Any]]:
    where = "status in (select unnest($statuses))"
    params: dict[str, Any] = {"statuses": list(ACTIVE_STATUSES)}
    if severities is not None:
        where += " and severity in (select unnest($severities))"
        params["severities"] = list(severities)
    return where, params


def active_alerts_sql(
    con: duckdb.DuckDBPyConnection, severities: tuple[str, ...] | None = None
) -> tuple[str, dict[str, Any]]:
    """The query (and its parameters) of the active alerts' rows as `AlertView` reads them."""
    where, params = _active(severities)
    return f"select {_select_list(con)} from {ALERTS_TABLE} where {where}", params


def load_active_alerts(
    con: duckdb.DuckDBPyConnection,
    severities: tuple[str, ...] | None = None,
    alert_ids: list[str] | None = None,
) -> list[AlertView]:
    """Open and acknowledged alerts (optionally of some severities, or only these ids), sorted by
    `sort_key`."""
    where, params = _active(severities)
    if alert_ids is not None:
        where += " and alert_id in (select unnest($alert_ids))"
        params["alert_ids"] = list(alert_ids)
    return sorted(_load(con, where, params), key=sort_key)


def load_alerts_changed_since(con: duckdb.DuckDBPyConnection, since: datetime) -> list[AlertView]:
    """Every alert opened or resolved at or after `since` (any status): the week in a manager digest."""
    return _load(
        con,
        "opened_at >= $since or resolved_at >= $since"
        if "resolved_at" in table_columns(con, ALERTS_TABLE)
        else "opened_at >= $since",
        {"since": since},
    )


def load_health_trends(
    con: duckdb.DuckDBPyConnection, account_ids: list[str], as_of: datetime, points: int = TREND_POINTS
) -> dict[str, tuple[float, ...]]:
    """The last `points` daily health scores per account up to `as_of`, oldest first, from the
    TREND_DAYS days before it.

    Incremental rescoring writes several scores a day: the last one of each day stands for it.
    """
    if not account_ids:
        return {}
    rows = con.execute(
        f"""
        with scores as (
            select account_id, scored_at, health_score
            from {HISTORY_TABLE}
            where account_id in (select unnest($ids)) and health_score is not null
                and scored_at <= $as_of and scored_at > $since
        ),
        daily as (
            select account_id, cast(scored_at as date) as scored_date, health_score,
                row_number() over (
                    partition by account_id, cast(scored_at as date) order by scored_at desc
                ) as nth_in_day
            from scores
        ),
        latest as (
            select account_id, scored_date, health_score,
                row_number() over (partition by account_id order by scored_date desc) as nth_latest
            from daily
            where nth_in_day = 1
        )
        select account_id, health_score
        from latest
        where nth_latest <= $points
        order by account_id, scored_date
        """,
        {
            "ids": list(account_ids),
            "as_of": as_of,
            "since": as_of - timedelta(days=TREND_DAYS),
            "points": points,
        },
    ).fetchall()
    trends: dict[str, list[float]] = {}
    for account_id, score in rows:
        trends.setdefault(account_id, []).append(float(score))
    return {account_id: tuple(scores) for account_id, scores in trends.items()}


def load_team(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    """Team members by id: name, email, role, manager_id, timezone."""
    cursor = con.execute(f"select member_id, name, email, role, manager_id, timezone from {TEAM_TABLE}")
    names = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


ACCOUNTS_TABLE = "signals.accounts"


def load_account_owners(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The current CSM of each account (`signals.accounts.csm_id`), when that table is there.

    Digests go to the account's owner now: an alert row written before the account changed hands
    must not land in the previous CSM's mail.
    """
    if "csm_id" not in table_columns(con, ACCOUNTS_TABLE):
        return {}
    rows = con.execute(f"select account_id, csm_id from {ACCOUNTS_TABLE} where csm_id is not null").fetchall()
    return {str(account_id): str(csm_id) for account_id, csm_id in rows}


def owner_of(alert: AlertView, account_owners: dict[str, str]) -> str | None:
    """Who owns the alert's account: the account's current CSM, else the alert's owner."""
    return account_owners.get(alert.account_id) or alert.owner_id
