"""Training: the time split, determinism, separation on the synthetic set, thresholds, calibration."""

import duckdb
import numpy as np
import pandas as pd
import pytest

from healthwatch.config import ModelConfig
from healthwatch.errors import HealthwatchError
from ml import registry
from ml.calibration import (
    ISOTONIC_MIN_POSITIVES,
    CenteredIsotonicCalibrator,
    IsotonicCalibrator,
    SigmoidCalibrator,
    calibrator_from_dict,
    fit_calibrator,
)
from ml.evaluate import (
    CRITICAL,
    HEALTHY,
    ThresholdPolicy,
    choose_thresholds,
    lowest_threshold_with_precision,
)
from ml.features import build_training_set, load_accounts, load_snapshots, sample_accounts
from ml.model import model_text
from ml.pipeline import train_and_promote
from ml.train import time_split, train_model


def test_time_split_on_world_has_the_horizon_gap(run):
    split = run.split
    train, cal, hold = set(split.train_dates), set(split.calibration_dates), set(split.holdout_dates)
    assert not train & cal and not train & hold and not cal & hold
    assert max(train) < min(cal) <= max(cal) < min(hold)
    assert split.gap_applied
    assert (min(cal) - max(train)).days >= 90
    assert not split.calibration_is_holdout


def test_time_split_without_room_for_a_gap_still_separates_dates():
    dates = pd.date_range("2025-01-06", periods=10, freq="7D")
    frame = pd.DataFrame({"snapshot_date": np.repeat(dates, 20), "label": np.tile([1] + [0] * 9, 20)})
    split = time_split(frame, horizon_days=90, min_positives=5)
    assert not split.gap_applied
    valid = split.calibration_dates + split.holdout_dates
    assert max(split.train_dates) < min(valid)
    assert not set(split.train_dates) & set(valid)


def test_time_split_says_when_calibration_and_holdout_are_the_same_rows():
    dates = pd.date_range("2025-01-06", periods=8, freq="7D")
    frame = pd.DataFrame({"snapshot_date": np.repeat(dates, 10), "label": 0})
    frame.loc[frame.index % 10 == 0, "label"] = 1  # 1 positive per date: too few to halve validation
    split = time_split(frame, horizon_days=7, min_positives=2)
    assert split.calibration_is_holdout
    assert split.calibration_dates == split.holdout_dates
    assert "same validation rows" in split.note


def test_model_beats_random_on_the_later_window(run):
    metrics = run.model.metadata["metrics"]
    assert metrics["roc_auc"] > 0.7
    assert metrics["pr_auc"] > 2 * metrics["base_rate"]
    assert metrics["lift_top_decile"] > 2
    for key in (
        "precision_at_risk",
        "recall_at_risk",
        "precision_critical",
        "recall_critical",
        "rows",
        "positives",
    ):
        assert metrics[key] is not None


def test_metadata_documents_the_model(run):
    meta = run.model.metadata
    for key in (
        "version",
        "trained_at",
        "features",
        "categories",
        "training_window",
        "calibration_window",
        "holdout_window",
        "metrics",
        "thresholds",
        "horizon_days",
        "rows",
        "split",
        "calibration",
    ):
        assert key in meta, key
    assert meta["calibration"]["evaluated_on_calibration_rows"] is False
    assert meta["sample"] is None  # every account's snapshots
    assert meta["lightgbm"]["params"]["deterministic"] is True
    assert meta["lightgbm"]["params"]["num_threads"] == ModelConfig().num_threads
    assert (
        meta["training_window"]["end"] < meta["calibration_window"]["start"] < meta["holdout_window"]["start"]
    )


def test_training_is_deterministic(training_set, world, run):
    again = train_model(training_set, ModelConfig(), 90, world.clock)
    assert again.model.version == run.model.version
    assert np.array_equal(again.model.predict_proba(run.holdout), run.model.predict_proba(run.holdout))


def test_training_threads_change_only_the_speed(training_set, world):
    # Training runs with one thread per core by default: the trees must not depend on it.
    one, two = (train_model(training_set, ModelConfig(num_threads=n), 90, world.clock).model for n in (1, 2))
    lines = [model_text(m.booster).splitlines() for m in (one, two)]
    differing = [(a, b) for a, b in zip(*lines, strict=True) if a != b]
    assert differing == [("[num_threads: 1]", "[num_threads: 2]")]
    assert np.array_equal(one.predict_proba(training_set), two.predict_proba(training_set))


def test_thresholds_are_ordered_and_meet_precision_on_calibration(run, training_set):
    thresholds = run.model.thresholds
    assert 0 <= thresholds.at_risk <= thresholds.critical <= 1
    cal = training_set.loc[training_set["snapshot_date"].isin(run.split.calibration_dates)]
    p = run.model.predict_proba(cal)
    y = cal["label"].to_numpy()
    if "unreachable" not in thresholds.critical_rule:
        assert y[p >= thresholds.critical].mean() >= 0.6
    if "unreachable" not in thresholds.at_risk_rule:
        assert y[p >= thresholds.at_risk].mean() >= 0.3


def test_lowest_threshold_with_precision():
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    y = np.array([1, 1, 0, 1, 1, 0, 0, 0])
    assert lowest_threshold_with_precision(y, p, 0.8, min_flagged=1) == 0.5  # 4 of 5
    assert lowest_threshold_with_precision(y, p, 0.55, min_flagged=1) == 0.3  # 4 of 7
    assert lowest_threshold_with_precision(y, p, 0.5, min_flagged=1) == 0.2  # 4 of 8
    assert lowest_threshold_with_precision(y, p, 1.0, min_flagged=3) is None
    # ties: a threshold flags its whole tie group
    assert lowest_threshold_with_precision(np.array([1, 0, 1]), np.array([0.5, 0.5, 0.9]), 0.7, 1) == 0.9


def test_thresholds_fall_back_to_quantiles_when_precision_is_unreachable():
    rng = np.random.default_rng(3)
    p = rng.random(1000)
    y = (rng.random(1000) < 0.05).astype(int)  # labels unrelated to scores: precision ~5%
    thresholds = choose_thresholds(y, p)
    assert "unreachable" in thresholds.at_risk_rule and "unreachable" in thresholds.critical_rule
    assert thresholds.at_risk == pytest.approx(np.quantile(p, 0.8), abs=0.01)
    assert thresholds.critical == pytest.approx(np.quantile(p, 0.95), abs=0.01)
    classes = thresholds.classify(np.array([0.0, 1.0]))
    assert classes.tolist() == [HEALTHY, CRITICAL]


def _separated(n: int = 4000, base_rate: float = 0.05, seed: int = 5):
    """Well-separated scores: churners mostly near 1, the rest near 0."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < base_rate).astype(int)
    p = np.where(y == 1, rng.uniform(0.02, 1.0, n), rng.uniform(0.0, 0.05, n))
    return y, p


def test_thresholds_have_floors_on_well_separated_data():
    """The precision targets alone would put At-Risk below the base rate; the floors lift it to
    twice the base rate and Critical to min(max(2 x At-Risk, 0.25), 0.5)."""
    y, p = _separated()
    assert lowest_threshold_with_precision(y, p, 0.3) < y.mean()
    thresholds = choose_thresholds(y, p)
    assert thresholds.at_risk == pytest.approx(2 * y.mean())
    assert thresholds.critical == pytest.approx(max(min(2 * thresholds.at_risk, 0.5), 0.25))
    assert "raised to 2 x the calibration base rate" in thresholds.at_risk_rule
    assert "raised to the floor" in thresholds.critical_rule
    assert y[p >= thresholds.at_risk].mean() >= 0.3 and y[p >= thresholds.critical].mean() >= 0.6


def test_critical_floor_is_capped_at_even_odds_and_never_below_at_risk():
    y, p = _separated(base_rate=0.2)  # At-Risk floor 0.4: 2 x At-Risk would be 0.8
    thresholds = choose_thresholds(y, p)
    assert thresholds.at_risk == pytest.approx(2 * y.mean())
    assert thresholds.critical == pytest.approx(0.5)
    high = choose_thresholds(y, p, ThresholdPolicy(at_risk_min_base_rate_multiple=3.0))  # At-Risk 0.6
    assert high.critical == high.at_risk == pytest.approx(3 * y.mean())


def test_floors_leave_thresholds_above_them_alone():
    y, p = _separated()
    off = ThresholdPolicy(
        at_risk_min_base_rate_multiple=0, critical_min_at_risk_multiple=0, critical_min_probability=0
    )
    thresholds = choose_thresholds(y, p, off)
    assert thresholds.at_risk == lowest_threshold_with_precision(y, p, 0.3)
    assert thresholds.critical == lowest_threshold_with_precision(y, p, 0.6)
    assert "raised" not in thresholds.at_risk_rule + thresholds.critical_rule


def test_trained_model_stores_its_threshold_policy_and_respects_the_floors(run, training_set):
    meta = run.model.metadata
    assert meta["threshold_policy"] == ThresholdPolicy().to_dict()
    cal = training_set.loc[training_set["snapshot_date"].isin(run.split.calibration_dates)]
    assert run.model.thresholds.at_risk >= 2 * cal["label"].mean() - 1e-12
    assert run.model.thresholds.critical >= min(max(2 * run.model.thresholds.at_risk, 0.25), 0.5) - 1e-12


def test_training_above_the_snapshot_budget_reads_a_fixed_sample_of_whole_accounts(
    tmp_path, synthetic, world
):
    settings = synthetic.make_settings(tmp_path, max_training_snapshots=5_000)
    synthetic.write_world(settings.warehouse, world)
    with duckdb.connect(str(settings.warehouse)) as con:
        everything = load_snapshots(con)
        assert sample_accounts(con, len(everything)) is None  # within the budget: no sample
        sample = sample_accounts(con, 5_000)
        assert sample == sample_accounts(con, 5_000)  # the same accounts every run
        result = train_and_promote(con, settings)

    per_account = everything.groupby("account_id").size()
    assert sample.rows_available == len(everything) and sample.accounts_available == len(per_account)
    # Whole accounts, as many as fit: the next account in hash order would have passed the budget.
    assert sample.rows == per_account[sample.account_ids].sum() <= 5_000
    assert sample.rows > 5_000 - per_account.max()
    assert sample.account_ids != sorted(per_account.index)[: len(sample.account_ids)]  # not an id prefix
    metadata = registry.load_model(settings.models_dir, result.version).metadata
    assert metadata["sample"] == sample.describe()
    assert result.rows["labelled"] <= sample.rows < len(everything)


@pytest.mark.parametrize("positives", [40, ISOTONIC_MIN_POSITIVES + 50])
def test_calibrator_choice_and_round_trip(positives):
    rng = np.random.default_rng(1)
    n = positives * 8
    margin = rng.normal(size=n)
    y = np.zeros(n, dtype=int)
    y[np.argsort(-(margin + rng.normal(scale=0.8, size=n)))[:positives]] = 1
    calibrator = fit_calibrator(margin, y)
    expected = CenteredIsotonicCalibrator if positives >= ISOTONIC_MIN_POSITIVES else SigmoidCalibrator
    assert isinstance(calibrator, expected)
    grid = np.linspace(-4, 4, 50)
    p = calibrator.predict(grid)
    assert ((p >= 0) & (p <= 1)).all() and (np.diff(p) >= -1e-12).all()
    assert np.array_equal(calibrator_from_dict(calibrator.to_dict()).predict(grid), p)
    assert abs(calibrator.predict(margin).mean() - y.mean()) < 0.02  # calibrated on average


def test_too_few_positives_raises_with_the_fix(tmp_path, synthetic):
    world = synthetic.make_world(n_accounts=40, weeks=16, churn_share=0.1, seed=0)
    settings = synthetic.make_settings(tmp_path)
    synthetic.write_world(settings.warehouse, world)
    with duckdb.connect(str(settings.warehouse)) as con:
        positives = int(
            build_training_set(load_snapshots(con), load_accounts(con), 90, world.clock)["label"].sum()
        )
        assert 0 < positives < settings.config.model.min_training_positives
        with pytest.raises(HealthwatchError) as error:
            train_and_promote(con, settings)
    message = str(error.value)
    assert f"only {positives} churn-labelled snapshots" in message
    assert "horizon_days" in message and "simulate more accounts or days" in message


@pytest.mark.parametrize("positives", [40, ISOTONIC_MIN_POSITIVES + 50])
def test_calibration_keeps_the_boosters_ranking(positives):
    """Distinct margins keep distinct, ordered probabilities: calibration never ties accounts the
    booster tells apart, so ranking metrics are the booster's own."""
    rng = np.random.default_rng(7)
    n = positives * 8
    margin = rng.normal(size=n)
    y = np.zeros(n, dtype=int)
    y[np.argsort(-(margin + rng.normal(scale=0.8, size=n)))[:positives]] = 1
    calibrator = fit_calibrator(margin, y)
    p = calibrator.predict(margin)
    inside = (p > 0) & (p < 1)
    order = np.argsort(margin[inside])
    assert (np.diff(p[inside][order]) > 0).all()
    assert len(np.unique(p[inside])) == inside.sum()
    # ties are left only where the probability is clipped, at the extremes of the margin: at 0 for
    # the healthiest accounts, at 1 beyond a top block in which every account churned
    assert inside.mean() > 0.9
    assert (margin[p == 0].max(initial=-np.inf) < margin[inside].min()) and (
        margin[p == 1].min(initial=np.inf) > margin[inside].max()
    )


def test_step_function_isotonic_models_still_load():
    old = {"method": "isotonic", "x": [-1.0, 0.0, 0.0, 1.0], "y": [0.0, 0.0, 0.5, 0.5]}
    calibrator = calibrator_from_dict(old)
    assert isinstance(calibrator, IsotonicCalibrator)
    assert calibrator.predict(np.array([-2.0, 0.5, 2.0])).tolist() == [0.0, 0.5, 0.5]


def test_centered_isotonic_falls_back_to_platt_without_a_trend():
    margin = np.linspace(-1, 1, 2000)
    y = (margin < -0.5).astype(int)  # churn falls as the margin rises: the best isotonic fit is flat
    assert isinstance(fit_calibrator(margin, y), SigmoidCalibrator)
