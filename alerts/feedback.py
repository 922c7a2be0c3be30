"""The feedback loop: what CSMs do with CRM tasks comes back into the alerts and their precision.

CSMs work the tasks delivery writes (`alerts.crm_tasks`, imported into the CRM); the CRM's
`tasks` table comes back through CDC like every source (`staging.stg_crm__tasks`: status and
outcome as CSMs set them). From it:

- `sync_task_states` (called by every alert run): a task in progress or completed acknowledges
  its alert; the alert's own task completed with an outcome resolves the alert (`closed_by_owner`)
  and records the outcome — on an alert already resolved, the outcome is recorded all the same;
- `collect_outcomes` rebuilds `alerts.alert_outcomes` (one row per alert whose task was closed with
  an outcome) and `alerts.rule_performance` (volume, precision and median time to acknowledge per
  alert type and segment over a trailing window, with totals).

Only CRM rows updated at or before the clock count, so a replay decides the same.
"""

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from alerts.lifecycle import OUTCOMES
from alerts.schema import ALERTS_TABLE, ensure_alerts_table
from healthwatch.batches import data_clock
from healthwatch.warehouse import table_exists

TASKS_SOURCE = "staging.stg_crm__tasks"
OUTCOMES_TABLE = "alerts.alert_outcomes"
PERFORMANCE_TABLE = "alerts.rule_performance"
SIGNALS = "signals.account_signals_daily"
ACCOUNTS = "signals.accounts"
# CRM task statuses: open (imported), in_progress (acknowledged), completed (closed, with an
# outcome), cancelled (closed by the pipeline before anyone acted).
ACK_STATUSES = ("in_progress", "completed")
DONE_STATUSES = ("completed",)
TRUE_POSITIVES = ("true_positive_resolved", "escalated_to_churn")
DEFAULT_WINDOW_DAYS = 90

OUTCOMES_DDL = f"""
create table {OUTCOMES_TABLE} (
    alert_id varchar not null,          -- alerts.health_alerts.alert_id
    task_id varchar not null,           -- the CRM task closed with the outcome
    dedup_key varchar not null,
    account_id varchar not null,
    account_name varchar,
    segment varchar,
    alert_type varchar not null,
    severity varchar not null,          -- the alert's severity (after gate and escalations)
    rule_severity varchar,              -- what the rule gave
    gate_action varchar,                -- none | downgraded | held
    churn_probability double,           -- the score when the alert fired
    health_class varchar,
    owner_id varchar,                   -- who closed the task
    opened_at timestamp not null,
    acknowledged_at timestamp,
    outcome varchar not null,           -- false_positive | true_positive_resolved | escalated_to_churn
    outcome_at timestamp not null,      -- CRM time of the close
    hours_to_acknowledge double,        -- opened_at → acknowledged_at, wall-clock hours
    is_true_positive boolean not null,  -- outcome is true_positive_resolved or escalated_to_churn
    collected_at timestamp not null,
    primary key (alert_id)
)
"""
PERFORMANCE_DDL = f"""
create table {PERFORMANCE_TABLE} (
    alert_type varchar not null,
    segment varchar not null,
    window_start timestamp not null,    -- alerts opened in (window_start, window_end]
    window_end timestamp not null,
    accounts bigint not null,           -- accounts with signals in the window (of the segment)
    alerts_opened bigint not null,
    alerts bigint not null,             -- = alerts_opened (the weight digests use across segments)
    alerts_notified bigint not null,    -- opened alerts that reached someone (not held throughout)
    alerts_per_100_accounts_per_week double,
    acknowledged bigint not null,
    median_hours_to_acknowledge double,
    with_outcome bigint not null,
    true_positive_resolved bigint not null,
    escalated_to_churn bigint not null,
    false_positive bigint not null,
    precision double,                   -- true positives / alerts with an outcome
    computed_at timestamp not null,
    primary key (alert_type, segment)
)
"""


@dataclass(frozen=True)
class SyncSummary:
    acknowledged: int = 0
    closed: int = 0
    outcomes: int = 0


@dataclass(frozen=True)
class OutcomeSummary:
    clock: datetime
    outcomes: int
    performance_rows: int
    acknowledged: int
    closed: int
    precision: float | None
    window_days: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def sync_task_states(con: duckdb.DuckDBPyConnection, now: datetime) -> SyncSummary:
    """Apply the CRM's task states to `alerts.health_alerts` (call inside the caller's transaction)."""
    if not table_exists(con, TASKS_SOURCE) or not table_exists(con, ALERTS_TABLE):
        return SyncSummary()
    con.execute(
        f"""
        create or replace temp table _hw_task_states as
        with tasks as (
            select *, not ends_with(task_id, ':exec') as is_alert_task
            from {TASKS_SOURCE}
            where alert_id is not null and updated_at <= $now
        )
        select
            alert_id,
            min(updated_at) filter (where status in (select unnest({_list(ACK_STATUSES)}))) as acked_at,
            max(updated_at) filter (where {_closed_filter()}) as closed_at,
            arg_max(outcome, updated_at) filter (where {_closed_filter()}) as outcome
        from tasks
        group by alert_id
        """,
        {"now": now},
    )
    try:
        acknowledged = con.execute(
            f"""
            update {ALERTS_TABLE} as h
            set acknowledged_at = greatest(h.opened_at, t.acked_at),
                status = case when h.status = 'open' then 'acknowledged' else h.status end,
                updated_at = $now
            from _hw_task_states as t
            where t.alert_id = h.alert_id and h.acknowledged_at is null and t.acked_at is not null
            returning h.alert_id
            """,
            {"now": now},
        ).fetchall()
        outcomes = con.execute(
            f"""
            update {ALERTS_TABLE} as h
            set outcome = t.outcome, outcome_at = t.closed_at, updated_at = $now
            from _hw_task_states as t
            where t.alert_id = h.alert_id and h.outcome is null and t.outcome is not null
            returning h.alert_id
            """,
            {"now": now},
        ).fetchall()
        closed = con.execute(
            f"""
            update {ALERTS_TABLE} as h
            set status = 'resolved', resolution = 'closed_by_owner',
                resolved_at = greatest(h.opened_at, t.closed_at),
                suppressed_reason = null, suppressed_by = null, updated_at = $now
            from _hw_task_states as t
            where t.alert_id = h.alert_id and t.outcome is not null
              and h.status in ('open', 'acknowledged', 'suppressed')
            returning h.alert_id
            """,
            {"now": now},
        ).fetchall()
    finally:
        con.execute("drop table if exists _hw_task_states")
    return SyncSummary(acknowledged=len(acknowledged), closed=len(closed), outcomes=len(outcomes))


def _closed_filter() -> str:
    return (
        f"is_alert_task and status in (select unnest({_list(DONE_STATUSES)})) "
        f"and outcome in (select unnest({_list(OUTCOMES)}))"
    )


def outcomes_sql() -> str:
    """One row per alert closed with an outcome in the CRM at or before `$now` (see OUTCOMES_DDL)."""
    return f"""
        with closes as (
            select task_id, alert_id, owner_id, outcome, updated_at
            from {TASKS_SOURCE}
            where alert_id is not null and not ends_with(task_id, ':exec') and updated_at <= $now
              and status in (select unnest({_list(DONE_STATUSES)}))
              and outcome in (select unnest({_list(OUTCOMES)}))
            qualify row_number() over (partition by alert_id order by updated_at desc, task_id) = 1
        )
        select
            h.alert_id, c.task_id, h.dedup_key, h.account_id, h.account_name, h.segment, h.alert_type,
            h.severity, h.rule_severity, h.gate_action, h.churn_probability, h.health_class, c.owner_id,
            h.opened_at, h.acknowledged_at, c.outcome, c.updated_at as outcome_at,
            date_diff('second', h.opened_at, h.acknowledged_at) / 3600.0 as hours_to_acknowledge,
            c.outcome in (select unnest({_list(TRUE_POSITIVES)})) as is_true_positive,
            cast($now as timestamp) as collected_at
        from closes as c
        inner join {ALERTS_TABLE} as h on h.alert_id = c.alert_id
    """


def collect_outcomes(
    con: duckdb.DuckDBPyConnection,
    clock: datetime | None = None,
    window_days: int = DEFAULT_WINDOW_DAYS,
) -> OutcomeSummary:
    """Bring task states into the alerts, then rebuild `alerts.alert_outcomes` and
    `alerts.rule_performance` (alerts opened in the `window_days` days up to the clock)."""
    now = clock if clock is not None else data_clock(con)
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    con.begin()
    try:
        ensure_alerts_table(con)
        synced = sync_task_states(con, now)
        con.execute(f"drop table if exists {OUTCOMES_TABLE}")
        con.execute(OUTCOMES_DDL)
        if table_exists(con, TASKS_SOURCE):
            con.execute(f"insert into {OUTCOMES_TABLE} {outcomes_sql()} order by alert_id", {"now": now})
        con.execute(f"drop table if exists {PERFORMANCE_TABLE}")
        con.execute(PERFORMANCE_DDL)
        con.execute(_performance_sql(), {"now": now, "days": window_days})
        con.execute(
            f"comment on table {OUTCOMES_TABLE} is "
            "'Alerts whose CRM task was closed with an outcome (healthwatch alerts/feedback.py)'"
        )
        con.execute(
            f"comment on table {PERFORMANCE_TABLE} is "
            "'Volume, precision and median time to acknowledge per alert type and segment (alerts/feedback.py)'"
        )
        con.commit()
    except BaseException:
        con.rollback()
        raise
    (outcomes,) = con.execute(f"select count(*) from {OUTCOMES_TABLE}").fetchone()
    (rows,) = con.execute(f"select count(*) from {PERFORMANCE_TABLE}").fetchone()
    (precision,) = con.execute(
        f"select avg(cast(is_true_positive as double)) from {OUTCOMES_TABLE}"
    ).fetchone()
    return OutcomeSummary(
        clock=now,
        outcomes=int(outcomes),
        performance_rows=int(rows),
        acknowledged=synced.acknowledged,
        closed=synced.closed,
        precision=None if precision is None else float(precision),
        window_days=window_days,
    )


def _performance_sql() -> str:
    return f"""
        insert into {PERFORMANCE_TABLE}
        with bounds as (
            select cast($now as timestamp) - to_days(cast($days as integer)) as window_start,
                   cast($now as timestamp) as window_end
        ),
        alerts as (
            select h.*, o.outcome as closed_outcome, o.hours_to_acknowledge
            from {ALERTS_TABLE} as h
            cross join bounds
            left join {OUTCOMES_TABLE} as o using (alert_id)
            where h.opened_at > bounds.window_start and h.opened_at <= bounds.window_end
        ),
        accounts as (
            select a.segment, count(distinct s.account_id) as accounts
            from {SIGNALS} as s, bounds
            inner join {ACCOUNTS} as a on a.account_id = s.account_id
            where s.signal_date > cast(bounds.window_start as date) and s.signal_date <= cast(bounds.window_end as date)
            group by a.segment
        ),
        grouped as (
            select
                alert_type,
                coalesce(segment, 'unknown') as segment,
                count(*) as alerts_opened,
                count(*) filter (where coalesce(notification_count, 0) > 0) as alerts_notified,
                count(acknowledged_at) as acknowledged,
                median(date_diff('second', opened_at, acknowledged_at) / 3600.0) as median_hours_to_acknowledge,
                count(closed_outcome) as with_outcome,
                count(*) filter (where closed_outcome = 'true_positive_resolved') as true_positive_resolved,
                count(*) filter (where closed_outcome = 'escalated_to_churn') as escalated_to_churn,
                count(*) filter (where closed_outcome = 'false_positive') as false_positive
            from alerts
            group by alert_type, segment
        )
        select
            g.alert_type, g.segment, b.window_start, b.window_end,
            coalesce(a.accounts, 0) as accounts,
            g.alerts_opened, g.alerts_opened as alerts, g.alerts_notified,
            case when coalesce(a.accounts, 0) > 0
                then 100.0 * g.alerts_opened / a.accounts / (cast($days as double) / 7) end
                as alerts_per_100_accounts_per_week,
            g.acknowledged, g.median_hours_to_acknowledge, g.with_outcome,
            g.true_positive_resolved, g.escalated_to_churn, g.false_positive,
            case when g.with_outcome > 0
                then (g.true_positive_resolved + g.escalated_to_churn) / g.with_outcome end as precision,
            b.window_end as computed_at
        from grouped as g
        cross join bounds as b
        left join accounts as a on a.segment = g.segment
        order by g.alert_type, g.segment
    """
