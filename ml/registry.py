"""The model registry: one folder per version under `settings.models_dir`, and a `current` pointer.

    models/
      current                         one line: the promoted version
      promotions.jsonl                one line per training: version and the gate's decision
      20260227T000000-1a2b3c4d/
        model.txt                     LightGBM text model (booster.save_model)
        calibrator.json               sigmoid parameters or isotonic knots (no pickles)
        metadata.json                 version, windows, features, categories, metrics, thresholds, gate

Folders are written under a temporary name and renamed, and the pointer is replaced atomically,
so a reader never sees half a model. Model files are generated data: never commit them.
"""

import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from healthwatch.errors import HealthwatchError
from ml.calibration import calibrator_from_dict
from ml.evaluate import Thresholds
from ml.model import ChurnModel

CURRENT = "current"
MODEL_FILE = "model.txt"
CALIBRATOR_FILE = "calibrator.json"
METADATA_FILE = "metadata.json"
PROMOTIONS_LOG = "promotions.jsonl"


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n")


def save_model(models_dir: Path, model: ChurnModel) -> Path:
    """Write a version folder. A version id names its content, so an existing folder is kept as is."""
    models_dir.mkdir(parents=True, exist_ok=True)
    ignore = models_dir / ".gitignore"
    if not ignore.exists():
        # Wherever the warehouse (and so the models folder) lives, git never picks model files up.
        ignore.write_text("# written by healthwatch: model files are generated data, never committed\n*\n")
    final = models_dir / model.version
    if (final / METADATA_FILE).is_file():
        return final
    tmp = models_dir / f".tmp-{model.version}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    model.booster.save_model(str(tmp / MODEL_FILE), num_iteration=-1)
    _write_json(tmp / CALIBRATOR_FILE, model.calibrator.to_dict())
    _write_json(tmp / METADATA_FILE, {**model.metadata, "saved_at": datetime.now(UTC).isoformat()})
    shutil.rmtree(final, ignore_errors=True)  # an incomplete folder left by a crash
    tmp.rename(final)
    return final


def load_model(models_dir: Path, version: str, num_threads: int = 1) -> ChurnModel:
    folder = models_dir / version
    try:
        metadata = json.loads((folder / METADATA_FILE).read_text())
        calibrator = calibrator_from_dict(json.loads((folder / CALIBRATOR_FILE).read_text()))
        booster = lgb.Booster(model_file=str(folder / MODEL_FILE))
    except (OSError, ValueError, KeyError, lgb.basic.LightGBMError) as exc:
        raise HealthwatchError(
            f"model {version} in {models_dir} cannot be read: {exc}",
            f"retrain with `healthwatch train`, or point {models_dir / CURRENT} at a complete version",
        ) from exc
    thresholds = Thresholds.from_dict(metadata["thresholds"])
    return ChurnModel(booster, calibrator, thresholds, metadata, num_threads=num_threads)


def list_versions(models_dir: Path) -> list[str]:
    """Saved versions, oldest data clock first."""
    if not models_dir.is_dir():
        return []
    return sorted(p.name for p in models_dir.iterdir() if p.is_dir() and (p / METADATA_FILE).is_file())


def record_decision(models_dir: Path, version: str, decision: dict[str, Any]) -> None:
    """Append a gate decision to `promotions.jsonl`: one line per training, retrains of an
    identical model included (their version folder already exists and is not rewritten)."""
    models_dir.mkdir(parents=True, exist_ok=True)
    line = {"decided_at": datetime.now(UTC).isoformat(), "version": version, **decision}
    with (models_dir / PROMOTIONS_LOG).open("a", encoding="utf-8") as log:
        log.write(json.dumps(line, sort_keys=True, default=_json_default) + "\n")


def latest_promotion(models_dir: Path) -> tuple[str, dict[str, Any]] | None:
    """The most recent gate decision and the version it was about (None when nothing was trained)."""
    log = models_dir / PROMOTIONS_LOG
    if not log.is_file():
        return None
    lines = [line for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        return None
    decision = json.loads(lines[-1])
    return str(decision.pop("version")), decision


def current_version(models_dir: Path) -> str | None:
    pointer = models_dir / CURRENT
    if not pointer.is_file():
        return None
    return pointer.read_text().strip() or None


def load_current(models_dir: Path, num_threads: int = 1) -> ChurnModel | None:
    """The promoted model, or None when nothing has been promoted yet."""
    version = current_version(models_dir)
    return None if version is None else load_model(models_dir, version, num_threads)


def set_current(models_dir: Path, version: str) -> None:
    if not (models_dir / version / METADATA_FILE).is_file():
        raise HealthwatchError(
            f"no saved model {version} in {models_dir}", "train one with `healthwatch train`"
        )
    tmp = models_dir / f".{CURRENT}.{os.getpid()}"
    tmp.write_text(version + "\n")
    os.replace(tmp, models_dir / CURRENT)


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str
    candidate_pr_auc: float | None
    current_version: str | None = None
    current_pr_auc: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "promoted": self.promote,
            "reason": self.reason,
            "candidate_pr_auc": self.candidate_pr_auc,
            "current_version": self.current_version,
            "current_pr_auc": self.current_pr_auc,
        }


def _pr_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    return float(average_precision_score(y, p)) if 0 < y.sum() < len(y) else None


def promotion_decision(
    candidate: ChurnModel, holdout: pd.DataFrame, current: ChurnModel | None
) -> GateDecision:
    """Promote unless the candidate's PR-AUC is below the current model's on the candidate's holdout rows.

    Both models score the very same rows (the current one is re-run on them), so the comparison
    does not depend on which window each model happened to be measured on.
    """
    y = holdout["label"].to_numpy(dtype="int64")
    candidate_ap = _pr_auc(y, candidate.predict_proba(holdout))
    if current is None:
        return GateDecision(True, "first model: promoted without comparison", candidate_ap)
    if current.version == candidate.version:
        return GateDecision(
            True, "same content as the current model", candidate_ap, current.version, candidate_ap
        )
    missing = [c for c in current.features if c not in holdout.columns]
    if missing:
        return GateDecision(
            True,
            f"current model {current.version} needs columns the data no longer has ({', '.join(missing)}): replaced",
            candidate_ap,
            current.version,
        )
    current_ap = _pr_auc(y, current.predict_proba(holdout))
    if candidate_ap is None or current_ap is None:
        return GateDecision(
            False,
            "holdout has a single class: PR-AUC undefined, current model kept",
            candidate_ap,
            current.version,
        )
    seen = current.metadata.get("training_window", {}).get("end")
    caveat = ""
    if seen and holdout["snapshot_date"].min() <= pd.Timestamp(seen):
        caveat = " (the current model trained on part of these dates, which favours it)"
    verdict = (
        f"holdout PR-AUC {candidate_ap:.4f} vs current {current.version} {current_ap:.4f} on the same "
        f"{len(y)} rows{caveat}"
    )
    if candidate_ap >= current_ap:
        return GateDecision(True, f"not worse: {verdict}", candidate_ap, current.version, current_ap)
    return GateDecision(
        False, f"worse: {verdict}; current model kept", candidate_ap, current.version, current_ap
    )
