"""The backtest's HTML page: one self-contained file, plots embedded as base64 PNGs.

Plots are drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state, no
display needed). Every text that comes from data goes through html.escape.
"""

import base64
import io
from html import escape
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve

COLOURS = {"model": "#1b6ca8", "logistic": "#e08a1e", "rules": "#b8323a"}
LABELS = {"model": "LightGBM model", "logistic": "logistic regression", "rules": "static rules"}
CONTENDERS = ("model", "logistic", "rules")
# Probability bins of the calibration plot: fine where most accounts are, coarse in the tail.
CALIBRATION_EDGES = np.array([0.0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0000001])


def _png(fig: Figure) -> str:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _pr_curves(report: dict[str, Any], curves: dict[str, Any]) -> str:
    fig = Figure(figsize=(6.4, 4.6))
    ax = fig.add_subplot()
    y = curves["y"]
    for name in CONTENDERS:
        score = curves["scores"][name]
        if 0 < y.sum() < len(y):
            precision, recall, _ = precision_recall_curve(y, score)
            ax.plot(
                recall,
                precision,
                drawstyle="steps-post",
                color=COLOURS[name],
                label=f"{LABELS[name]} (PR-AUC {_f(report[name]['pr_auc'])})",
            )
        point = report[name]
        if point["recall"] is not None and point["precision"] is not None:
            ax.plot(point["recall"], point["precision"], "o", color=COLOURS[name], markersize=7)
    if report["base_rate"] is not None:
        ax.axhline(
            report["base_rate"], color="grey", linestyle=":", label=f"base rate {report['base_rate']:.3f}"
        )
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.01), ylim=(0, 1.02))
    ax.set_title(
        "Precision-recall on the evaluation window (dots: operating points at equal recall)", fontsize=9
    )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    return _png(fig)


def _reliability(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean predicted vs observed rate, and row count, per bin of p (fixed edges, empty bins left out)."""
    which = np.clip(np.digitize(p, CALIBRATION_EDGES[1:-1]), 0, len(CALIBRATION_EDGES) - 2)
    bins = [np.flatnonzero(which == b) for b in range(len(CALIBRATION_EDGES) - 1)]
    bins = [b for b in bins if len(b)]
    return (
        np.array([p[b].mean() for b in bins]),
        np.array([y[b].mean() for b in bins]),
        np.array([len(b) for b in bins]),
    )


def _calibration(report: dict[str, Any], curves: dict[str, Any]) -> str:
    fig = Figure(figsize=(5.2, 4.6))
    ax = fig.add_subplot()
    y = curves["y"]
    calibration = report["calibration"]
    series = (
        (
            "raw booster (sigmoid of the margin)",
            curves["raw_probability"],
            "#9aa5b1",
            calibration["brier_raw_booster"],
        ),
        (
            f"calibrated ({calibration['method']})",
            curves["scores"]["model"],
            COLOURS["model"],
            calibration["brier_calibrated"],
        ),
    )
    top = 0.05
    for label, p, colour, brier in series:
        if len(y):
            predicted, observed, counts = _reliability(y, np.asarray(p, dtype="float64"))
            top = max(top, predicted.max(), observed.max())
            ax.plot(predicted, observed, "-", color=colour, label=f"{label}, Brier {_f(brier, 4)}")
            ax.scatter(
                predicted, observed, s=12 + 60 * np.sqrt(counts / counts.max()), color=colour, zorder=3
            )
    top = min(1.0, top * 1.08)
    ax.plot([0, top], [0, top], color="black", linestyle=":", linewidth=1, label="perfect calibration")
    ax.set(
        xlabel="predicted churn probability (bin mean)",
        ylabel="observed churn rate",
        xlim=(0, top),
        ylim=(0, top),
    )
    ax.set_title("Calibration on the evaluation window (dot size: rows in the bin)", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def _lead_times(report: dict[str, Any], curves: dict[str, Any]) -> str:
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    horizon = report["horizon_days"]
    bins = np.arange(0, horizon + 14, 14)
    series = [np.asarray(curves["lead_time_ceiling"], dtype="float64")]
    colours = ["#d5dbe1"]
    ceiling = report["evaluation_window"]["lead_time_days_ceiling_median"]
    labels = [f"longest the window allows: median {_f(ceiling, 0)} d"]
    for name in CONTENDERS:
        series.append(np.asarray(curves["lead_times"][name], dtype="float64"))
        colours.append(COLOURS[name])
        labels.append(
            f"{LABELS[name]}: {len(series[-1])} churners, median {_f(report[name]['lead_time_days_median'], 0)} d"
        )
    ax.hist(series, bins=bins, color=colours, label=labels)
    ax.set(xlabel="days from first alert to churn", ylabel="churners")
    ax.set_title("Lead time at the equal-recall operating points", fontsize=9)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    return _png(fig)


def _top_features(report: dict[str, Any]) -> str:
    features = report["top_features"][::-1]
    fig = Figure(figsize=(6.4, 0.3 * max(len(features), 3) + 1.0))
    ax = fig.add_subplot()
    ax.barh(
        [f["feature"] for f in features],
        [f["mean_abs_contribution"] for f in features],
        color=COLOURS["model"],
    )
    ax.set(xlabel="mean |SHAP contribution| (log-odds), evaluation window")
    ax.set_title("Top features of the model", fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def _f(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _figure(data: str, caption: str) -> str:
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{escape(caption)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _int(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 72rem;
       color: #1d232a; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #d5dbe1; padding: 0.3rem 0.7rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.headline { font-size: 1.1rem; background: #eef4f9; padding: 0.8rem 1rem; border-left: 4px solid #1b6ca8; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; } figure { margin: 0; }
figure img { max-width: 100%; border: 1px solid #e3e7eb; } figcaption { font-size: 0.85rem; color: #4d5862; }
.small { font-size: 0.85rem; color: #4d5862; }
"""


def _intervals(report: dict[str, Any]) -> str:
    """One line with the bootstrap intervals of the headline figures (empty without them)."""
    ci = report.get("intervals_95") or {}
    parts = [
        f"{label} {_f(ci[key]['low'], digits)} to {_f(ci[key]['high'], digits)}"
        for key, label, digits in (
            ("false_positive_reduction_vs_rules", "false-positive reduction", 2),
            ("model_pr_auc", "model PR-AUC", 3),
            ("model_minus_logistic_pr_auc", "model minus logistic PR-AUC", 3),
            ("model_lead_time_days_median", "model median lead time (days)", 0),
        )
        if ci.get(key)
    ]
    if not parts:
        return ""
    return (
        f'<p class="small">95% intervals, the evaluation window\'s accounts resampled {ci["replicates"]} times '
        f"(the operating point recomputed each time): {escape('; '.join(parts))}.</p>"
    )


def _walk_forward(report: dict[str, Any]) -> str:
    """The walk-forward section: pooled contenders at equal recall, then one row per retrained model."""
    wf = report.get("walk_forward")
    if not wf:
        return ""
    head = (
        f"<h2>Walk-forward: a model retrained every {wf['step_dates']} snapshot dates</h2>\n"
        f'<p class="small">The last {wf["fraction"]:.0%} of the labelled snapshot dates, in blocks; each block '
        "is scored by a model (and a logistic regression) trained at the block's first date on what was known "
        "then. The blocks are pooled and compared with the rules at equal recall.</p>"
    )
    if not wf.get("evaluation_window"):
        skipped = "".join(f"<li>{escape(s)}</li>" for s in wf.get("skipped", []))
        return f'{head}<p>{escape(wf.get("note", ""))}</p><ul class="small">{skipped}</ul>'
    ev = wf["evaluation_window"]
    contenders = _table(
        [
            "contender",
            "ROC-AUC",
            "PR-AUC",
            "precision",
            "recall",
            "alerts",
            "false positives",
            "median lead (days)",
        ],
        [
            [
                LABELS[name],
                _f(wf[name]["roc_auc"]),
                _f(wf[name]["pr_auc"]),
                _f(wf[name]["precision"]),
                _f(wf[name]["recall"]),
                _int(wf[name]["alerts"]),
                _int(wf[name]["false_positives"]),
                _f(wf[name]["lead_time_days_median"], 0),
            ]
            for name in CONTENDERS
        ],
    )
    folds = _table(
        [
            "trained at",
            "training dates",
            "training positives",
            "scored from",
            "scored to",
            "scored positives",
        ],
        [
            [
                f["trained_at"],
                f"{f['training_window']['start']} to {f['training_window']['end']}",
                _int(f["training_window"]["positives"]),
                f["scored"]["start"] or "",
                f["scored"]["end"] or "",
                _int(f["scored"]["positives"]),
            ]
            for f in wf["folds"]
        ],
    )
    reduction = wf["false_positive_reduction_vs_rules"]
    return (
        f"{head}\n<p>{_int(ev['snapshots'])} snapshots of {_int(ev['accounts'])} accounts from {escape(ev['start'])} "
        f"to {escape(ev['end'])}, {_int(ev['churners'])} churners (base rate {_pct(ev['base_rate'])}): "
        f"<b>false-positive reduction vs the rules at equal recall {_f(reduction)}</b>.</p>\n"
        f"{_intervals(wf)}\n{contenders}\n{folds}"
    )


def render_html(report: dict[str, Any], curves: dict[str, Any]) -> str:
    """The whole page as one string."""
    ev, reduction = report["evaluation_window"], report["false_positive_reduction_vs_rules"]
    contenders = _table(
        [
            "contender",
            "ROC-AUC",
            "PR-AUC",
            "threshold",
            "precision",
            "recall",
            "alerts",
            "true positives",
            "false positives",
            "churners flagged",
            "median lead time (days)",
        ],
        [
            [
                LABELS[name],
                _f(c["roc_auc"]),
                _f(c["pr_auc"]),
                _f(c["threshold"], 4) if isinstance(c["threshold"], float) else "any rule",
                _f(c["precision"]),
                _f(c["recall"]),
                _int(c["alerts"]),
                _int(c["true_positives"]),
                _int(c["false_positives"]),
                f"{c['churners_flagged']} of {c['churners']}",
                _f(c["lead_time_days_median"], 0),
            ]
            for name, c in ((n, report[n]) for n in CONTENDERS)
        ],
    )
    deployable = report["threshold_from_calibration"]
    deploy_table = _table(
        [
            "contender",
            "threshold (from calibration)",
            "precision",
            "recall",
            "alerts",
            "false positives",
            "FP reduction vs rules",
        ],
        [
            [
                LABELS[name],
                _f(deployable[name]["threshold"], 4),
                _f(deployable[name]["precision"]),
                _f(deployable[name]["recall"]),
                _int(deployable[name]["alerts"]),
                _int(deployable[name]["false_positives"]),
                _pct(deployable[name]["false_positive_reduction_vs_rules"]),
            ]
            for name in ("model", "logistic")
        ],
    )
    classes = report["at_class_thresholds"]
    class_rows = [
        [
            LABELS[name],
            level,
            _f(c["threshold"], 4),
            _f(c["precision"]),
            _f(c["recall"]),
            _int(c["alerts"]),
            _int(c["false_positives"]),
            _f(c["lead_time_days_median"], 0),
        ]
        for name in ("model", "logistic")
        for level, c in (("At-Risk", classes[name]["at_risk"]), ("Critical", classes[name]["critical"]))
    ]
    class_table = _table(
        [
            "contender",
            "class",
            "threshold",
            "precision",
            "recall",
            "alerts",
            "false positives",
            "median lead (days)",
        ],
        class_rows,
    )
    rules_fired = report["rules"]["rules_fired"]
    rules_table = _table(
        ["rule", "fires when", "alerts", "true positives"],
        [
            [
                r["name"],
                r["fires_when"],
                _int(rules_fired[r["name"]]["alerts"]),
                _int(rules_fired[r["name"]]["true_positives"]),
            ]
            for r in report["rules_definition"]
        ],
    )
    windows = _table(
        [
            "window",
            "start",
            "end",
            "snapshot dates",
            "accounts",
            "snapshots",
            "positives",
            "churners",
            "base rate",
        ],
        [
            [
                name,
                w["start"] or "",
                w["end"] or "",
                _int(w["dates"]),
                _int(w["accounts"]),
                _int(w["snapshots"]),
                _int(w["positives"]),
                _int(w["churners"]),
                _pct(w["base_rate"]),
            ]
            for name, w in (
                ("training", report["training_window"]),
                ("calibration", report["calibration_window"]),
                ("evaluation", ev),
            )
        ],
    )
    features = _table(
        ["feature", "mean |SHAP| (log-odds)", "share of split gain"],
        [
            [f["feature"], _f(f["mean_abs_contribution"], 4), _pct(f["gain_share"])]
            for f in report["top_features"]
        ],
    )
    headline = (
        "n/a (the rules flag no churner)"
        if reduction is None
        else f"{reduction:.1%} fewer false positives than the static rules"
    )
    notes = "".join(f"<li>{escape(n)}</li>" for n in report["notes"])
    plots = "".join(
        (
            _figure(_pr_curves(report, curves), "Precision-recall curves of the three contenders"),
            _figure(_calibration(report, curves), "Calibration of the model: raw booster and calibrated"),
            _figure(_lead_times(report, curves), "Lead time: days from first alert to churn"),
            _figure(_top_features(report), "Top features of the model (mean |SHAP|)"),
        )
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>healthwatch backtest: {escape(report["as_of"])}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>healthwatch backtest</h1>
<p class="small">Data clock {escape(report["as_of"])} · churn definition <b>{escape(report["churn_definition"])}</b> ·
horizon {report["horizon_days"]} days · {_int(report["accounts"])} accounts, {_int(report["snapshots"])} labelled
snapshots from {escape(report["data_window"]["start"])} to {escape(report["data_window"]["end"])} · model
{escape(report["model_version"])}</p>
<p class="headline">At the rules' recall ({_f(report["operating_point"]["recall_target"])}) on the evaluation window,
the model raises {_int(report["model"]["false_positives"])} false alerts where the rules raise
{_int(report["rules"]["false_positives"])}: <b>{escape(headline)}</b>.</p>
{_intervals(report)}
<p>All three contenders are scored on the same {_int(ev["snapshots"])} snapshots of {_int(ev["accounts"])} accounts
from {escape(ev["start"] or "")} to {escape(ev["end"] or "")} (base rate {_pct(ev["base_rate"])}). A snapshot is
positive when the account churns within {report["horizon_days"]} days after it. Alerts are flagged snapshots
(account-weeks). Lead time is measured inside the evaluation window, which bounds it: alerting on every churner's
first snapshot in the window would give a median of {_f(ev["lead_time_days_ceiling_median"], 0)} days.</p>
<h2>Contenders at equal recall</h2>
{contenders}
<div class="plots">{plots}</div>
{_walk_forward(report)}
<h2>Thresholds chosen on the calibration window</h2>
<p class="small">The threshold that reaches the rules' recall on the calibration window
({_f(deployable["rules_recall_on_calibration"])}), applied unchanged to the evaluation window: what one would deploy.</p>
{deploy_table}
<h2>At the class thresholds</h2>
<p class="small">The model's stored At-Risk and Critical thresholds ({escape(report["model_thresholds"]["at_risk_rule"])};
{escape(report["model_thresholds"]["critical_rule"])}); the logistic regression's chosen on its own calibration-window
scores by the same policy.</p>
{class_table}
<h2>The static rules</h2>
<p class="small">An alert when any rule fires; for the curves a snapshot's score is the number of rules fired.</p>
{rules_table}
<h2>Windows</h2>
{windows}
<h2>Top features</h2>
{features}
<h2>Notes</h2>
<ul class="small">{notes}</ul>
</body>
</html>
"""
