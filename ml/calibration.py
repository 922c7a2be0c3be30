"""Probability calibration of the booster's raw margin, stored as plain JSON parameters (no pickles).

Platt scaling (a sigmoid of the margin) when the calibration window has few positives; isotonic
regression when it has enough of them (ISOTONIC_MIN_POSITIVES) for a step function not to overfit.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

ISOTONIC_MIN_POSITIVES = 200


@dataclass(frozen=True)
class SigmoidCalibrator:
    """p = 1 / (1 + exp(-(a * margin + b)))."""

    a: float
    b: float
    method: str = "sigmoid"

    @classmethod
    def fit(cls, margin: np.ndarray, y: np.ndarray) -> "SigmoidCalibrator":
        # Platt's smoothed targets keep the fit finite when the window is perfectly separated;
        # each row enters twice, as a positive and a negative weighted by its target.
        n_pos = float(y.sum())
        n_neg = float(len(y) - n_pos)
        target = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
        x = np.concatenate([margin, margin]).reshape(-1, 1)
        labels = np.concatenate([np.ones(len(y)), np.zeros(len(y))])
        weights = np.concatenate([target, 1 - target])
        fit = LogisticRegression(C=np.inf).fit(x, labels, sample_weight=weights)
        return cls(a=float(fit.coef_[0, 0]), b=float(fit.intercept_[0]))

    def predict(self, margin: np.ndarray) -> np.ndarray:
        z = np.clip(self.a * np.asarray(margin, dtype="float64") + self.b, -500, 500)
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "a": self.a, "b": self.b}


@dataclass(frozen=True)
class IsotonicCalibrator:
    """A non-decreasing step function of the margin, linear between its knots, clipped at both ends."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    method: str = "isotonic"

    @classmethod
    def fit(cls, margin: np.ndarray, y: np.ndarray) -> "IsotonicCalibrator":
        fit = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(margin, y)
        return cls(x=tuple(map(float, fit.X_thresholds_)), y=tuple(map(float, fit.y_thresholds_)))

    def predict(self, margin: np.ndarray) -> np.ndarray:
        # np.interp clips outside the knots, as IsotonicRegression(out_of_bounds="clip") does.
        return np.interp(np.asarray(margin, dtype="float64"), self.x, self.y)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "x": list(self.x), "y": list(self.y)}


Calibrator = SigmoidCalibrator | IsotonicCalibrator


def fit_calibrator(margin: np.ndarray, y: np.ndarray) -> Calibrator:
    """Isotonic with at least ISOTONIC_MIN_POSITIVES positives, Platt's sigmoid otherwise."""
    y = np.asarray(y, dtype="int64")
    margin = np.asarray(margin, dtype="float64")
    if y.sum() >= ISOTONIC_MIN_POSITIVES:
        return IsotonicCalibrator.fit(margin, y)
    return SigmoidCalibrator.fit(margin, y)


def calibrator_from_dict(data: dict[str, Any]) -> Calibrator:
    if data["method"] == "sigmoid":
        return SigmoidCalibrator(a=float(data["a"]), b=float(data["b"]))
    if data["method"] == "isotonic":
        return IsotonicCalibrator(x=tuple(data["x"]), y=tuple(data["y"]))
    raise ValueError(f"unknown calibration method {data['method']!r}")
