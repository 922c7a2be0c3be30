"""Probability calibration of the booster's raw margin, stored as plain JSON parameters (no pickles).

Platt scaling (a sigmoid of the margin) when the calibration window has few positives; centered
isotonic regression when it has enough of them (ISOTONIC_MIN_POSITIVES) not to overfit.

Both are strictly increasing in the margin, so calibration never changes the model's ranking of
accounts: ROC-AUC, PR-AUC and "the top N accounts" are the booster's own. Plain isotonic
regression is a step function: it merges every margin of a block into one probability (on a
2,000-account world, 17 distinct probabilities over 12,000 snapshots), which ties accounts the
booster tells apart and makes a threshold flag a whole block at once. The centered variant
(Oron & Flournoy, 2017) keeps isotonic regression's fit but places each block's value at the
block's mean margin and interpolates linearly between those points, and beyond the outermost
points continues the outermost segments (clipped to [0, 1]). Models saved with the older
step-function knots (method "isotonic") still load and predict as they did.
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
    """A non-decreasing step function of the margin, linear between its knots, clipped at both ends.

    No longer fitted (see CenteredIsotonicCalibrator); kept so that models saved with it load."""

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


@dataclass(frozen=True)
class CenteredIsotonicCalibrator:
    """Isotonic regression's block values at the blocks' mean margins, linear in between and
    continued linearly beyond the outer points, clipped to [0, 1]: strictly increasing wherever
    it is inside (0, 1)."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    method: str = "centered_isotonic"

    @classmethod
    def fit(cls, margin: np.ndarray, y: np.ndarray) -> "CenteredIsotonicCalibrator | None":
        """None when isotonic regression finds a single block (no trend to interpolate)."""
        margin = np.asarray(margin, dtype="float64")
        fitted = IsotonicRegression(y_min=0.0, y_max=1.0).fit(margin, y).predict(margin)
        order = np.argsort(margin, kind="stable")
        m, f = margin[order], fitted[order]
        # A block is a run of equal fitted values (tied margins always share one).
        starts = np.flatnonzero(np.r_[True, f[1:] != f[:-1]])
        ends = np.r_[starts[1:], len(f)]
        if len(starts) < 2:
            return None
        x = tuple(float(m[a:b].mean()) for a, b in zip(starts, ends, strict=True))
        return cls(x=x, y=tuple(float(f[a]) for a in starts))

    def predict(self, margin: np.ndarray) -> np.ndarray:
        margin = np.asarray(margin, dtype="float64")
        x, y = np.asarray(self.x), np.asarray(self.y)
        p = np.interp(margin, x, y)
        low_slope = (y[1] - y[0]) / (x[1] - x[0])
        high_slope = (y[-1] - y[-2]) / (x[-1] - x[-2])
        p = np.where(margin < x[0], y[0] + low_slope * (margin - x[0]), p)
        p = np.where(margin > x[-1], y[-1] + high_slope * (margin - x[-1]), p)
        return np.clip(p, 0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "x": list(self.x), "y": list(self.y)}


Calibrator = SigmoidCalibrator | IsotonicCalibrator | CenteredIsotonicCalibrator


def fit_calibrator(margin: np.ndarray, y: np.ndarray) -> Calibrator:
    """Centered isotonic with at least ISOTONIC_MIN_POSITIVES positives, Platt's sigmoid otherwise
    (and when isotonic regression finds no trend)."""
    y = np.asarray(y, dtype="int64")
    margin = np.asarray(margin, dtype="float64")
    if y.sum() >= ISOTONIC_MIN_POSITIVES:
        centered = CenteredIsotonicCalibrator.fit(margin, y)
        if centered is not None:
            return centered
    return SigmoidCalibrator.fit(margin, y)


def calibrator_from_dict(data: dict[str, Any]) -> Calibrator:
    if data["method"] == "sigmoid":
        return SigmoidCalibrator(a=float(data["a"]), b=float(data["b"]))
    if data["method"] == "isotonic":
        return IsotonicCalibrator(x=tuple(data["x"]), y=tuple(data["y"]))
    if data["method"] == "centered_isotonic":
        return CenteredIsotonicCalibrator(x=tuple(data["x"]), y=tuple(data["y"]))
    raise ValueError(f"unknown calibration method {data['method']!r}")
