"""Registry: files on disk, an identical model after reload, the current pointer and the promotion gate."""

import json

import numpy as np
import pandas as pd
import pytest

from healthwatch.config import ModelConfig
from healthwatch.errors import HealthwatchError
from ml import registry
from ml.pipeline import register_run
from ml.train import train_model


def test_round_trip_predicts_identical_probabilities(tmp_path, run, con):
    folder = registry.save_model(tmp_path / "models", run.model)
    assert sorted(p.name for p in folder.iterdir()) == ["calibrator.json", "metadata.json", "model.txt"]
    assert (tmp_path / "models" / ".gitignore").read_text().splitlines()[-1] == "*"  # never committed
    assert json.loads((folder / "calibrator.json").read_text())["method"] in {"sigmoid", "centered_isotonic"}
    loaded = registry.load_model(tmp_path / "models", run.model.version)
    frame = pd.concat([run.holdout, run.holdout.head(50)])
    assert np.array_equal(loaded.predict_proba(frame), run.model.predict_proba(frame))
    x = run.model.matrix(frame)
    assert np.array_equal(loaded.contributions(x), run.model.contributions(x))
    assert loaded.thresholds == run.model.thresholds
    assert loaded.metadata["metrics"] == run.model.metadata["metrics"]


def test_version_id_is_sortable_and_names_the_content(run):
    stamp, digest = run.model.version.split("-")
    assert stamp == "20251009T100000"
    assert len(digest) == 8 and int(digest, 16) >= 0


def test_first_model_is_promoted_and_a_worse_one_is_refused(tmp_path, run, training_set, world):
    models = tmp_path / "models"
    first = register_run(models, run)
    assert first.promoted and "first model" in first.reason
    assert registry.current_version(models) == run.model.version

    # Same dates and holdout, but the training window's labels shuffled: the model learns noise.
    shuffled = training_set.copy()
    early = shuffled["snapshot_date"] < run.split.calibration_dates[0]
    rng = np.random.default_rng(0)
    shuffled.loc[early, "label"] = rng.permutation(shuffled.loc[early, "label"].to_numpy())
    worse = train_model(shuffled, ModelConfig(), 90, world.clock)
    assert worse.split.holdout_dates == run.split.holdout_dates

    second = register_run(models, worse)
    assert not second.promoted
    assert second.reason.startswith("worse")
    assert registry.current_version(models) == run.model.version  # pointer unchanged
    assert registry.list_versions(models) == sorted([run.model.version, worse.model.version])
    saved = json.loads((models / worse.model.version / "metadata.json").read_text())
    assert saved["promotion"]["promoted"] is False
    assert saved["promotion"]["current_pr_auc"] > saved["promotion"]["candidate_pr_auc"]


def test_gate_compares_both_models_on_the_same_rows(run):
    decision = registry.promotion_decision(run.model, run.holdout, run.model)
    assert decision.promote  # not worse than itself
    assert decision.candidate_pr_auc == decision.current_pr_auc


def test_a_broken_pointer_says_how_to_fix_it(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "current").write_text("20250101T000000-deadbeef\n")
    with pytest.raises(HealthwatchError, match="cannot be read"):
        registry.load_current(models)
    assert registry.load_current(tmp_path / "nothing") is None


def test_latest_promotion_reports_every_training_including_an_identical_retrain(
    tmp_path, run, training_set, world
):
    models = tmp_path / "models"
    assert registry.latest_promotion(models) is None
    register_run(models, run)
    version, decision = registry.latest_promotion(models)
    assert version == run.model.version and decision["promoted"] is True
    assert "first model" in decision["reason"]
    # the same model again: its folder is kept as it was, the new decision is still recorded
    register_run(models, run)
    version, decision = registry.latest_promotion(models)
    assert version == run.model.version and decision["reason"] == "same content as the current model"
    # a second, smaller model: compared with the current one on the same holdout rows
    later = train_model(
        training_set, ModelConfig(num_boost_round=10, early_stopping_rounds=5), 90, world.clock
    )
    register_run(models, later)
    version, decision = registry.latest_promotion(models)
    assert version == later.model.version
    assert decision["current_version"] == run.model.version and "on the same" in decision["reason"]
    assert len((models / "promotions.jsonl").read_text().splitlines()) == 3
