"""Alert thresholds chosen by target precision, and the metrics reported on the holdout window."""

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

HEALTHY, AT_RISK, CRITICAL = "Healthy", "At-Risk", "Critical"
HEALTH_CLASSES = (HEALTHY, AT_RISK, CRITICAL)

# Precision targets on the calibration window (the lead wires these to healthwatch.yml).
CRITICAL_PRECISION = 0.6
AT_RISK_PRECISION = 0.3
# Floors on top of the precision targets. On well-separated data the lowest threshold that still
# reaches a precision target can sit below the base rate (an "At-Risk" account with a 4% churn
# probability); the floors keep each class meaning what its name says:
# At-Risk at least this many times the validation base rate (twice as likely to churn as average),
AT_RISK_MIN_BASE_RATE_MULTIPLE = 2.0
# Critical at least this many times the At-Risk threshold, and at least this probability,
CRITICAL_MIN_AT_RISK_MULTIPLE = 2.0
CRITICAL_MIN_PROBABILITY = 0.25
# but these two floors never ask for more than even odds, so Critical stays reachable when the
# At-Risk threshold is already high (a precision-chosen Critical threshold may still be higher).
CRITICAL_FLOOR_CAP = 0.5
# When a precision target cannot be met on the calibration window, fall back to flagging a fixed
# share of snapshots: the top 5% as Critical, the top 20% as At-Risk.
CRITICAL_FALLBACK_QUANTILE = 0.95
AT_RISK_FALLBACK_QUANTILE = 0.80
# A threshold that flags fewer rows than this says more about luck than about precision.
MIN_FLAGGED = 5


@dataclass(frozen=True)
class ThresholdPolicy:
    """How the class thresholds are chosen on the calibration window (stored in the model's metadata)."""

    critical_precision: float = CRITICAL_PRECISION
    at_risk_precision: float = AT_RISK_PRECISION
    at_risk_min_base_rate_multiple: float = AT_RISK_MIN_BASE_RATE_MULTIPLE
    critical_min_at_risk_multiple: float = CRITICAL_MIN_AT_RISK_MULTIPLE
    critical_min_probability: float = CRITICAL_MIN_PROBABILITY
    critical_floor_cap: float = CRITICAL_FLOOR_CAP

    def to_dict(self) -> dict[str, float]:
        return {
            "critical_precision": self.critical_precision,
            "at_risk_precision": self.at_risk_precision,
            "at_risk_min_base_rate_multiple": self.at_risk_min_base_rate_multiple,
            "critical_min_at_risk_multiple": self.critical_min_at_risk_multiple,
            "critical_min_probability": self.critical_min_probability,
            "critical_floor_cap": self.critical_floor_cap,
        }


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


def choose_thresholds(y: np.ndarray, p: np.ndarray, policy: ThresholdPolicy | None = None) -> Thresholds:
    """At-Risk / Critical thresholds on calibrated probabilities of the calibration window.

    1. Precision targets: the lowest threshold whose flagged rows reach the target precision (it
       flags the most churners at that precision); when no threshold reaches it, a score quantile.
    2. Floors: At-Risk >= at_risk_min_base_rate_multiple x the window's base rate; Critical >=
       min(max(critical_min_at_risk_multiple x At-Risk, critical_min_probability), critical_floor_cap),
       and never below At-Risk. A threshold raised by a floor still meets its precision target
       whenever precision does not fall as the threshold rises; the rule strings say what applied.
    """
    policy = ThresholdPolicy() if policy is None else policy
    y = np.asarray(y, dtype="int64")
    p = np.asarray(p, dtype="float64")
    base_rate = float(y.mean()) if len(y) else 0.0

    at_risk = lowest_threshold_with_precision(y, p, policy.at_risk_precision)
    at_risk_rule = f"lowest threshold with precision >= {policy.at_risk_precision}"
    if at_risk is None:
        at_risk = float(np.quantile(p, AT_RISK_FALLBACK_QUANTILE, method="higher"))
        at_risk_rule = (
            f"precision {policy.at_risk_precision} unreachable: score quantile {AT_RISK_FALLBACK_QUANTILE}"
        )
    at_risk_floor = policy.at_risk_min_base_rate_multiple * base_rate
    if at_risk < at_risk_floor:
        at_risk_rule += (
            f" ({at_risk:.4f}), raised to {policy.at_risk_min_base_rate_multiple:g} x the calibration "
            f"base rate {base_rate:.4f}"
        )
        at_risk = at_risk_floor

    critical = lowest_threshold_with_precision(y, p, policy.critical_precision)
    critical_rule = f"lowest threshold with precision >= {policy.critical_precision}"
    if critical is None:
        critical = float(np.quantile(p, CRITICAL_FALLBACK_QUANTILE, method="higher"))
        critical_rule = (
            f"precision {policy.critical_precision} unreachable: score quantile {CRITICAL_FALLBACK_QUANTILE}"
        )
    critical_floor = max(
        min(
            max(policy.critical_min_at_risk_multiple * at_risk, policy.critical_min_probability),
            policy.critical_floor_cap,
        ),
        at_risk,
    )
    if critical < critical_floor:
        critical_rule += (
            f" ({critical:.4f}), raised to the floor min(max({policy.critical_min_at_risk_multiple:g} x At-Risk, "
            f"{policy.critical_min_probability:g}), {policy.critical_floor_cap:g}) and at least At-Risk"
        )
        critical = critical_floor
    return Thresholds(
        at_risk=float(at_risk),
        critical=float(critical),
        at_risk_rule=at_risk_rule,
        critical_rule=critical_rule,
    )


def lead_times(frame: pd.DataFrame, flagged: np.ndarray) -> pd.Series:
    """Per churner flagged in `frame` (needs label, account_id, snapshot_date, churned_at): days from
    its first flagged positive snapshot (one inside the horizon before its churn) to the churn date."""
    positives = frame.assign(flagged=np.asarray(flagged, dtype=bool)).loc[frame["label"] == 1]
    first = (
        positives.loc[positives["flagged"]]
        .groupby("account_id", observed=True)
        .agg(first_flag=("snapshot_date", "min"), churned_at=("churned_at", "first"))
    )
    return (first["churned_at"].dt.normalize() - first["first_flag"]).dt.days.rename("lead_time_days")


def _lead_time_days(frame: pd.DataFrame, flagged: np.ndarray) -> dict[str, Any]:
    """Days from an account's first flagged positive snapshot to its churn, over the window's churners."""
    churners = frame.loc[frame["label"] == 1, "account_id"].nunique()
    days = lead_times(frame, flagged)
    return {
        "churners": int(churners),
        "churners_flagged": len(days),
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
