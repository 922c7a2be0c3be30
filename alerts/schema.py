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
    Column("resolution", "varchar", "why: condition_cleared | rule_disabled | account_churned"),
    Column(
        "sla_due_at", "timestamp", "response due (business hours of the owner's timezone, holidays skipped)"
    ),
    Column("updated_at", "timestamp", "pipeline clock of the last change to this row", True),
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
    """Create `alerts.health_alerts` (with column comments) if missing; fail clearly if it drifted."""
    if table_exists(con, ALERTS_TABLE):
        have = {
            r[0]
            for r in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'alerts' and table_name = 'health_alerts'"
            ).fetchall()
        }
        missing = [c for c in COLUMN_NAMES if c not in have]
        if missing:
            raise HealthwatchError(
                f"{ALERTS_TABLE} lacks columns {', '.join(missing)} (made by an older version)",
                f"add them with `alter table {ALERTS_TABLE} add column ...`, or drop the table to rebuild it",
            )
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
