"""Backtest: the model, a logistic regression and the static rules on the same later-window rows."""

import base64
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.backtest import CONTENDERS, HTML_FILE, JSON_FILE, rule_flags, run_backtest, threshold_for_recall

from tests_support import REPO_ROOT

HEALTHWATCH = str(Path(sys.executable).parent / "healthwatch")

CONTENDER_KEYS = {
    "roc_auc",
    "pr_auc",
    "precision",
    "recall",
    "alerts",
    "true_positives",
    "false_positives",
    "lead_time_days_median",
}
VOID = {"meta", "img", "br", "hr", "link", "input"}


class _Page(HTMLParser):
    """Collects tags, checks that every opened element is closed in order, decodes the images."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.images: list[bytes] = []
        self.doctype = ""
        self.title = ""
        self._in_title = False

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            src = dict(attrs)["src"]
            assert src.startswith("data:image/png;base64,")
            self.images.append(base64.b64decode(src.split(",", 1)[1], validate=True))
        if tag not in VOID:
            self.stack.append(tag)
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()
        self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


@pytest.fixture(scope="module")
def backtest(tmp_path_factory, synthetic, world):
    settings = synthetic.make_settings(tmp_path_factory.mktemp("backtest"))
    synthetic.write_world(settings.warehouse, world)
    import duckdb

    with duckdb.connect(str(settings.warehouse)) as con:
        result = run_backtest(con, settings, settings.data_dir / "report")
    return settings, result


def test_backtest_writes_both_files_with_every_key(backtest):
    settings, result = backtest
    assert result.json_path == settings.data_dir / "report" / JSON_FILE
    assert result.html_path == settings.data_dir / "report" / HTML_FILE
    report = json.loads(
        result.json_path.read_text(), parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}")
    )
    assert report == result.report
    for name in CONTENDERS:
        assert set(report[name]) >= CONTENDER_KEYS, name
        assert all(report[name][k] is not None for k in CONTENDER_KEYS), name
    for key in (
        "false_positive_reduction_vs_rules",
        "data_window",
        "accounts",
        "snapshots",
        "horizon_days",
        "churn_definition",
        "base_rate",
        "training_window",
        "calibration_window",
        "evaluation_window",
        "model_version",
        "top_features",
        "rules_definition",
    ):
        assert key in report, key
    assert report["churn_definition"] == "contract" and report["horizon_days"] == 90
    assert (
        report["data_window"]["start"] <= report["evaluation_window"]["start"] <= report["data_window"]["end"]
    )
    assert report["training_window"]["end"] < report["calibration_window"]["start"]
    assert report["calibration_window"]["end"] < report["evaluation_window"]["start"]
    assert len(report["top_features"]) > 0
    # the backtest reads the warehouse and registers nothing
    assert not settings.models_dir.exists()


def test_the_three_contenders_are_measured_on_the_same_rows_at_equal_recall(backtest):
    report = backtest[1].report
    ev = report["evaluation_window"]
    for name in CONTENDERS:
        c = report[name]
        assert c["true_positives"] + c["false_positives"] == c["alerts"] <= ev["snapshots"]
        assert c["true_positives"] / ev["positives"] == pytest.approx(c["recall"])
        assert c["churners"] == ev["churners"]
    rules = report["rules"]
    for name in ("model", "logistic"):
        assert report[name]["recall"] >= rules["recall"]  # the highest threshold reaching it
    assert report["operating_point"]["recall_target"] == rules["recall"]
    reduction = 1 - report["model"]["false_positives"] / rules["false_positives"]
    assert report["false_positive_reduction_vs_rules"] == pytest.approx(reduction)
    # on the synthetic world, where churners drift for months, the model ranks far better than the rules
    assert report["model"]["pr_auc"] > report["rules"]["pr_auc"]
    assert report["model"]["lead_time_days_median"] <= ev["lead_time_days_ceiling_median"]
    stored = report["at_class_thresholds"]["model"]
    assert stored["at_risk"]["threshold"] == report["model_thresholds"]["at_risk"]
    assert stored["critical"]["alerts"] <= stored["at_risk"]["alerts"]


def test_backtest_html_is_a_complete_page_with_the_four_plots(backtest):
    page = _Page()
    page.feed(backtest[1].html_path.read_text())
    page.close()
    assert page.doctype.lower() == "doctype html"
    assert not page.errors and not page.stack
    assert page.title.startswith("healthwatch backtest")
    assert len(page.images) == 4
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in page.images)
    html = backtest[1].html_path.read_text()
    for text in (
        "static rules",
        "logistic regression",
        "Calibration",
        "Lead time",
        "Top features",
        "95% intervals",
    ):
        assert text in html


def test_summary_names_the_contenders_and_the_files(backtest):
    summary = backtest[1].summary()
    for text in ("model", "logistic", "rules", "fewer than the rules", str(backtest[1].json_path)):
        assert text in summary


def test_rules_fire_at_the_articles_thresholds():
    rows = pd.DataFrame(
        {
            "logins_wow_change": [-0.30, -0.29, np.nan, 0, 0, 0, 0, 0, 0],
            "nps_score_last": [9, 9, 6, 7, np.nan, 9, 9, 9, 9],
            "tickets_7d": [0, 0, 0, 0, 3, 2, 2, 0, 0],
            "tickets_7d_baseline": [np.nan, 0, 0, 0, 0, 0.5, 1, 0, 0],
            "payment_failures_30d": [0, 0, 0, 0, 0, 0, 0, 1, 0],
            "days_to_renewal": [200, 200, 200, 200, 200, 200, 200, 200, 90],
            "logins_7d_change": [0, 0, 0, 0, 0, 0, 0, 0, -0.01],
        }
    )
    flags = rule_flags(rows)
    assert flags["login_drop"].tolist() == [True] + [False] * 8
    assert (
        flags["low_nps"].tolist() == [False, False, True] + [False] * 6
    )  # 7 is not below 7; missing never fires
    assert flags["ticket_spike"].tolist() == [False] * 4 + [
        True,
        True,
        False,
        False,
        False,
    ]  # 3 tickets; 4x baseline
    assert flags["payment_failure"].tolist() == [False] * 7 + [True, False]
    assert flags["renewal_usage_down"].tolist() == [False] * 8 + [True]
    assert rule_flags(rows.assign(days_to_renewal=91))["renewal_usage_down"].sum() == 0
    assert (
        rule_flags(rows.drop(columns="tickets_7d_baseline"))["ticket_spike"].tolist()
        == [False] * 4 + [True] + [False] * 4
    )


def test_threshold_for_recall_takes_the_highest_threshold_reaching_it():
    y = np.array([1, 0, 1, 0, 1, 0])
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    assert threshold_for_recall(y, score, 1 / 3) == 0.9
    assert threshold_for_recall(y, score, 0.5) == 0.7  # 2 of 3
    assert threshold_for_recall(y, score, 2 / 3) == 0.7
    assert threshold_for_recall(y, score, 1.0) == 0.5
    assert threshold_for_recall(y, score, 0.0) == np.inf  # nothing to match: flag nothing


def test_headline_figures_carry_account_bootstrap_intervals(backtest):
    report = backtest[1].report
    intervals = report["intervals_95"]
    assert intervals["replicates"] > 0 and intervals["resampled"] == "accounts of the evaluation window"
    for key in (
        "model_pr_auc",
        "logistic_pr_auc",
        "rules_pr_auc",
        "model_minus_logistic_pr_auc",
        "false_positive_reduction_vs_rules",
        "model_lead_time_days_median",
    ):
        span = intervals[key]
        assert span["n"] > 0 and span["low"] <= span["high"], key
    # the point estimates sit inside their intervals on this world
    assert intervals["model_pr_auc"]["low"] <= report["model"]["pr_auc"] <= intervals["model_pr_auc"]["high"]
    reduction = intervals["false_positive_reduction_vs_rules"]
    assert reduction["low"] <= report["false_positive_reduction_vs_rules"] <= reduction["high"]


def test_cli_backtest_runs_end_to_end(tmp_path, synthetic, world):
    """`healthwatch backtest --out DIR` on a warehouse named by HEALTHWATCH_WAREHOUSE, as a user runs it."""
    warehouse = tmp_path / "warehouse.duckdb"
    synthetic.write_world(warehouse, world)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHWATCH_")}
    env["HEALTHWATCH_WAREHOUSE"] = str(warehouse)
    out = tmp_path / "report"
    result = subprocess.run(
        [HEALTHWATCH, "backtest", "--out", str(out), "--bootstrap", "20"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads((out / JSON_FILE).read_text())
    assert (out / HTML_FILE).stat().st_size > 10_000
    assert report["intervals_95"]["replicates"] == 20
    assert f"wrote {out / JSON_FILE}" in " ".join(result.stdout.split())
    for name in CONTENDERS:
        assert name in result.stdout


def test_cli_backtest_without_a_warehouse_says_how_to_make_one(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHWATCH_")}
    env["HEALTHWATCH_WAREHOUSE"] = str(tmp_path / "none.duckdb")
    result = subprocess.run(
        [HEALTHWATCH, "backtest", "--out", str(tmp_path / "r")],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no warehouse at" in result.stderr and "healthwatch simulate" in result.stderr


def test_walk_forward_models_learn_only_what_was_known_when_they_were_trained(backtest):
    report = backtest[1].report
    wf = report["walk_forward"]
    horizon = pd.Timedelta(days=report["horizon_days"])
    assert len(wf["folds"]) >= 2 and not wf["skipped"]
    previous_end = None
    for fold in wf["folds"]:
        trained_at = pd.Timestamp(fold["trained_at"])
        # a training label needs its whole horizon observed by the day the model is trained
        assert pd.Timestamp(fold["training_window"]["end"]) + horizon <= trained_at
        assert pd.Timestamp(fold["scored"]["start"]) == trained_at  # scores only from then on
        if previous_end is not None:
            assert pd.Timestamp(fold["scored"]["start"]) > previous_end  # blocks do not overlap
        previous_end = pd.Timestamp(fold["scored"]["end"])
    ev = wf["evaluation_window"]
    assert ev["snapshots"] == sum(f["scored"]["snapshots"] for f in wf["folds"])
    assert ev["end"] == report["data_window"]["end"]
    assert ev["snapshots"] > report["evaluation_window"]["snapshots"]  # a longer later period
    for name in ("model", "logistic"):
        assert wf[name]["recall"] >= wf["rules"]["recall"]
    assert wf["false_positive_reduction_vs_rules"] == pytest.approx(
        1 - wf["model"]["false_positives"] / wf["rules"]["false_positives"]
    )
    assert wf["intervals_95"]["false_positive_reduction_vs_rules"]["n"] > 0
    assert "walk-forward:" in backtest[1].summary()
    assert "Walk-forward" in backtest[1].html_path.read_text()
