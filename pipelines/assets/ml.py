"""The churn model and the health scores (the work is in ml/)."""

import dagster as dg

from ml.pipeline import score_current, train_and_promote
from pipelines.assets.scope import rebuilt_accounts
from pipelines.assets.signals import signals_key
from pipelines.metadata import result_metadata
from pipelines.resources import HealthwatchResource

CHURN_MODEL = dg.AssetKey(["ml", "churn_model"])
HEALTH_SCORES = dg.AssetKey(["scoring", "account_health_scores"])


@dg.asset(
    key=CHURN_MODEL,
    group_name="ml",
    deps=[signals_key("account_features"), signals_key("accounts")],
    kinds={"lightgbm"},
)
def churn_model(healthwatch: HealthwatchResource) -> dg.MaterializeResult:
    """Train a LightGBM churn model on point-in-time snapshots (time split, calibrated) and
    promote it only if its holdout PR-AUC is not worse than the current model's."""
    settings = healthwatch.settings()
    with healthwatch.connect() as con:
        result = train_and_promote(con, settings)
    return dg.MaterializeResult(metadata=result_metadata(result))


@dg.asset(
    key=HEALTH_SCORES,
    group_name="ml",
    deps=[signals_key("account_features"), CHURN_MODEL],
    kinds={"duckdb"},
)
def account_health_scores(
    context: dg.AssetExecutionContext, healthwatch: HealthwatchResource
) -> dg.MaterializeResult:
    """Score the accounts the signals run rebuilt (every account on a full rebuild) with the
    promoted model: churn probability, 0-100 health score, Healthy / At-Risk / Critical, and the
    top drivers in words."""
    settings = healthwatch.settings()
    with healthwatch.connect() as con:
        result = score_current(con, settings, account_ids=rebuilt_accounts(context, con))
    return dg.MaterializeResult(metadata=result_metadata(result))
