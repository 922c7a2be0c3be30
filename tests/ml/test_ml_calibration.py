"""Calibration on held-out time: the calibrated probability beats the raw booster's on the later window."""

import duckdb
import numpy as np
import pandas as pd

from healthwatch.config import ModelConfig
from ml.features import build_training_set, load_accounts, load_snapshots
from ml.train import train_model


def _brier(y, p) -> float:
    return float(np.mean((np.asarray(p) - np.asarray(y)) ** 2))


def _raw_and_calibrated(run):
    """Brier of sigmoid(margin) (what the booster alone says) and of the calibrated probability, on
    the holdout dates: after the calibration dates, so neither was fitted on them."""
    holdout = run.holdout
    y = holdout["label"].to_numpy()
    raw = 1 / (1 + np.exp(-run.model.margin(run.model.matrix(holdout))))
    return _brier(y, raw), _brier(y, run.model.predict_proba(holdout))


def test_calibration_lowers_the_brier_score_on_the_holdout_window(run):
    assert not run.split.calibration_is_holdout
    assert min(run.split.holdout_dates) > max(run.split.calibration_dates)
    raw, calibrated = _raw_and_calibrated(run)
    assert calibrated < raw


def test_calibration_corrects_a_churn_rate_that_rose_after_training(tmp_path, synthetic):
    """Churn becomes more common after the training window (60% of the early churners removed):
    the booster, fitted on the earlier rate, under-predicts later; the calibrator, fitted on the
    later calibration dates, restores the level and the Brier score drops clearly."""
    world = synthetic.make_world(seed=2)
    churned = pd.to_datetime(world.accounts["churned_at"])
    rng = np.random.default_rng(2)
    early = world.accounts.loc[
        (churned < pd.Timestamp("2025-06-01")) & (rng.random(len(churned)) < 0.6), "account_id"
    ]
    drifted = type(world)(
        features=world.features.loc[~world.features["account_id"].isin(early)],
        accounts=world.accounts.loc[~world.accounts["account_id"].isin(early)],
        clock=world.clock,
        future_churners=world.future_churners,
    )
    path = tmp_path / "drift.duckdb"
    synthetic.write_world(path, drifted)
    with duckdb.connect(str(path)) as con:
        training_set = build_training_set(load_snapshots(con), load_accounts(con), 90, world.clock)
    run = train_model(training_set, ModelConfig(), 90, world.clock)
    y = run.holdout["label"].to_numpy()
    raw, calibrated = _raw_and_calibrated(run)
    assert calibrated < 0.85 * raw
    # the level: the raw booster's mean is far below the holdout's churn rate, the calibrated one near it
    raw_mean = float(np.mean(1 / (1 + np.exp(-run.model.margin(run.model.matrix(run.holdout))))))
    calibrated_mean = float(run.model.predict_proba(run.holdout).mean())
    assert abs(calibrated_mean - y.mean()) < 0.5 * abs(raw_mean - y.mean())
