"""Backtest: the churn model against a logistic regression and the article's static rules.

All three contenders are measured on the very same rows: the snapshots of the evaluation window
(the holdout dates of `ml.train.time_split`, the later window nothing was fitted on), labelled by
churn in (d, d + H]. The model is trained exactly as `healthwatch train` trains it (training
dates, early stopping and calibration on the calibration dates); the logistic regression is fitted
on the same training rows and features; the rules need no fitting.

Operating points. The rules give one alert set (any rule fired). The model and the logistic
regression are put at the threshold that matches the rules' recall on the evaluation window, i.e.
the highest threshold whose recall is at least the rules' recall there: the comparison of alert
volume at equal recall, `false_positive_reduction_vs_rules` = 1 - FP_model / FP_rules. That is a
point read off the evaluation PR curve, not a fitted choice; the same comparison with the
threshold chosen on the calibration window (what one would deploy) is reported beside it, and so
are the model's stored At-Risk and Critical thresholds.

Alerts are counted per snapshot (account-week) flagged in the evaluation window. Lead time: for
each churner flagged, days from its first flagged snapshot inside the horizon before its churn to
the churn date. The evaluation window bounds it (a churner whose churn falls early in the window
has only its last weeks in it): `evaluation_window.lead_time_days_ceiling_median` is the median
of the longest lead each churner's snapshots in the window allow, what a perfect detector would show.
"""

import json
import math
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from healthwatch.batches import data_clock
from healthwatch.config import Settings
from healthwatch.errors import HealthwatchError
from healthwatch.warehouse import table_exists
from ml.evaluate import ThresholdPolicy, choose_thresholds, lead_times
from ml.features import (
    CATEGORICAL_COLUMNS,
    CATEGORIES,
    FEATURE_COLUMNS,
    build_training_set,
    load_accounts,
    load_snapshots,
    model_matrix,
    to_naive_utc,
)
from ml.model import ChurnModel
from ml.train import TimeSplit, train_model

JSON_FILE = "backtest.json"
HTML_FILE = "backtest.html"
CONTENDERS = ("model", "logistic", "rules")
BASELINES_TABLE = "signals.account_baselines"
# Mean |SHAP| for the top-features table is computed on at most this many evaluation rows.
SHAP_SAMPLE_ROWS = 5000
TOP_FEATURES = 15
LOGISTIC_C = 1.0
LOGISTIC_MAX_ITER = 2000
# Account-level bootstrap of the headline figures (few churners make them noisy: say how noisy).
BOOTSTRAP_REPLICATES = 200
BOOTSTRAP_SEED = 0
# Walk-forward: the last 40% of labelled dates, a model retrained every four weekly snapshots.
WALK_FORWARD_FRACTION = 0.4
WALK_FORWARD_STEP = 4


# --- the article's static rules -------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    needs: tuple[str, ...]  # columns without which the rule can never fire


RULES: tuple[Rule, ...] = (
    Rule(
        "login_drop",
        "logins down 30% or more week over week (logins_wow_change <= -0.30)",
        ("logins_wow_change",),
    ),
    Rule("low_nps", "last NPS answer below 7 (nps_score_last < 7)", ("nps_score_last",)),
    Rule(
        "ticket_spike",
        "3 or more tickets in the last 7 days, or 7-day tickets at least 3x the account's normal "
        "(tickets_7d >= 3, or tickets_7d >= 3 x tickets_7d_baseline with a baseline above 0)",
        ("tickets_7d",),
    ),
    Rule(
        "payment_failure",
        "a failed payment in the last 30 days (payment_failures_30d > 0)",
        ("payment_failures_30d",),
    ),
    Rule(
        "renewal_usage_down",
        "renewal within 90 days while logins are below the 4-week normal "
        "(0 <= days_to_renewal <= 90 and logins_7d_change < 0)",
        ("days_to_renewal", "logins_7d_change"),
    ),
)


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return pd.Series(np.nan, index=frame.index, dtype="float64")


def rule_flags(frame: pd.DataFrame) -> pd.DataFrame:
    """One boolean column per rule: did it fire on the snapshot? Missing values never fire a rule."""
    tickets, baseline = _col(frame, "tickets_7d"), _col(frame, "tickets_7d_baseline")
    renewal = _col(frame, "days_to_renewal")
    flags = {
        "login_drop": _col(frame, "logins_wow_change") <= -0.30,
        "low_nps": _col(frame, "nps_score_last") < 7,
        "ticket_spike": (tickets >= 3) | ((baseline > 0) & (tickets >= 3 * baseline)),
        "payment_failure": _col(frame, "payment_failures_30d") > 0,
        "renewal_usage_down": (renewal >= 0) & (renewal <= 90) & (_col(frame, "logins_7d_change") < 0),
    }
    return pd.DataFrame({name: flag.fillna(False).astype(bool) for name, flag in flags.items()})


def _with_ticket_baseline(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Attach `tickets_7d_baseline` from signals.account_baselines (not a model feature) when the
    warehouse has it; the ticket rule falls back to its absolute half otherwise."""
    has = table_exists(con, BASELINES_TABLE) and bool(
        con.execute(
            "select count(*) from information_schema.columns "
            "where table_schema = 'signals' and table_name = 'account_baselines' and column_name = 'tickets_7d_baseline'"
        ).fetchone()[0]
    )
    if not has:
        note = (
            f"{BASELINES_TABLE}.tickets_7d_baseline is not in this warehouse: the ticket rule uses "
            "only its absolute half (3 or more tickets in 7 days)"
        )
        return frame.assign(tickets_7d_baseline=np.nan), note
    baselines = con.execute(
        f"select cast(account_id as varchar) as account_id, cast(signal_date as date) as snapshot_date, "
        f"cast(tickets_7d_baseline as double) as tickets_7d_baseline from {BASELINES_TABLE} "
        "where signal_date in (select distinct snapshot_date from signals.account_features)"
    ).df()
    baselines["snapshot_date"] = pd.to_datetime(baselines["snapshot_date"])
    merged = frame.merge(baselines, on=["account_id", "snapshot_date"], how="left", validate="one_to_one")
    note = (
        f"the ticket rule's baseline is {BASELINES_TABLE}.tickets_7d_baseline (median of the previous "
        "four same weekdays), joined on account and snapshot date; it is not a model feature"
    )
    return merged, note


# --- the logistic regression ----------------------------------------------------------------------
def _logistic_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    x = model_matrix(frame)
    for column in CATEGORICAL_COLUMNS:
        x[column] = x[column].astype("object").where(x[column].notna(), "missing")
    return x


def fit_logistic(train: pd.DataFrame) -> Pipeline:
    """Logistic regression on the model's features: median imputation with missing-value
    indicators, standardisation, the segment one-hot encoded."""
    numeric = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]
    )
    categorical = OneHotEncoder(
        categories=[[*CATEGORIES[c], "missing"] for c in CATEGORICAL_COLUMNS], handle_unknown="ignore"
    )
    pipeline = Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [("numeric", numeric, FEATURE_COLUMNS), ("categorical", categorical, CATEGORICAL_COLUMNS)]
                ),
            ),
            ("logistic", LogisticRegression(C=LOGISTIC_C, max_iter=LOGISTIC_MAX_ITER)),
        ]
    )
    return pipeline.fit(_logistic_matrix(train), train["label"].to_numpy(dtype="int64"))


def _logistic_proba(pipeline: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    return pipeline.predict_proba(_logistic_matrix(frame))[:, 1]


# --- metrics ----------------------------------------------------------------------------------------
def threshold_for_recall(y: np.ndarray, score: np.ndarray, recall: float) -> float:
    """The highest threshold t whose alerts (score >= t) reach at least `recall` of the positives."""
    positives = int(y.sum())
    if positives == 0 or recall <= 0:
        return math.inf
    order = np.argsort(-score, kind="stable")
    hits = np.cumsum(y[order])
    needed = math.ceil(recall * positives - 1e-9)
    return float(score[order][int(np.searchsorted(hits, needed))])


def _ratio(a: float, b: float) -> float | None:
    return float(a / b) if b else None


def _operating_metrics(frame: pd.DataFrame, flagged: np.ndarray) -> dict[str, Any]:
    y = frame["label"].to_numpy(dtype="int64") == 1
    flagged = np.asarray(flagged, dtype=bool)
    tp, fp = int((flagged & y).sum()), int((flagged & ~y).sum())
    days = lead_times(frame, flagged)
    return {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, int(y.sum())),
        "alerts": int(flagged.sum()),
        "true_positives": tp,
        "false_positives": fp,
        "lead_time_days_median": float(days.median()) if len(days) else None,
        "accounts_alerted": int(frame.loc[flagged, "account_id"].nunique()),
        "churners": int(frame.loc[y, "account_id"].nunique()),
        "churners_flagged": len(days),
    }


def _ranking(y: np.ndarray, score: np.ndarray) -> dict[str, float | None]:
    both = 0 < y.sum() < len(y)
    return {
        "roc_auc": float(roc_auc_score(y, score)) if both else None,
        "pr_auc": float(average_precision_score(y, score)) if both else None,
    }


def _fp_reduction(fp_model: int, fp_rules: int) -> float | None:
    return 1.0 - fp_model / fp_rules if fp_rules else None


def lead_time_ceiling(frame: pd.DataFrame) -> pd.Series:
    """Per churner in `frame`: the longest lead time the window allows (an alert on its first
    positive snapshot in the window)."""
    return lead_times(frame, np.ones(len(frame), dtype=bool))


def _window(frame: pd.DataFrame, dates: list[pd.Timestamp]) -> dict[str, Any]:
    y = frame["label"].to_numpy(dtype="int64")
    return {
        "start": dates[0].date().isoformat() if dates else None,
        "end": dates[-1].date().isoformat() if dates else None,
        "dates": len(dates),
        "accounts": int(frame["account_id"].nunique()),
        "snapshots": len(frame),
        "positives": int(y.sum()),
        "churners": int(frame.loc[y == 1, "account_id"].nunique()),
        "base_rate": float(y.mean()) if len(y) else None,
    }


def _brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((np.asarray(p, dtype="float64") - y) ** 2))


def _sigmoid(margin: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(margin, -500, 500)))


def top_features(model: ChurnModel, frame: pd.DataFrame, k: int = TOP_FEATURES) -> list[dict[str, Any]]:
    """Features by mean |SHAP| (log-odds) on evaluation rows, with their share of split gain."""
    sample = frame if len(frame) <= SHAP_SAMPLE_ROWS else frame.sample(SHAP_SAMPLE_ROWS, random_state=0)
    contributions = model.contributions(model.matrix(sample))[:, : len(model.features)]
    mean_abs = np.abs(contributions).mean(axis=0)
    gain = np.asarray(model.booster.feature_importance(importance_type="gain"), dtype="float64")
    gain_share = gain / gain.sum() if gain.sum() else gain
    order = np.argsort(-mean_abs, kind="stable")[:k]
    return [
        {
            "feature": model.features[i],
            "mean_abs_contribution": round(float(mean_abs[i]), 6),
            "gain_share": round(float(gain_share[i]), 6),
        }
        for i in order
    ]


# --- uncertainty --------------------------------------------------------------------------------------
def bootstrap_intervals(
    ev: pd.DataFrame,
    scores: dict[str, np.ndarray],
    rules_alert: np.ndarray,
    replicates: int = BOOTSTRAP_REPLICATES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, Any]:
    """95% percentile intervals of the headline figures, resampling the evaluation window's accounts
    with replacement (an account's snapshots stay together: they are not independent).

    Each replicate recomputes the equal-recall operating point, so the interval of
    `false_positive_reduction_vs_rules` includes the uncertainty of the threshold itself.
    """
    rng = np.random.default_rng(seed)
    codes, uniques = pd.factorize(ev["account_id"])
    rows_of = [np.flatnonzero(codes == i) for i in range(len(uniques))]
    y_all = ev["label"].to_numpy(dtype="int64")
    base = ev[["snapshot_date", "churned_at", "label"]].reset_index(drop=True)
    draws: dict[str, list[float]] = {
        "model_pr_auc": [],
        "logistic_pr_auc": [],
        "rules_pr_auc": [],
        "model_minus_logistic_pr_auc": [],
        "false_positive_reduction_vs_rules": [],
        "model_lead_time_days_median": [],
    }
    for _ in range(replicates):
        picked = rng.integers(0, len(uniques), len(uniques))
        index = np.concatenate([rows_of[i] for i in picked])
        y = y_all[index]
        if not 0 < y.sum() < len(y):
            continue
        frame = base.iloc[index].assign(
            account_id=np.repeat(np.arange(len(picked)), [len(rows_of[i]) for i in picked])
        )
        rules = rules_alert[index]
        pr = {name: float(average_precision_score(y, scores[name][index])) for name in CONTENDERS}
        draws["model_pr_auc"].append(pr["model"])
        draws["logistic_pr_auc"].append(pr["logistic"])
        draws["rules_pr_auc"].append(pr["rules"])
        draws["model_minus_logistic_pr_auc"].append(pr["model"] - pr["logistic"])
        recall = (rules & (y == 1)).sum() / y.sum()
        model_flags = scores["model"][index] >= threshold_for_recall(y, scores["model"][index], recall)
        fp_rules = int((rules & (y == 0)).sum())
        if recall > 0 and fp_rules:
            draws["false_positive_reduction_vs_rules"].append(
                1 - int((model_flags & (y == 0)).sum()) / fp_rules
            )
        days = lead_times(frame, model_flags)
        if len(days):
            draws["model_lead_time_days_median"].append(float(days.median()))
    out: dict[str, Any] = {
        "replicates": replicates,
        "resampled": "accounts of the evaluation window",
        "seed": seed,
    }
    for name, values in draws.items():
        out[name] = (
            {
                "low": float(np.percentile(values, 2.5)),
                "high": float(np.percentile(values, 97.5)),
                "n": len(values),
            }
            if values
            else None
        )
    return out


# --- walk-forward ---------------------------------------------------------------------------------------
def walk_forward(
    snapshots: pd.DataFrame,
    accounts: pd.DataFrame,
    labelled: pd.DataFrame,
    settings: Settings,
    fraction: float = WALK_FORWARD_FRACTION,
    step: int = WALK_FORWARD_STEP,
    bootstrap: int = BOOTSTRAP_REPLICATES,
) -> dict[str, Any]:
    """The comparison over a longer later period, as a deployment retraining every `step` weeks would
    have lived it: the last `fraction` of the labelled snapshot dates, cut into blocks of `step`
    dates; each block is scored by a model trained at the block's first date on what was known then
    (labels only from churn observed by that day, `build_training_set` with that clock), and a
    logistic regression fitted on the same training rows. The blocks' scores are pooled and compared
    with the rules at equal recall, as in the single split.

    Blocks whose training data is too thin are skipped and named in `skipped`.
    """
    horizon = settings.config.churn.horizon_days
    dates = sorted(pd.to_datetime(labelled["snapshot_date"]).unique())
    first = len(dates) - max(step, round(len(dates) * fraction))
    blocks = [dates[i : i + step] for i in range(max(first, 1), len(dates), step)]
    folds: list[dict[str, Any]] = []
    skipped: list[str] = []
    pieces: list[pd.DataFrame] = []
    for block in blocks:
        start = pd.Timestamp(block[0])
        training_set = build_training_set(snapshots, accounts, horizon, start.to_pydatetime())
        try:
            run = train_model(training_set, settings.config.model, horizon, start.to_pydatetime())
        except HealthwatchError as exc:
            skipped.append(f"block from {start.date()}: {exc}")
            continue
        train = training_set.loc[training_set["snapshot_date"].isin(run.split.train_dates)]
        logistic = fit_logistic(train)
        rows = labelled.loc[labelled["snapshot_date"].isin(block)].reset_index(drop=True)
        pieces.append(
            rows.assign(_model=run.model.predict_proba(rows), _logistic=_logistic_proba(logistic, rows))
        )
        folds.append(
            {
                "trained_at": start.date().isoformat(),
                "model_version": run.model.version,
                "training_window": _window(train, run.split.train_dates),
                "scored": _window(rows, list(block)),
            }
        )
    out: dict[str, Any] = {"fraction": fraction, "step_dates": step, "folds": folds, "skipped": skipped}
    if not pieces:
        return {**out, "note": "no block had enough labelled history to train on"}
    ev = pd.concat(pieces, ignore_index=True)
    y = ev["label"].to_numpy(dtype="int64")
    rules = rule_flags(ev)
    rules_alert = rules.any(axis=1).to_numpy()
    scores = {
        "model": ev["_model"].to_numpy(),
        "logistic": ev["_logistic"].to_numpy(),
        "rules": rules.sum(axis=1).to_numpy(dtype="float64"),
    }
    blocks_out: dict[str, Any] = {
        "rules": {**_ranking(y, scores["rules"]), **_operating_metrics(ev, rules_alert)}
    }
    recall = blocks_out["rules"]["recall"] or 0.0
    for name in ("model", "logistic"):
        threshold = threshold_for_recall(y, scores[name], recall)
        blocks_out[name] = {
            **_ranking(y, scores[name]),
            **_operating_metrics(ev, scores[name] >= threshold),
            "threshold": threshold,
        }
    fp_rules = blocks_out["rules"]["false_positives"]
    reduction = _fp_reduction(blocks_out["model"]["false_positives"], fp_rules) if recall > 0 else None
    pooled_dates = sorted(pd.to_datetime(ev["snapshot_date"]).unique())
    ceiling = lead_time_ceiling(ev)
    return {
        **out,
        "evaluation_window": {
            **_window(ev, pooled_dates),
            "lead_time_days_ceiling_median": float(ceiling.median()) if len(ceiling) else None,
        },
        **blocks_out,
        "false_positive_reduction_vs_rules": reduction,
        "intervals_95": bootstrap_intervals(ev, scores, rules_alert, bootstrap) if bootstrap else None,
    }


# --- the run ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BacktestResult:
    """What `run_backtest` wrote and found; `report` is the content of backtest.json."""

    json_path: Path
    html_path: Path
    report: dict[str, Any]
    seconds: float

    def summary(self) -> str:
        """A few lines for the CLI."""
        r = self.report
        ev = r["evaluation_window"]
        lines = [
            f"backtest on {r['accounts']:,} accounts, {r['snapshots']:,} labelled snapshots "
            f"({r['data_window']['start']} to {r['data_window']['end']}); churn = {r['churn_definition']}, "
            f"horizon {r['horizon_days']} days",
            f"evaluated on {ev['snapshots']:,} snapshots of {ev['accounts']:,} accounts, {ev['start']} to "
            f"{ev['end']} ({ev['positives']:,} positive, base rate {_pct(ev['base_rate'])})",
            f"{'':10} {'ROC-AUC':>8} {'PR-AUC':>8} {'precision':>10} {'recall':>8} {'alerts':>8} {'FP':>8} "
            f"{'lead (d)':>9}",
        ]
        for name in CONTENDERS:
            c = r[name]
            lines.append(
                f"{name:10} {_num(c['roc_auc']):>8} {_num(c['pr_auc']):>8} {_num(c['precision']):>10} "
                f"{_num(c['recall']):>8} {c['alerts']:>8,} {c['false_positives']:>8,} "
                f"{_num(c['lead_time_days_median'], 0):>9}"
            )
        reduction = r["false_positive_reduction_vs_rules"]
        if reduction is None:
            verdict = "n/a (the rules flag no churner)"
        elif reduction >= 0:
            verdict = f"{reduction:.1%} fewer than the rules"
        else:
            verdict = f"{-reduction:.1%} more than the rules"
        lines.append(f"model false positives at the rules' recall ({_num(r['rules']['recall'])}): {verdict}")
        ci = r.get("intervals_95") or {}
        spans = [
            f"{label} {_num(ci[key]['low'], digits)} to {_num(ci[key]['high'], digits)}"
            for key, label, digits in (
                ("model_pr_auc", "model PR-AUC", 3),
                ("model_minus_logistic_pr_auc", "model - logistic PR-AUC", 3),
                ("false_positive_reduction_vs_rules", "FP reduction", 3),
                ("model_lead_time_days_median", "median lead (d)", 0),
            )
            if ci.get(key)
        ]
        if spans:
            lines.append(f"95% intervals, accounts resampled {ci['replicates']}x: " + "; ".join(spans))
        wf = r.get("walk_forward") or {}
        if wf.get("evaluation_window"):
            ev_wf = wf["evaluation_window"]
            reduction_wf = wf["false_positive_reduction_vs_rules"]
            lines.append(
                f"walk-forward: {len(wf['folds'])} models retrained every {wf['step_dates']} snapshot dates, "
                f"{ev_wf['snapshots']:,} snapshots {ev_wf['start']} to {ev_wf['end']} ({ev_wf['churners']} churners): "
                f"PR-AUC model {_num(wf['model']['pr_auc'])}, logistic {_num(wf['logistic']['pr_auc'])}, "
                f"rules {_num(wf['rules']['pr_auc'])}; FP reduction vs rules at equal recall "
                f"{_num(reduction_wf)}; median lead model {_num(wf['model']['lead_time_days_median'], 0)} d, "
                f"rules {_num(wf['rules']['lead_time_days_median'], 0)} d"
            )
        elif wf:
            lines.append(f"walk-forward: {wf.get('note', 'not run')}")
        lines.append(f"wrote {self.json_path} and {self.html_path} ({self.seconds:.1f} s)")
        return "\n".join(lines)


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _clean(value: Any) -> Any:
    """NaN and infinities become null, so the file is strict JSON."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (float, np.floating)) and not math.isfinite(float(value)):
        return None
    return value


def _split_parts(training_set: pd.DataFrame, split: TimeSplit) -> dict[str, pd.DataFrame]:
    return {
        name: training_set.loc[training_set["snapshot_date"].isin(dates)].reset_index(drop=True)
        for name, dates in (
            ("train", split.train_dates),
            ("calibration", split.calibration_dates),
            ("evaluation", split.holdout_dates),
        )
    }


def run_backtest(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    out_dir: Path,
    clock: datetime | None = None,
    bootstrap: int = BOOTSTRAP_REPLICATES,
    walk: bool = True,
) -> BacktestResult:
    """Train on the earlier window, evaluate the model, a logistic regression and the static rules
    on the later one, and write `out_dir/backtest.json` and `out_dir/backtest.html`.

    `bootstrap` replicates give the 95% intervals of the headline figures (`intervals_95`); `walk`
    adds the walk-forward comparison over a longer later period (`walk_forward`).
    Reads only (`signals.account_features`, `signals.accounts`, and `signals.account_baselines` for
    the ticket rule's baseline); registers nothing. Raises HealthwatchError with the fix when the
    warehouse is not built or has too few churners to train on.
    """
    from ml.backtest_report import render_html  # matplotlib: imported only when a report is written

    started = time.perf_counter()
    clock = data_clock(con) if clock is None else clock
    churn = settings.config.churn
    horizon = churn.horizon_days
    snapshots = load_snapshots(con)
    accounts = load_accounts(con)
    training_set = build_training_set(snapshots, accounts, horizon, clock)
    run = train_model(training_set, settings.config.model, horizon, clock)
    model, split = run.model, run.split
    notes: list[str] = [
        f"the model is trained afresh as `healthwatch train` would train it at this data clock "
        f"({model.version}); the backtest registers nothing",
        split.note,
    ]

    labelled, baseline_note = _with_ticket_baseline(con, training_set)
    notes.append(baseline_note)
    parts = _split_parts(labelled, split)
    train, cal, ev = parts["train"], parts["calibration"], parts["evaluation"]
    if split.calibration_is_holdout:
        notes.append(
            "too few positives to keep calibration and evaluation apart: the evaluation window is also "
            "the calibration window, so the model's figures are optimistic"
        )
    y_cal = cal["label"].to_numpy(dtype="int64")
    y_ev = ev["label"].to_numpy(dtype="int64")

    # Scores of each contender on the calibration and evaluation rows.
    logistic = fit_logistic(train)
    rules_cal, rules_ev = rule_flags(cal), rule_flags(ev)
    scores = {
        "model": {"calibration": model.predict_proba(cal), "evaluation": model.predict_proba(ev)},
        "logistic": {
            "calibration": _logistic_proba(logistic, cal),
            "evaluation": _logistic_proba(logistic, ev),
        },
        "rules": {
            "calibration": rules_cal.sum(axis=1).to_numpy(dtype="float64"),
            "evaluation": rules_ev.sum(axis=1).to_numpy(dtype="float64"),
        },
    }
    rules_alert_ev = rules_ev.any(axis=1).to_numpy()
    for rule in RULES:
        absent = [c for c in rule.needs if c not in ev.columns or ev[c].isna().all()]
        if absent:
            notes.append(
                f"rule {rule.name} cannot fire: no data in {', '.join(absent)} (a source this warehouse lacks)"
            )
    rules_alert_cal = rules_cal.any(axis=1).to_numpy()

    # Equal recall on the evaluation window (the headline).
    rules_block = {**_ranking(y_ev, scores["rules"]["evaluation"]), **_operating_metrics(ev, rules_alert_ev)}
    target_recall = rules_block["recall"] or 0.0
    report_contenders: dict[str, dict[str, Any]] = {}
    operating_thresholds: dict[str, float | None] = {}
    flags_ev: dict[str, np.ndarray] = {"rules": rules_alert_ev}
    for name in ("model", "logistic"):
        score = scores[name]["evaluation"]
        threshold = threshold_for_recall(y_ev, score, target_recall)
        flags_ev[name] = score >= threshold
        operating_thresholds[name] = threshold
        report_contenders[name] = {
            **_ranking(y_ev, score),
            **_operating_metrics(ev, flags_ev[name]),
            "threshold": threshold,
            "brier": _brier(y_ev, score),
        }
    report_contenders["rules"] = {**rules_block, "threshold": "any rule fired (score = rules fired, 0-5)"}
    report_contenders["rules"]["rules_fired"] = {
        rule: {
            "alerts": int(rules_ev[rule].sum()),
            "true_positives": int((rules_ev[rule].to_numpy() & (y_ev == 1)).sum()),
        }
        for rule in rules_ev.columns
    }

    # The same comparison with thresholds chosen on the calibration window (deployable).
    rules_recall_cal = _ratio(int((rules_alert_cal & (y_cal == 1)).sum()), int(y_cal.sum())) or 0.0
    from_calibration: dict[str, Any] = {
        "rules_recall_on_calibration": rules_recall_cal,
        "rules": _operating_metrics(ev, rules_alert_ev),
    }
    for name in ("model", "logistic"):
        threshold = threshold_for_recall(y_cal, scores[name]["calibration"], rules_recall_cal)
        from_calibration[name] = {
            "threshold": threshold,
            **_operating_metrics(ev, scores[name]["evaluation"] >= threshold),
        }
        from_calibration[name]["false_positive_reduction_vs_rules"] = _fp_reduction(
            from_calibration[name]["false_positives"], rules_block["false_positives"]
        )

    # Class thresholds: the model's stored ones; the logistic regression's chosen the same way.
    logistic_thresholds = choose_thresholds(y_cal, scores["logistic"]["calibration"], model_policy(model))
    at_thresholds: dict[str, Any] = {}
    for name, thresholds in (("model", model.thresholds), ("logistic", logistic_thresholds)):
        score = scores[name]["evaluation"]
        at_thresholds[name] = {
            "at_risk": {
                "threshold": thresholds.at_risk,
                **_operating_metrics(ev, score >= thresholds.at_risk),
            },
            "critical": {
                "threshold": thresholds.critical,
                **_operating_metrics(ev, score >= thresholds.critical),
            },
        }

    margin_ev = model.margin(model.matrix(ev))
    features = top_features(model, ev)
    ceiling = lead_time_ceiling(ev)
    fp_rules = rules_block["false_positives"]
    reduction = _fp_reduction(report_contenders["model"]["false_positives"], fp_rules)
    if target_recall == 0:
        reduction = None
        notes.append("the rules flag no churner in the evaluation window: equal-recall comparison undefined")
    dates = sorted(labelled["snapshot_date"].unique())
    report: dict[str, Any] = {
        "as_of": to_naive_utc(clock).isoformat(),
        "churn_definition": churn.definition,
        "inactive_days": churn.inactive_days if churn.definition == "inactivity" else None,
        "horizon_days": horizon,
        "data_window": {
            "start": pd.Timestamp(dates[0]).date().isoformat(),
            "end": pd.Timestamp(dates[-1]).date().isoformat(),
            "snapshot_dates": len(dates),
            "note": "labelled snapshots: every snapshot whose whole horizon is observed by the data clock",
        },
        "accounts": int(labelled["account_id"].nunique()),
        "snapshots": len(labelled),
        "base_rate": float(y_ev.mean()) if len(y_ev) else None,
        "training_window": _window(train, split.train_dates),
        "calibration_window": _window(cal, split.calibration_dates),
        "evaluation_window": {
            **_window(ev, split.holdout_dates),
            "lead_time_days_ceiling_median": float(ceiling.median()) if len(ceiling) else None,
        },
        "split": split.describe(),
        "model_version": model.version,
        "model": report_contenders["model"],
        "logistic": report_contenders["logistic"],
        "rules": report_contenders["rules"],
        "false_positive_reduction_vs_rules": reduction,
        "operating_point": {
            "rule": "model and logistic at the highest threshold whose recall on the evaluation window "
            "is at least the rules' recall there",
            "recall_target": target_recall,
            "model_threshold": operating_thresholds["model"],
            "logistic_threshold": operating_thresholds["logistic"],
        },
        "threshold_from_calibration": from_calibration,
        "at_class_thresholds": at_thresholds,
        "calibration": {
            "method": model.calibrator.method,
            "brier_raw_booster": _brier(y_ev, _sigmoid(margin_ev)),
            "brier_calibrated": report_contenders["model"]["brier"],
        },
        "model_thresholds": model.thresholds.to_dict(),
        "rules_definition": [{"name": r.name, "fires_when": r.description} for r in RULES],
        "top_features": features,
        "intervals_95": bootstrap_intervals(
            ev, {name: scores[name]["evaluation"] for name in CONTENDERS}, rules_alert_ev, bootstrap
        )
        if bootstrap
        else None,
        "walk_forward": walk_forward(snapshots, accounts, labelled, settings, bootstrap=bootstrap)
        if walk
        else None,
        "notes": notes,
    }
    report = _clean(report)

    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out_dir / JSON_FILE, out_dir / HTML_FILE
    json_path.write_text(json.dumps(report, indent=2, default=_json_default) + "\n")
    curves = {
        "y": y_ev,
        "scores": {name: scores[name]["evaluation"] for name in CONTENDERS},
        "flags": flags_ev,
        "raw_probability": _sigmoid(margin_ev),
        "lead_times": {name: lead_times(ev, flags_ev[name]).to_numpy() for name in CONTENDERS},
        "lead_time_ceiling": ceiling.to_numpy(),
    }
    html_path.write_text(render_html(report, curves))
    return BacktestResult(json_path, html_path, report, time.perf_counter() - started)


def model_policy(model: ChurnModel) -> ThresholdPolicy:
    """The threshold policy stored with the model (the default one for models saved before it was)."""
    stored = model.metadata.get("threshold_policy")
    return ThresholdPolicy(**stored) if stored else ThresholdPolicy()
