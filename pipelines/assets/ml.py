"""The churn model and the health scores (the work is in ml/)."""

from typing import Any

import dagster as dg

from healthwatch.warehouse import signals_clock
from ml.pipeline import ScoringResult, TrainingResult, score_current, train_and_promote
from pipelines.assets.scope import rebuilt_accounts
from pipelines.assets.signals import signals_key
from pipelines.metadata import result_metadata
from pipelines.resources import HealthwatchResource

CHURN_MODEL = dg.AssetKey(["ml", "churn_model"])
HEALTH_SCORES = dg.AssetKey(["scoring", "account_health_scores"])
HOLDOUT_METRICS = ("pr_auc", "roc_auc", "brier", "lift_top_decile")


def _number(value: float | None) -> float | str:
    return "—" if value is None else float(value)


def training_metadata(result: TrainingResult) -> dict[str, Any]:
    """Headline figures as flat entries (Dagster plots numbers across materializations), then every field."""
    return {
        "dagster/row_count": result.rows.get("labelled", 0),
        "model_version": result.version,
        "promoted": result.promoted,
        **{f"holdout_{name}": _number(result.metrics.get(name)) for name in HOLDOUT_METRICS},
        "seconds": _number(result.timings.get("total_s")),
        **result_metadata(result),
    }


def scoring_metadata(result: ScoringResult) -> dict[str, Any]:
    """Rows written, how many accounts were rescored and by which model, classes and timings."""
    scope = (
        "every account"
        if result.accounts_requested is None
        else f"{result.accounts_requested} accounts rebuilt by this run"
    )
    return {
        "dagster/row_count": result.accounts_scored,
        "accounts_rescored": result.accounts_scored,
        "scope": scope,
        "model_version": result.model_version,
        **{f"accounts_{name.lower().replace('-', '_')}": n for name, n in result.by_class.items()},
        "seconds": _number(result.timings.get("total_s")),
        **result_metadata(result),
    }


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
        result = train_and_promote(con, settings, signals_clock(con))
    return dg.MaterializeResult(metadata=training_metadata(result))


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
        result = score_current(con, settings, signals_clock(con), account_ids=rebuilt_accounts(context, con))
    return dg.MaterializeResult(metadata=scoring_metadata(result))
