"""`alerts.health_alerts`: one row per alert opening, its lifecycle kept in place.

The column list below is the contract BI tools, digests and CRM tasks read; the DDL, the
staging schema and the column comments in the warehouse are all generated from it.
"""

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from alerts.types import ALERT_STATUSES, SEVERITIES
from healthwatch.errors import HealthwatchError
from healthwatch.warehouse import table_exists

ALERTS_TABLE = "alerts.health_alerts"


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    doc: str
    not_null: bool = False


COLUMNS: tuple[Column, ...] = (
    # identity
    Column("alert_id", "varchar", "first 16 hex of sha256(dedup_key + opened_at ISO)", True),
    Column(
        "dedup_key", "varchar", "account_id:alert_type; at most one open/acknowledged alert per key", True
    ),
    Column("account_id", "varchar", "the account", True),
    Column("account_name", "varchar", "account name at the last update"),
    Column("segment", "varchar", "enterprise | mid_market | smb"),
    Column("arr", "double", "annual recurring revenue at the last update (priority tie-break)"),
    # what fired
    Column("alert_type", "varchar", "rule that fired (alert_rules.yml)", True),
    Column("severity", "varchar", "critical | high | medium | low; only ever rises while live", True),
    Column("priority", "integer", "1 (first) … 9 from the severity band × segment matrix", True),
    Column("status", "varchar", "open | acknowledged | resolved | suppressed", True),
    Column("title", "varchar", "short headline from the rule's title template", True),
    Column("reason", "varchar", "one sentence a CSM reads, with the numbers", True),
    Column("evidence", "json", "{metric, current, baseline, change, window, ...} as last observed"),
    # the score at firing time (refreshed when the alert escalates)
    Column("churn_probability", "double", "calibrated churn probability at firing time"),
    Column("health_score", "double", "0–100 health score at firing time"),
    Column("health_class", "varchar", "Healthy | At-Risk | Critical at firing time"),
    Column("drivers", "json", "top score drivers [{feature, value, contribution, sentence}]"),
    Column("model_version", "varchar", "model that produced the score"),
    Column("scored_at", "timestamp", "when that score was computed (UTC)"),
    Column("playbook", "varchar", "what the owner should do (from the rule)"),
    # routing
    Column("owner_id", "varchar", "the account's CSM: always the owner"),
    Column("owner_name", "varchar", "owner's name"),
    Column("owner_email", "varchar", "owner's email"),
    Column("owner_timezone", "varchar", "owner's IANA timezone (the SLA clock runs in it)"),
    Column("notify_member_ids", "json", "team member ids told now, per the routing for the severity"),
    Column("manager_id", "varchar", "the CSM's manager (weekly digest)"),
    Column("in_manager_digest", "boolean", "whether the alert belongs in the manager's weekly digest", True),
    Column(
        "needs_exec_outreach", "boolean", "critical: delivery creates an exec-sponsor outreach task", True
    ),
    # lifecycle (UTC, naive)
    Column("signal_date", "date", "signal day the alert was last evaluated on"),
    Column("opened_at", "timestamp", "pipeline clock when the alert opened", True),
    Column("last_seen_at", "timestamp", "pipeline clock when the condition was last observed", True),
    Column("acknowledged_at", "timestamp", "when the owner acknowledged it"),
    Column("escalated_at", "timestamp", "when the severity last rose"),
    Column("escalated_from", "varchar", "the severity before that rise"),
    Column("resolved_at", "timestamp", "when it was resolved"),
    Column(
        "resolution", "varchar", "why: condition_cleared | rule_disabled | account_churned | closed_by_owner"
    ),
    Column(
        "sla_due_at", "timestamp", "response due (business hours of the owner's timezone, holidays skipped)"
    ),
    Column("updated_at", "timestamp", "pipeline clock of the last change to this row", True),
    # the model gate and escalations (issue 5)
    Column(
        "rule_severity",
        "varchar",
        "severity the rule gave on the latest firing, before the model gate and SLA escalations",
    ),
    Column(
        "gate_action", "varchar", "what the model gate did on the latest firing: none | downgraded | held"
    ),
    Column("gate_reason", "varchar", "why the gate acted: the model's class and churn probability"),
    Column("escalation_reason", "varchar", "why the severity last rose: condition | sla_breach"),
    Column("last_fired_date", "date", "signal day the condition last held (auto-resolve counts from it)"),
    # noise control
    Column(
        "suppressed_reason",
        "varchar",
        "while suppressed: silence | maintenance | holiday | model_gate | inhibited",
    ),
    Column(
        "suppressed_by",
        "varchar",
        "the silence id, maintenance window, holiday, 'model_gate', or the inhibiting alert's dedup key",
    ),
    Column("suppressed_at", "timestamp", "when the current suppression began"),
    Column(
        "last_notified_at",
        "timestamp",
        "pipeline clock of the latest notification: delivery notifies the alerts whose value is its clock",
    ),
    Column("notification_count", "integer", "notifications so far (opening, escalations, repeats)"),
    Column(
        "notify_reason",
        "varchar",
        "why the latest notification: opened | escalated | sla_breach | repeat | unsuppressed",
    ),
    Column(
        "notification_key",
        "varchar",
        "<count>-<reason>: changes exactly when a new notification is due (delivery's idempotency key)",
    ),
    # feedback from the CRM task
    Column(
        "outcome",
        "varchar",
        "false_positive | true_positive_resolved | escalated_to_churn (from the CRM task)",
    ),
    Column("outcome_at", "timestamp", "when the CSM closed the task with that outcome (CRM time)"),
    # the playbook, filled for this alert
    Column("playbook_id", "varchar", "the playbooks.yml entry"),
    Column("playbook_steps", "json", "the playbook's steps, in order"),
    Column("email_subject", "varchar", "the playbook's outreach email subject, filled for this alert"),
    Column("email_body", "varchar", "the playbook's outreach email body, filled for this alert"),
)
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
JSON_COLUMNS: frozenset[str] = frozenset(c.name for c in COLUMNS if c.sql_type == "json")


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def create_table_sql(table: str = ALERTS_TABLE) -> str:
    lines = [f"    {c.name} {c.sql_type}{' not null' if c.not_null else ''}" for c in COLUMNS]
    lines += [
        "    primary key (alert_id)",
        f"    check (status in ({_quoted(ALERT_STATUSES)}))",
        f"    check (severity in ({_quoted(SEVERITIES)}))",
        "    check (priority between 1 and 9)",
    ]
    return f"create table if not exists {table} (\n" + ",\n".join(lines) + "\n)"


_ARROW_TYPES = {
    "varchar": pa.string(),
    "json": pa.string(),
    "double": pa.float64(),
    "integer": pa.int32(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}
ARROW_SCHEMA = pa.schema([pa.field(c.name, _ARROW_TYPES[c.sql_type]) for c in COLUMNS])


def ensure_alerts_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create `alerts.health_alerts` (with column comments) if missing; add the columns a table made
    by an older version lacks (nullable, documented); fail clearly if that is not possible."""
    if table_exists(con, ALERTS_TABLE):
        have = {
            r[0]
            for r in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'alerts' and table_name = 'health_alerts'"
            ).fetchall()
        }
        for column in (c for c in COLUMNS if c.name not in have):
            try:
                con.execute(f"alter table {ALERTS_TABLE} add column {column.name} {column.sql_type}")
                doc = column.doc.replace("'", "''")
                con.execute(f"comment on column {ALERTS_TABLE}.{column.name} is '{doc}'")
            except duckdb.Error as exc:
                raise HealthwatchError(
                    f"{ALERTS_TABLE} lacks column {column.name} (made by an older version) and it cannot be added: {exc}",
                    "drop the table to rebuild it",
                ) from exc
        return
    con.execute("create schema if not exists alerts")
    con.execute(create_table_sql())
    con.execute(
        f"comment on table {ALERTS_TABLE} is 'Account health alerts with their lifecycle (healthwatch alerts/)'"
    )
    for c in COLUMNS:
        doc = c.doc.replace("'", "''")
        con.execute(f"comment on column {ALERTS_TABLE}.{c.name} is '{doc}'")


def to_arrow(rows: list[dict]) -> pa.Table:
    """Alert rows (dicts keyed by column name, JSON already text) as an Arrow table."""
    return pa.Table.from_pylist([{c: row.get(c) for c in COLUMN_NAMES} for row in rows], schema=ARROW_SCHEMA)
