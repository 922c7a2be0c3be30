"""What a person wants to see first after a run: plain queries over the warehouse, rendered with rich."""

from dataclasses import dataclass

import duckdb
from rich.console import Console
from rich.table import Table

from healthwatch.warehouse import table_exists

SEVERITY_ORDER = "case severity when 'critical' then 0 when 'high' then 1 when 'medium' then 2 else 3 end"


@dataclass(frozen=True)
class Summary:
    data_clock: str
    accounts_by_class: list[tuple[str, int]]
    alerts_by_severity: list[tuple[str, int]]
    alerts_by_priority: list[tuple[int, int]]
    top_alerts: list[tuple]
    open_tasks: int
    mails: list[tuple[str, int]]


def summarize(con: duckdb.DuckDBPyConnection) -> Summary:
    """Collect the summary from the scores, alerts, tasks and outbox tables (missing ones count as empty)."""

    def rows(table: str, sql: str) -> list[tuple]:
        return con.execute(sql).fetchall() if table_exists(con, table) else []

    clock = rows(
        "signals.account_signals_daily", "select max(signal_date) from signals.account_signals_daily"
    )
    open_alerts = "from alerts.health_alerts where status in ('open', 'acknowledged')"
    return Summary(
        data_clock=str(clock[0][0]) if clock else "—",
        accounts_by_class=rows(
            "scoring.account_health_scores",
            "select health_class, count(*) from scoring.account_health_scores group by 1 "
            "order by case health_class when 'Critical' then 0 when 'At-Risk' then 1 else 2 end",
        ),
        alerts_by_severity=rows(
            "alerts.health_alerts",
            f"select severity, count(*) {open_alerts} group by severity order by min({SEVERITY_ORDER})",
        ),
        alerts_by_priority=rows(
            "alerts.health_alerts", f"select priority, count(*) {open_alerts} group by 1 order by 1"
        ),
        top_alerts=rows(
            "alerts.health_alerts",
            f"select priority, severity, account_name, alert_type, reason, owner_name {open_alerts} "
            f"order by priority, {SEVERITY_ORDER}, arr desc limit 5",
        ),
        open_tasks=(
            rows("alerts.crm_tasks", "select count(*) from alerts.crm_tasks where status = 'open'") or [(0,)]
        )[0][0],
        mails=rows(
            "alerts.email_outbox", "select status, count(*) from alerts.email_outbox group by 1 order by 1"
        ),
    )


def print_summary(summary: Summary, console: Console) -> None:
    """Render the summary as a few small tables."""
    console.print(f"\n[bold]healthwatch[/] — data as of {summary.data_clock}")
    classes = Table(title="Accounts by health class", title_justify="left")
    classes.add_column("class")
    classes.add_column("accounts", justify="right")
    for name, count in summary.accounts_by_class:
        classes.add_row(name, str(count))
    console.print(classes)

    alerts = Table(title="Open alerts", title_justify="left")
    alerts.add_column("severity")
    alerts.add_column("alerts", justify="right")
    for severity, count in summary.alerts_by_severity:
        alerts.add_row(severity, str(count))
    console.print(alerts)
    priorities = ", ".join(f"P{p}: {n}" for p, n in summary.alerts_by_priority) or "none"
    console.print(f"By priority: {priorities}")

    top = Table(title="Top 5 alerts", title_justify="left", show_lines=False)
    for column in ("P", "severity", "account", "type", "reason", "owner"):
        top.add_column(column, overflow="fold")
    for row in summary.top_alerts:
        top.add_row(*(str(v) for v in row))
    console.print(top)
    mails = ", ".join(f"{status}: {n}" for status, n in summary.mails) or "none"
    console.print(f"CRM tasks open: {summary.open_tasks} · digests in the outbox: {mails}")
