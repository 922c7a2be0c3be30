"""The alert table (the work is in alerts/)."""

import time
from datetime import datetime

import dagster as dg

from alerts.engine import evaluate_alerts
from alerts.feedback import collect_outcomes
from alerts.storm import check_run
from healthwatch.warehouse import signals_clock
from pipelines.assets.ml import HEALTH_SCORES
from pipelines.assets.scope import rebuilt_accounts
from pipelines.assets.signals import signals_key
from pipelines.metadata import result_metadata
from pipelines.resources import HealthwatchResource

HEALTH_ALERTS = dg.AssetKey(["alerts", "health_alerts"])

TOP_ALERTS_SQL = """
    select priority, severity, account_name, alert_type, reason, owner_name, sla_due_at
    from alerts.health_alerts
    where status in ('open', 'acknowledged')
    order by priority, case severity when 'critical' then 0 when 'high' then 1 when 'medium' then 2 else 3 end,
             arr desc nulls last, dedup_key
    limit 10
"""
LIVE_BY_SEVERITY_SQL = """
    select severity, count(*) from alerts.health_alerts
    where status in ('open', 'acknowledged') group by severity
"""


@dg.asset(
    key=HEALTH_ALERTS,
    group_name="alerts",
    deps=[
        HEALTH_SCORES,
        signals_key("account_signals_daily"),
        signals_key("account_baselines"),
        signals_key("accounts"),
    ],
    kinds={"duckdb"},
)
def health_alerts(
    context: dg.AssetExecutionContext, healthwatch: HealthwatchResource
) -> dg.MaterializeResult:
    """For the accounts the signals run rebuilt (all on a full rebuild), bring back what CSMs did
    with their CRM tasks, evaluate the alert rules against each account's own baseline and score
    (model gate), set severity, priority, owner and SLA, apply silences, maintenance windows,
    holidays and inhibition, dedupe against live alerts and resolve cleared ones; then refresh
    alerts.alert_outcomes and alerts.rule_performance."""
    settings = healthwatch.settings()
    with healthwatch.connect() as con:
        started = time.perf_counter()
        accounts = rebuilt_accounts(context, con)
        result = evaluate_alerts(con, settings, signals_clock(con), account_ids=accounts)
        storm = check_run(con, result.clock, result.opened, now=datetime.now()) if result.clock else None
        evaluated = time.perf_counter()
        outcomes = collect_outcomes(con, clock=result.clock)
        collected = time.perf_counter()
        top = con.execute(TOP_ALERTS_SQL).fetchall()
        live = dict(con.execute(LIVE_BY_SEVERITY_SQL).fetchall())
        (rows,) = con.execute("select count(*) from alerts.health_alerts").fetchone()
    if storm is not None:
        context.log.error(
            f"alert storm: this run opened {storm.opened} alerts, usually {storm.usual:g} a day; delivery is "
            f"held until `healthwatch storm release {storm.storm_id}` or `healthwatch storm discard`"
        )
    metadata = result_metadata(result)
    metadata.update(
        {
            "dagster/row_count": int(rows),
            "accounts_rescored": result.evaluated_accounts,
            "live_alerts_by_severity": dg.MetadataValue.json(
                {s: int(live.get(s, 0)) for s in ("critical", "high", "medium", "low")}
            ),
            "outcomes_collected": outcomes.outcomes,
            "precision_from_outcomes": outcomes.precision if outcomes.precision is not None else "—",
            "evaluate_seconds": round(evaluated - started, 3),
            "feedback_seconds": round(collected - evaluated, 3),
            "top_alerts": dg.MetadataValue.md(_markdown_table(top)),
            "alert_storm": storm.storm_id if storm else "—",
        }
    )
    return dg.MaterializeResult(metadata=metadata)


def _markdown_table(rows: list[tuple]) -> str:
    header = "| P | severity | account | type | reason | owner | due (UTC) |\n|---|---|---|---|---|---|---|\n"
    body = "".join(
        "| " + " | ".join("–" if v is None else str(v).replace("|", "/") for v in row) + " |\n"
        for row in rows
    )
    return header + (body or "| – | – | no open alerts | – | – | – | – |\n")
