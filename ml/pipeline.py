"""The two entry points the Dagster assets and the CLI call: train (with the promotion gate) and score."""

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from healthwatch.batches import data_clock
from healthwatch.config import Settings
from ml import registry
from ml.evaluate import HEALTH_CLASSES
from ml.features import build_training_set, load_accounts, load_snapshots, sample_accounts
from ml.score import score_accounts
from ml.train import TrainingRun, train_model


@dataclass(frozen=True)
class TrainingResult:
    version: str
    promoted: bool
    reason: str
    metrics: dict[str, Any]
    thresholds: dict[str, Any]
    rows: dict[str, int]
    positives: int
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step


@dataclass(frozen=True)
class ScoringResult:
    model_version: str
    accounts_scored: int
    by_class: dict[str, int]
    trained: TrainingResult | None = None
    note: str = ""
    scored_at: datetime | None = None
    accounts_requested: int | None = None  # None: every account
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step


def register_run(models_dir: Path, run: TrainingRun, num_threads: int = 1) -> TrainingResult:
    """Save a trained model and promote it if the gate allows (first model: always)."""
    started = time.perf_counter()
    current = registry.load_current(models_dir, num_threads)
    decision = registry.promotion_decision(run.model, run.holdout, current)
    model = replace(run.model, metadata={**run.model.metadata, "promotion": decision.to_dict()})
    registry.save_model(models_dir, model)
    if decision.promote:
        registry.set_current(models_dir, model.version)
    registry.record_decision(models_dir, model.version, decision.to_dict())
    return TrainingResult(
        version=model.version,
        promoted=decision.promote,
        reason=decision.reason,
        metrics=model.metadata["metrics"],
        thresholds=model.thresholds.to_dict(),
        rows=run.rows,
        positives=run.positives,
        timings={"gate_and_register_s": round(time.perf_counter() - started, 3)},
    )


def train_and_promote(
    con: duckdb.DuckDBPyConnection, settings: Settings, clock: datetime | None = None
) -> TrainingResult:
    """Train on the labelled snapshots as of the data clock (all of them, or a sample of whole
    accounts above `model.max_training_snapshots`), register the model, promote it if it is not
    worse than the current one on the same holdout rows."""
    clock = data_clock(con) if clock is None else clock
    horizon = settings.config.churn.horizon_days
    started = time.perf_counter()
    sample = sample_accounts(con, settings.config.model.max_training_snapshots)
    snapshots = load_snapshots(con, None if sample is None else sample.account_ids)
    training_set = build_training_set(snapshots, load_accounts(con), horizon, clock)
    del snapshots  # the unlabelled frame is not needed while LightGBM builds its matrices
    loaded = time.perf_counter()
    run = train_model(training_set, settings.config.model, horizon, clock, sample=sample)
    trained = time.perf_counter()
    result = register_run(settings.models_dir, run, settings.config.model.predict_threads)
    timings = {
        "load_s": round(loaded - started, 3),
        "train_s": round(trained - loaded, 3),
        **result.timings,
        "total_s": round(time.perf_counter() - started, 3),
    }
    return replace(result, timings=timings)


def score_current(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    clock: datetime | None = None,
    account_ids: Sequence[str] | None = None,
) -> ScoringResult:
    """Score accounts (all, or `account_ids`) with the promoted model; trains one first if there is none."""
    clock = data_clock(con) if clock is None else clock
    started = time.perf_counter()
    num_threads = settings.config.model.predict_threads
    model = registry.load_current(settings.models_dir, num_threads)
    trained = None
    note = ""
    if model is None:
        trained = train_and_promote(con, settings, clock)  # the first model is always promoted
        model = registry.load_model(settings.models_dir, trained.version, num_threads)
        note = f"no promoted model in {settings.models_dir}: trained and promoted {trained.version} first"
    scoring_started = time.perf_counter()
    written = score_accounts(con, model, clock, account_ids)
    finished = time.perf_counter()
    counts = Counter(written["health_class"])
    return ScoringResult(
        model_version=model.version,
        accounts_scored=len(written),
        by_class={name: int(counts.get(name, 0)) for name in HEALTH_CLASSES},
        trained=trained,
        note=note,
        scored_at=clock,
        accounts_requested=None if account_ids is None else len(account_ids),
        timings={
            "model_s": round(scoring_started - started, 3),
            "score_and_write_s": round(finished - scoring_started, 3),
            "total_s": round(finished - started, 3),
        },
    )
