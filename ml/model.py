"""A trained churn model as one object: booster, calibrator, thresholds and metadata."""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from ml.calibration import Calibrator
from ml.evaluate import Thresholds
from ml.features import model_matrix, to_naive_utc


@dataclass
class ChurnModel:
    """What the registry stores and scoring uses. `metadata` holds version, features and categories."""

    booster: lgb.Booster
    calibrator: Calibrator
    thresholds: Thresholds
    metadata: dict[str, Any] = field(default_factory=dict)
    num_threads: int = 1

    @property
    def version(self) -> str:
        return str(self.metadata["version"])

    @property
    def features(self) -> list[str]:
        return list(self.metadata["features"])

    @property
    def categories(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.metadata["categories"].items()}

    def matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        return model_matrix(frame, self.features, self.categories)

    def margin(self, x: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.booster.predict(x, raw_score=True, num_threads=self.num_threads))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated churn probability for each row of a snapshot frame."""
        if frame.empty:
            return np.empty(0)
        return np.clip(self.calibrator.predict(self.margin(self.matrix(frame))), 0.0, 1.0)

    def contributions(self, x: pd.DataFrame) -> np.ndarray:
        """SHAP values in log-odds, one column per feature plus the bias as the last column."""
        return np.asarray(self.booster.predict(x, pred_contrib=True, num_threads=self.num_threads))


def model_text(booster: lgb.Booster) -> str:
    return booster.model_to_string(num_iteration=-1)


def content_version(
    trained_at: datetime, booster: lgb.Booster, calibrator: Calibrator, thresholds: Thresholds
) -> str:
    """`<data clock as %Y%m%dT%H%M%S>-<8 hex of the model's content>`: sortable by data time and
    unique per content, so a deterministic retrain on the same data gives the same id."""
    digest = hashlib.sha256()
    digest.update(model_text(booster).encode())
    digest.update(json.dumps(calibrator.to_dict(), sort_keys=True).encode())
    digest.update(json.dumps(thresholds.to_dict(), sort_keys=True).encode())
    return f"{to_naive_utc(trained_at):%Y%m%dT%H%M%S}-{digest.hexdigest()[:8]}"
