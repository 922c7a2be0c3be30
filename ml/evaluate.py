"""Alert thresholds chosen by target precision, and the metrics reported on the holdout window."""

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

HEALTHY, AT_RISK, CRITICAL = "Healthy", "At-Risk", "Critical"
HEALTH_CLASSES = (HEALTHY, AT_RISK, CRITICAL)

CRITICAL_PRECISION = 0.6
AT_RISK_PRECISION = 0.3
# When a precision target cannot be met on the calibration window, fall back to flagging a fixed
# share of snapshots: the top 5% as Critical, the top 20% as At-Risk.
CRITICAL_FALLBACK_QUANTILE = 0.95
AT_RISK_FALLBACK_QUANTILE = 0.80
# A threshold that flags fewer rows than this says more about luck than about precision.
MIN_FLAGGED = 5


@dataclass(frozen=True)
class Thresholds:
    """Calibrated-probability cut-offs: p >= critical is Critical, p >= at_risk is At-Risk."""

    at_risk: float
    critical: float
    at_risk_rule: str
    critical_rule: str

    def classify(self, probability: np.ndarray) -> np.ndarray:
        p = np.asarray(probability, dtype="float64")
        return np.where(p >= self.critical, CRITICAL, np.where(p >= self.at_risk, AT_RISK, HEALTHY))

    def to_dict(self) -> dict[str, Any]:
        return {
            "at_risk": self.at_risk,
            "critical": self.critical,
            "at_risk_rule": self.at_risk_rule,
            "critical_rule": self.critical_rule,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Thresholds":
        return cls(
            at_risk=float(data["at_risk"]),
            critical=float(data["critical"]),
            at_risk_rule=str(data["at_risk_rule"]),
            critical_rule=str(data["critical_rule"]),
        )


def lowest_threshold_with_precision(
    y: np.ndarray, p: np.ndarray, target: float, min_flagged: int = MIN_FLAGGED
) -> float | None:
    """The lowest score t such that rows with p >= t have precision >= target (None if none does)."""
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    flagged = np.arange(1, len(p) + 1)
    precision = np.cumsum(y_sorted) / flagged
    # A threshold flags every row tied with it, so only the last row of each tie group counts.
    group_end = np.append(p_sorted[1:] != p_sorted[:-1], True)
    ok = group_end & (precision >= target) & (flagged >= min_flagged)
    if not ok.any():
        return None
    return float(p_sorted[np.flatnonzero(ok)[-1]])


def choose_thresholds(
    y: np.ndarray,
    p: np.ndarray,
    critical_precision: float = CRITICAL_PRECISION,
    at_risk_precision: float = AT_RISK_PRECISION,
) -> Thresholds:
    """Critical / At-Risk = the lowest thresholds reaching their target precision, else score quantiles.

    The lowest threshold meeting a target flags the most churners at that precision. Any threshold
    meeting the Critical target also meets the lower At-Risk one, so at_risk <= critical holds; a
    Critical fallback quantile below a precision-chosen At-Risk threshold is raised to it.
    """
    y = np.asarray(y, dtype="int64")
    p = np.asarray(p, dtype="float64")
    at_risk = lowest_threshold_with_precision(y, p, at_risk_precision)
    at_risk_rule = f"lowest threshold with precision >= {at_risk_precision}"
    if at_risk is None:
        at_risk = float(np.quantile(p, AT_RISK_FALLBACK_QUANTILE, method="higher"))
        at_risk_rule = (
            f"precision {at_risk_precision} unreachable: score quantile {AT_RISK_FALLBACK_QUANTILE}"
        )
    critical = lowest_threshold_with_precision(y, p, critical_precision)
    critical_rule = f"lowest threshold with precision >= {critical_precision}"
    if critical is None:
        critical = max(float(np.quantile(p, CRITICAL_FALLBACK_QUANTILE, method="higher")), at_risk)
        critical_rule = (
            f"precision {critical_precision} unreachable: score quantile {CRITICAL_FALLBACK_QUANTILE}"
            " (at least the At-Risk threshold)"
        )
    return Thresholds(
        at_risk=at_risk, critical=critical, at_risk_rule=at_risk_rule, critical_rule=critical_rule
    )


def _lead_time_days(frame: pd.DataFrame, flagged: np.ndarray) -> dict[str, Any]:
    """Days from an account's first flagged positive snapshot to its churn, over the window's churners."""
    positives = frame.assign(flagged=flagged).loc[frame["label"] == 1]
    churners = positives["account_id"].nunique()
    first = (
        positives.loc[positives["flagged"]]
        .groupby("account_id")
        .agg(first_flag=("snapshot_date", "min"), churned_at=("churned_at", "first"))
    )
    days = (first["churned_at"].dt.normalize() - first["first_flag"]).dt.days
    return {
        "churners": int(churners),
        "churners_flagged": len(first),
        "median_days": float(days.median()) if len(days) else None,
    }


def holdout_metrics(frame: pd.DataFrame, p: np.ndarray, thresholds: Thresholds) -> dict[str, Any]:
    """Metrics of calibrated probabilities `p` for the rows of `frame` (needs label, account_id,
    snapshot_date, churned_at): ranking, precision/recall at both thresholds, top-decile lift,
    calibration (Brier) and lead time at the At-Risk threshold."""
    y = frame["label"].to_numpy(dtype="int64")
    p = np.asarray(p, dtype="float64")
    positives = int(y.sum())
    base_rate = positives / len(y) if len(y) else 0.0
    both_classes = 0 < positives < len(y)
    metrics: dict[str, Any] = {
        "rows": len(y),
        "positives": positives,
        "base_rate": base_rate,
        "roc_auc": float(roc_auc_score(y, p)) if both_classes else None,
        "pr_auc": float(average_precision_score(y, p)) if both_classes else None,
        "brier": float(np.mean((p - y) ** 2)) if len(y) else None,
    }
    for name, cut in (("at_risk", thresholds.at_risk), ("critical", thresholds.critical)):
        flagged = p >= cut
        hits = int((flagged & (y == 1)).sum())
        metrics[f"flagged_{name}"] = int(flagged.sum())
        metrics[f"precision_{name}"] = hits / int(flagged.sum()) if flagged.any() else None
        metrics[f"recall_{name}"] = hits / positives if positives else None
    top = np.argsort(-p, kind="stable")[: max(1, int(np.ceil(0.1 * len(y))))] if len(y) else []
    metrics["lift_top_decile"] = float(y[top].mean() / base_rate) if base_rate else None
    metrics["lead_time_at_risk"] = _lead_time_days(frame, p >= thresholds.at_risk)
    return metrics
