"""The alert engine: signals + baselines + scores + owners → rules → alerts.health_alerts.

One run, one transaction:
1. SQL (DuckDB) builds one evaluation row per active account: its latest signal day at or before
   the clock, that day's baselines, its current score, its owner chain, and a few facts derived
   from recent history (failed-payment days, cancellation-request days, champion activity two
   weeks earlier).
2. Python judges each row against the rules (alerts.evaluate), then sets priority, routing and the
   SLA for each hit.
3. Hits are merged with the live alerts of the evaluated accounts (alerts.lifecycle) and the changed
   rows are written back set-wise (one UPDATE and one INSERT from a staged Arrow table).
"""

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import duckdb

from alerts.conditions import ALERT_TYPES, DERIVED_COLUMNS, HISTORY_DAYS
from alerts.evaluate import RuleHit, evaluate_row, still_holds
from alerts.keys import dedup_key
from alerts.lifecycle import hold_alert, open_alert, refresh_alert, resolve_alert
from alerts.priority import priority
from alerts.routing import OwnerChain, route
from alerts.rules import AlertRulesFile, load_alert_rules
from alerts.schema import ALERTS_TABLE, COLUMN_NAMES, JSON_COLUMNS, ensure_alerts_table, to_arrow
from alerts.sla import country_for_timezone, sla_due_at
from alerts.types import ACTIVE_STATUSES, SEGMENTS, SEVERITIES, max_severity
from healthwatch.config import CalendarConfig, Settings
from healthwatch.errors import HealthwatchError
from healthwatch.warehouse import data_clock, require_tables, table_exists

SIGNALS = "signals.account_signals_daily"
BASELINES = "signals.account_baselines"
ACCOUNTS = "signals.accounts"
SCORES = "scoring.account_health_scores"

# Columns the engine itself reads (the rules' own needs are checked per enabled rule).
ACCOUNT_COLUMNS = (
    "account_id",
    "name",
    "segment",
    "arr",
    "is_churned",
    # the owner chain routing reads
    "csm_id",
    "csm_name",
    "csm_email",
    "csm_timezone",
    "manager_id",
    "vp_id",
)
SIGNAL_COLUMNS = (
    "account_id",
    "signal_date",
    "payment_failures",
    "cancellation_requests_90d",
    "champion_active_days_14d",
)
BASELINE_COLUMNS = ("account_id", "signal_date")
# Stand-ins when no scores table exists yet (first run before a model is trained).
SCORE_PLACEHOLDERS = {
    "scored_at": "timestamp",
    "model_version": "varchar",
    "churn_probability": "double",
    "health_score": "double",
    "health_class": "varchar",
    "previous_health_class": "varchar",
    "drivers": "varchar",
}
DEFAULT_TIMEZONE = "UTC"


@dataclass(frozen=True)
class AlertRunSummary:
    """What one run did.

    `fired` counts rule hits (new or repeated) and `by_severity` splits them by final severity;
    `updated` counts live alerts refreshed by a hit or held open by their type; `escalated` the
    refreshed ones whose severity rose; `resolved` includes churned accounts and disabled rules.
    """

    evaluated_accounts: int
    fired: int
    opened: int
    updated: int
    resolved: int
    by_severity: dict[str, int] = field(default_factory=dict)
    escalated: int = 0
    clock: datetime | None = None
    scores_available: bool = True


def evaluate_alerts(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    clock: datetime | None = None,
    account_ids: Iterable[str] | None = None,
) -> AlertRunSummary:
    """Evaluate every active account (or only `account_ids`) and upsert alerts.health_alerts.

    `clock` is the pipeline's "now" (naive UTC); by default the data clock of the change tables.
    """
    rules = load_alert_rules(settings.alert_rules_path)
    now = clock if clock is not None else data_clock(con)
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    ids = None if account_ids is None else sorted(set(account_ids))
    require_tables(
        con, SIGNALS, BASELINES, ACCOUNTS, fix="build the signals first (`healthwatch run` or `dbt build`)"
    )
    con.begin()
    try:
        summary = _run(con, settings, rules, now, ids)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return summary


def _run(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    rules: AlertRulesFile,
    now: datetime,
    ids: list[str] | None,
) -> AlertRunSummary:
    ensure_alerts_table(con)
    scores_available = table_exists(con, SCORES)
    rows = _evaluation_rows(con, now.date(), ids, scores_available)
    _check_rule_inputs(rows, rules)

    live = _live_alerts(con, [r["account_id"] for r in rows])
    calendar = settings.config.calendar

    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    by_severity: Counter[str] = Counter()
    for row in rows:
        account_live = live.get(row["account_id"], {})
        for hit in evaluate_row(row, rules):
            existing = account_live.pop(hit.alert_type, None)
            severity = hit.severity if existing is None else max_severity(existing["severity"], hit.severity)
            key = dedup_key(row["account_id"], hit.alert_type)
            candidate = _candidate(row, hit, severity, key, now, rules, calendar)
            if existing is None:
                inserts.append(open_alert(candidate, now))
            else:
                refreshed = refresh_alert(existing, candidate, now)
                counts["escalated"] += refreshed["severity"] != existing["severity"]
                updates.append(refreshed)
            by_severity[severity] += 1
        # Live alerts of this account that did not fire again: held open, or resolved.
        for alert_type, existing in sorted(account_live.items()):
            if still_holds(row, rules, alert_type, json.loads(existing["evidence"] or "{}")):
                updates.append(hold_alert(existing, now, row["signal_date"]))
            else:
                enabled = alert_type in ALERT_TYPES and rules.effective(alert_type, row["segment"]).enabled
                resolution = "condition_cleared" if enabled else "rule_disabled"
                updates.append(resolve_alert(existing, now, resolution))
                counts["resolved"] += 1

    for existing in _live_alerts_of_churned(con, ids):
        updates.append(resolve_alert(existing, now, "account_churned"))
        counts["resolved"] += 1

    opened = _write(con, inserts, updates)
    return AlertRunSummary(
        evaluated_accounts=len(rows),
        fired=sum(by_severity.values()),
        opened=opened,
        updated=len(updates) - counts["resolved"],
        resolved=counts["resolved"],
        by_severity={s: by_severity[s] for s in SEVERITIES},
        escalated=counts["escalated"],
        clock=now,
        scores_available=scores_available,
    )


# ---------------------------------------------------------------- reading


def _columns(con: duckdb.DuckDBPyConnection, qualified: str) -> list[str]:
    schema, name = qualified.split(".")
    return [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, name],
        ).fetchall()
    ]


def _require_columns(have: list[str], table: str, needed: Iterable[str]) -> None:
    missing = [c for c in needed if c not in have]
    if missing:
        raise HealthwatchError(
            f"{table} has no column {', '.join(missing)}",
            "rebuild the signals (`dbt build`) with this version",
        )


def _evaluation_rows(
    con: duckdb.DuckDBPyConnection, as_of: date, ids: list[str] | None, scores_available: bool
) -> list[dict[str, Any]]:
    """One row per active account with a signal day on or before `as_of` (SQL does the set work)."""
    account_cols = _columns(con, ACCOUNTS)
    signal_cols = _columns(con, SIGNALS)
    baseline_cols = _columns(con, BASELINES)
    _require_columns(account_cols, ACCOUNTS, ACCOUNT_COLUMNS)
    _require_columns(signal_cols, SIGNALS, SIGNAL_COLUMNS)
    _require_columns(baseline_cols, BASELINES, BASELINE_COLUMNS)
    score_cols = _columns(con, SCORES) if scores_available else []

    # Later tables never shadow a name an earlier one already gave (accounts win: current CRM state).
    select: list[str] = []
    taken: set[str] = set()

    def add(alias: str, columns: list[str], exprs: dict[str, str] | None = None, rename: dict | None = None):
        for column in columns:
            out = (rename or {}).get(column, column)
            if out in taken:
                continue
            taken.add(out)
            expr = (exprs or {}).get(column, f'{alias}."{column}"')
            select.append(f'{expr} as "{out}"')

    add("a", account_cols, rename={"name": "account_name"})
    add("s", signal_cols)
    add("b", baseline_cols)
    if scores_available:
        add("h", score_cols, exprs={"drivers": "cast(cast(h.drivers as json) as varchar)"})
    else:
        for column, sql_type in SCORE_PLACEHOLDERS.items():
            if column not in taken:
                taken.add(column)
                select.append(f'cast(null as {sql_type}) as "{column}"')
    # Derived facts come from the `derived` CTE, except the champion's prior activity (`prior`).
    for column in DERIVED_COLUMNS:
        select.append(f'{"p" if column == "champion_active_days_14d_prior" else "d"}."{column}"')

    id_filter = "and account_id in (select unnest($ids))" if ids is not None else ""
    score_cte = (
        f"""scores as (
            select * from {SCORES}
            qualify row_number() over (
                partition by account_id order by {"scored_at desc" if "scored_at" in score_cols else "1"}
            ) = 1
        ),"""
        if scores_available
        else ""
    )
    score_join = "left join scores h on h.account_id = a.account_id" if scores_available else ""
    sql = f"""
        with latest as (
            select account_id, max(signal_date) as signal_date
            from {SIGNALS}
            where signal_date <= $as_of {id_filter}
            group by account_id
        ),
        -- one extra day before the window so the first day's change in a rolling count is known
        history as (
            select
                s.account_id,
                s.signal_date,
                l.signal_date as as_of_date,
                s.payment_failures,
                s.cancellation_requests_90d - coalesce(
                    lag(s.cancellation_requests_90d) over (partition by s.account_id order by s.signal_date),
                    0
                ) as new_cancellation_requests
            from {SIGNALS} as s
            inner join latest as l on l.account_id = s.account_id
            where s.signal_date <= l.signal_date and s.signal_date >= l.signal_date - {HISTORY_DAYS + 1}
        ),
        derived as (
            select
                h.account_id,
                list({{'date': h.signal_date, 'count': h.payment_failures}} order by h.signal_date)
                    filter (where h.payment_failures > 0) as payment_failure_days,
                list({{'date': h.signal_date, 'count': h.new_cancellation_requests}} order by h.signal_date)
                    filter (where h.new_cancellation_requests > 0) as cancellation_request_days
            from history as h
            where h.signal_date > h.as_of_date - {HISTORY_DAYS}
            group by h.account_id
        ),
        -- the champion's activity as it stood two weeks earlier (the window before the current one)
        prior as (
            select p.account_id, p.champion_active_days_14d as champion_active_days_14d_prior
            from {SIGNALS} as p
            inner join latest as l on l.account_id = p.account_id and p.signal_date = l.signal_date - 14
        ),
        {score_cte}
        final as (
            select {", ".join(select)}
            from {ACCOUNTS} as a
            inner join latest as l on l.account_id = a.account_id
            inner join {SIGNALS} as s on s.account_id = l.account_id and s.signal_date = l.signal_date
            left join {BASELINES} as b on b.account_id = s.account_id and b.signal_date = s.signal_date
            {score_join}
            left join derived as d on d.account_id = a.account_id
            left join prior as p on p.account_id = a.account_id
            where not coalesce(a.is_churned, false)
        )
        select * from final order by account_id
    """
    params: dict[str, Any] = {"as_of": as_of}
    if ids is not None:
        params["ids"] = ids
    result = con.execute(sql, params)
    names = [d[0] for d in result.description]
    return [dict(zip(names, values, strict=True)) for values in result.fetchall()]


def _check_rule_inputs(rows: list[dict[str, Any]], rules: AlertRulesFile) -> None:
    """Every enabled rule must find the columns it reads, or the run stops with one clear line."""
    if not rows:
        return
    have = rows[0].keys()
    for alert_type in rules.enabled_types():
        spec = ALERT_TYPES[alert_type]
        needed = set().union(
            *(spec.needs(rules.effective(alert_type, s).thresholds) for s in (None, *SEGMENTS))
        )
        missing = sorted(needed - have)
        if missing:
            raise HealthwatchError(
                f"alert rule {alert_type} needs {', '.join(missing)}, which the signals do not provide",
                "rebuild the signals with this version, or set `enabled: false` for the rule in alert_rules.yml",
            )


def _fetch_dicts(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[dict[str, Any]]:
    result = con.execute(sql, params or [])
    names = [d[0] for d in result.description]
    return [dict(zip(names, values, strict=True)) for values in result.fetchall()]


def _live_alerts(
    con: duckdb.DuckDBPyConnection, account_ids: list[str]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Open and acknowledged alerts of these accounts: account_id → alert_type → row."""
    if not account_ids:
        return {}
    rows = _fetch_dicts(
        con,
        f"select {', '.join(COLUMN_NAMES)} from {ALERTS_TABLE} "
        f"where status in ({', '.join('?' * len(ACTIVE_STATUSES))}) "
        "and account_id in (select unnest(?)) order by opened_at",
        [*ACTIVE_STATUSES, account_ids],
    )
    # Should a key ever hold two live rows, the newest wins and the older is left as is.
    live: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        live.setdefault(row["account_id"], {})[row["alert_type"]] = row
    return live


def _live_alerts_of_churned(con: duckdb.DuckDBPyConnection, ids: list[str] | None) -> list[dict[str, Any]]:
    id_filter = "and h.account_id in (select unnest(?))" if ids is not None else ""
    return _fetch_dicts(
        con,
        f"select {', '.join('h.' + c for c in COLUMN_NAMES)} from {ALERTS_TABLE} as h "
        f"inner join {ACCOUNTS} as a on a.account_id = h.account_id "
        f"where coalesce(a.is_churned, false) "
        f"and h.status in ({', '.join('?' * len(ACTIVE_STATUSES))}) {id_filter} "
        "order by h.alert_id",
        [*ACTIVE_STATUSES, *([ids] if ids is not None else [])],
    )


# ---------------------------------------------------------------- per-alert logic


def _candidate(
    row: dict[str, Any],
    hit: RuleHit,
    severity: str,
    key: str,
    now: datetime,
    rules: AlertRulesFile,
    calendar: CalendarConfig,
) -> dict[str, Any]:
    """Every non-lifecycle column of an alert row for this hit at `severity`."""
    owners = OwnerChain(
        csm_id=row.get("csm_id"),
        csm_name=row.get("csm_name"),
        csm_email=row.get("csm_email"),
        csm_timezone=row.get("csm_timezone"),
        manager_id=row.get("manager_id"),
        vp_id=row.get("vp_id"),
    )
    routing = route(severity, owners, rules.routing)
    timezone = routing.owner_timezone or DEFAULT_TIMEZONE
    country = country_for_timezone(
        routing.owner_timezone, calendar.country_by_timezone, calendar.default_country
    )
    return {
        "dedup_key": key,
        "account_id": row["account_id"],
        "account_name": row.get("account_name"),
        "segment": row.get("segment"),
        "arr": row.get("arr"),
        "alert_type": hit.alert_type,
        "severity": severity,
        "priority": priority(severity, row.get("segment")),
        "title": hit.title,
        "reason": hit.reason,
        "evidence": json.dumps(hit.evidence, ensure_ascii=False, default=str),
        "churn_probability": row.get("churn_probability"),
        "health_score": row.get("health_score"),
        "health_class": row.get("health_class"),
        "drivers": row.get("drivers"),
        "model_version": row.get("model_version"),
        "scored_at": row.get("scored_at"),
        "playbook": hit.playbook,
        "owner_id": routing.owner_id,
        "owner_name": routing.owner_name,
        "owner_email": routing.owner_email,
        "owner_timezone": routing.owner_timezone,
        "notify_member_ids": json.dumps(list(routing.notify_member_ids)),
        "manager_id": routing.manager_id,
        "in_manager_digest": routing.in_manager_digest,
        "needs_exec_outreach": routing.needs_exec_outreach,
        "signal_date": row["signal_date"],
        "sla_due_at": sla_due_at(
            now, severity, timezone, country, calendar.business_hours, rules.sla_business_hours
        ),
    }


# ---------------------------------------------------------------- writing


def _write(
    con: duckdb.DuckDBPyConnection, inserts: list[dict[str, Any]], updates: list[dict[str, Any]]
) -> int:
    """One UPDATE for the live alerts that changed, one INSERT for the new ones; returns rows inserted.

    A new alert whose id already exists (the same key opened at the same clock, then closed by
    hand) is not inserted again: the same inputs must not reopen it.
    """
    if updates:
        with _staged(con, updates) as staged:
            assignments = ", ".join(f"{c} = {_value(c)}" for c in COLUMN_NAMES if c != "alert_id")
            con.execute(
                f"update {ALERTS_TABLE} as t set {assignments} from {staged} as u where t.alert_id = u.alert_id"
            )
    if not inserts:
        return 0
    with _staged(con, inserts) as staged:
        row = con.execute(
            f"insert into {ALERTS_TABLE} ({', '.join(COLUMN_NAMES)}) "
            f"select {', '.join(_value(c) for c in COLUMN_NAMES)} from {staged} as u "
            f"where u.alert_id not in (select alert_id from {ALERTS_TABLE}) order by u.alert_id"
        ).fetchone()
    return int(row[0]) if row else 0


def _value(column: str) -> str:
    return f"cast(u.{column} as json)" if column in JSON_COLUMNS else f"u.{column}"


@contextmanager
def _staged(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> Iterator[str]:
    name = "staged_health_alerts"
    con.register(name, to_arrow(rows))
    try:
        yield name
    finally:
        con.unregister(name)
