"""The alert table (the work is in alerts/)."""

import dagster as dg

from alerts.engine import evaluate_alerts
from pipelines.assets.ml import HEALTH_SCORES
from pipelines.assets.scope import rebuilt_accounts
from pipelines.assets.signals import signals_key
from pipelines.metadata import result_metadata
from pipelines.resources import HealthwatchResource

HEALTH_ALERTS = dg.AssetKey(["alerts", "health_alerts"])

TOP_ALERTS_SQL = """
    select priority, severity, account_name, alert_type, reason, owner_name
    from alerts.health_alerts
    where status in ('open', 'acknowledged')
    order by priority, case severity when 'critical' then 0 when 'high' then 1 when 'medium' then 2 else 3 end,
             arr desc
    limit 10
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
    """For the accounts the signals run rebuilt (all on a full rebuild), evaluate the alert rules
    against each account's own baseline and score; set severity,
    priority, owner and SLA; dedupe against open alerts and resolve cleared ones."""
    settings = healthwatch.settings()
    with healthwatch.connect() as con:
        result = evaluate_alerts(con, settings, account_ids=rebuilt_accounts(context, con))
        top = con.execute(TOP_ALERTS_SQL).fetchall()
    metadata = result_metadata(result)
    metadata["top_alerts"] = dg.MetadataValue.md(_markdown_table(top))
    return dg.MaterializeResult(metadata=metadata)


def _markdown_table(rows: list[tuple]) -> str:
    header = "| P | severity | account | type | reason | owner |\n|---|---|---|---|---|---|\n"
    body = "".join("| " + " | ".join(str(v).replace("|", "/") for v in row) + " |\n" for row in rows)
    return header + (body or "| – | – | no open alerts | – | – | – |\n")
