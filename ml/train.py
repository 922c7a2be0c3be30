"""Training: a time split, a deterministic LightGBM, calibration, thresholds and holdout metrics.

The labelled snapshot dates are split in time, never by row:

    train dates  |  gap  |  calibration dates  |  holdout dates
                 <------ validation window: the last ~25% of dates ------>

* Gap: a snapshot at d is labelled by churn in (d, d+H], so a training snapshot within H days of
  the validation window shares churn events with it. When the data allows it (training still has
  at least two dates and `min_training_positives` positives) the last training date is at least H
  days before the first validation date; otherwise training stops at the date before validation,
  so at least no date is on both sides. `split.gap_applied` in the metadata says which.
* Calibration dates (the earlier half of the validation window) serve early stopping, probability
  calibration and threshold choice; holdout dates (the later half) serve only the metrics and the
  promotion gate, so those are measured on rows nothing was fitted on. When either half would
  have fewer than MIN_WINDOW_POSITIVES positives (or the window has a single date), the whole
  validation window does all of it and `split.calibration_is_holdout` is true: the metrics are
  then optimistic, and the metadata says so.
* The served model is the one trained on the training dates; it is not refit on later data, so
  what the metrics describe is what scores accounts.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from healthwatch.config import ModelConfig
from healthwatch.errors import HealthwatchError
from ml.calibration import fit_calibrator
from ml.evaluate import ThresholdPolicy, choose_thresholds, holdout_metrics
from ml.features import CATEGORIES, MODEL_COLUMNS, SnapshotSample, model_matrix, to_naive_utc
from ml.model import ChurnModel, content_version

VALID_FRACTION = 0.25
MIN_WINDOW_POSITIVES = 5
SEED = 20260227
# Small, strongly regularised trees: weekly snapshots of one account are near-copies of each other,
# so a small leaf can be a single account's history memorised. Leaves hold at least
# MIN_LEAF_SHARE of the training rows (and never fewer than MIN_LEAF_ROWS).
MIN_LEAF_SHARE = 0.003
MIN_LEAF_ROWS = 20
LGBM_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "metric": "binary_logloss",
    "learning_rate": 0.05,
    "num_leaves": 7,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.9,
    "bagging_freq": 1,
    "lambda_l2": 10.0,
    "seed": SEED,
    "deterministic": True,
    "force_row_wise": True,
    "verbosity": -1,
}


def too_few_positives(count: int, needed: int, where: str) -> HealthwatchError:
    return HealthwatchError(
        f"only {count} churn-labelled snapshots (positives) {where}; training needs at least {needed}",
        "simulate more accounts or days (`healthwatch simulate --accounts N --days D`), "
        "or lower churn.horizon_days in healthwatch.yml (model.min_training_positives sets the minimum)",
    )


@dataclass(frozen=True)
class TimeSplit:
    train_dates: list[pd.Timestamp]
    calibration_dates: list[pd.Timestamp]
    holdout_dates: list[pd.Timestamp]
    gap_days: int
    gap_applied: bool
    calibration_is_holdout: bool
    note: str

    def describe(self) -> dict[str, Any]:
        return {
            "valid_fraction": VALID_FRACTION,
            "gap_days": self.gap_days,
            "gap_applied": self.gap_applied,
            "calibration_is_holdout": self.calibration_is_holdout,
            "note": self.note,
        }


def _positives(frame: pd.DataFrame, dates: list[pd.Timestamp]) -> int:
    return int(frame.loc[frame["snapshot_date"].isin(dates), "label"].sum())


def time_split(training_set: pd.DataFrame, horizon_days: int, min_positives: int) -> TimeSplit:
    """Split labelled snapshot dates into train / calibration / holdout (see the module docstring)."""
    dates = sorted(pd.to_datetime(training_set["snapshot_date"]).unique())
    if len(dates) < 2:
        raise HealthwatchError(
            f"only {len(dates)} labelled snapshot date(s); a time split needs at least 2",
            "simulate more days (`healthwatch simulate --days D`), or lower churn.horizon_days in healthwatch.yml",
        )
    n_valid = min(len(dates) - 1, max(1, round(len(dates) * VALID_FRACTION)))
    valid = dates[-n_valid:]
    horizon = pd.Timedelta(days=horizon_days)
    gapped = [d for d in dates if d <= valid[0] - horizon]
    if len(gapped) >= 2 and _positives(training_set, gapped) >= min_positives:
        train, gap_applied = gapped, True
        note = f"training ends at least {horizon_days} days (the horizon) before validation starts"
    else:
        train, gap_applied = dates[:-n_valid], False
        note = (
            f"a {horizon_days}-day gap would leave too little training data; training ends at the "
            "date before validation starts (no date on both sides)"
        )
    gap_days = int((valid[0] - train[-1]).days)

    n_cal = len(valid) // 2
    calibration, holdout = valid[:n_cal], valid[n_cal:]
    halves_ok = (
        n_cal >= 1
        and _positives(training_set, calibration) >= MIN_WINDOW_POSITIVES
        and _positives(training_set, holdout) >= MIN_WINDOW_POSITIVES
    )
    if not halves_ok:
        calibration, holdout = valid, valid
        note += (
            "; too few positives to split validation into calibration and holdout halves, so early "
            "stopping, calibration, thresholds and metrics all use the same validation rows (metrics optimistic)"
        )
    return TimeSplit(
        train_dates=list(train),
        calibration_dates=list(calibration),
        holdout_dates=list(holdout),
        gap_days=gap_days,
        gap_applied=gap_applied,
        calibration_is_holdout=not halves_ok,
        note=note,
    )


@dataclass
class TrainingRun:
    """A trained (not yet registered) model and the holdout rows it was measured on."""

    model: ChurnModel
    holdout: pd.DataFrame
    split: TimeSplit
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def positives(self) -> int:
        return self.rows["positives"]


def _window(frame: pd.DataFrame, dates: list[pd.Timestamp]) -> dict[str, Any]:
    return {
        "start": dates[0].date().isoformat(),
        "end": dates[-1].date().isoformat(),
        "dates": len(dates),
        "rows": len(frame),
        "positives": int(frame["label"].sum()),
    }


def train_model(
    training_set: pd.DataFrame,
    config: ModelConfig,
    horizon_days: int,
    trained_at: datetime,
    policy: ThresholdPolicy | None = None,
    sample: SnapshotSample | None = None,
) -> TrainingRun:
    """Fit, calibrate, choose thresholds (by `policy`, default ThresholdPolicy()) and measure one
    model on a labelled training set (`sample`: the accounts it was drawn from, for the metadata)."""
    policy = ThresholdPolicy() if policy is None else policy
    total_positives = int(training_set["label"].sum())
    if total_positives < config.min_training_positives:
        raise too_few_positives(total_positives, config.min_training_positives, "in the labelled snapshots")
    split = time_split(training_set, horizon_days, config.min_training_positives)
    parts = {
        name: training_set.loc[training_set["snapshot_date"].isin(dates)]
        for name, dates in (
            ("train", split.train_dates),
            ("calibration", split.calibration_dates),
            ("holdout", split.holdout_dates),
        )
    }
    for name in ("train", "calibration"):
        positives = int(parts[name]["label"].sum())
        if positives == 0:
            raise too_few_positives(positives, 1, f"in the {name} window")

    params = {
        **LGBM_PARAMS,
        "min_data_in_leaf": max(MIN_LEAF_ROWS, round(MIN_LEAF_SHARE * len(parts["train"]))),
        "num_threads": config.num_threads,
    }
    x_train = model_matrix(parts["train"])
    x_cal = model_matrix(parts["calibration"])
    train_data = lgb.Dataset(x_train, label=parts["train"]["label"].to_numpy(), free_raw_data=True)
    cal_data = lgb.Dataset(x_cal, label=parts["calibration"]["label"].to_numpy(), reference=train_data)
    fitted = lgb.train(
        params,
        train_data,
        num_boost_round=config.num_boost_round,
        valid_sets=[cal_data],
        valid_names=["calibration"],
        callbacks=[lgb.early_stopping(config.early_stopping_rounds, first_metric_only=True, verbose=False)],
    )
    best_iteration = fitted.best_iteration or fitted.current_iteration()
    # Rebuild from the saved text so the in-memory model is exactly what the registry reloads.
    booster = lgb.Booster(model_str=fitted.model_to_string(num_iteration=best_iteration))

    y_cal = parts["calibration"]["label"].to_numpy(dtype="int64")
    margin_cal = np.asarray(booster.predict(x_cal, raw_score=True, num_threads=config.num_threads))
    calibrator = fit_calibrator(margin_cal, y_cal)
    thresholds = choose_thresholds(y_cal, calibrator.predict(margin_cal), policy)

    metadata: dict[str, Any] = {
        "version": content_version(trained_at, booster, calibrator, thresholds),
        "trained_at": to_naive_utc(trained_at).isoformat(),
        "horizon_days": horizon_days,
        "features": list(MODEL_COLUMNS),
        "categories": {k: list(v) for k, v in CATEGORIES.items()},
        "training_window": _window(parts["train"], split.train_dates),
        "calibration_window": _window(parts["calibration"], split.calibration_dates),
        "holdout_window": _window(parts["holdout"], split.holdout_dates),
        "split": split.describe(),
        # None: every account's snapshots; otherwise the whole accounts training was limited to.
        "sample": None if sample is None else sample.describe(),
        "calibration": {
            "method": calibrator.method,
            "rows": len(y_cal),
            "positives": int(y_cal.sum()),
            "evaluated_on_calibration_rows": split.calibration_is_holdout,
        },
        "lightgbm": {
            "version": lgb.__version__,
            "params": params,
            "best_iteration": int(best_iteration),
            "num_boost_round": config.num_boost_round,
            "early_stopping_rounds": config.early_stopping_rounds,
        },
        "thresholds": thresholds.to_dict(),
        "threshold_policy": policy.to_dict(),
    }
    model = ChurnModel(booster, calibrator, thresholds, metadata, num_threads=config.num_threads)
    holdout = parts["holdout"].reset_index(drop=True)
    metadata["metrics"] = holdout_metrics(holdout, model.predict_proba(holdout), thresholds)
    rows = {
        "labelled": len(training_set),
        "positives": total_positives,
        "train": len(parts["train"]),
        "calibration": len(parts["calibration"]),
        "holdout": len(holdout),
        "unused_gap": len(training_set)
        - len(parts["train"])
        - len(parts["calibration"])
        - (0 if split.calibration_is_holdout else len(holdout)),
    }
    metadata["rows"] = rows
    return TrainingRun(model=model, holdout=holdout, split=split, rows=rows)
