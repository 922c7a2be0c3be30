"""Backtest on a simulated world: model vs logistic regression vs the article's static rules.

Simulates a world with a fixed seed, builds the signal tables (full refresh, the same dbt build the
pipeline runs), then runs the backtest `healthwatch backtest` runs and writes its JSON and HTML
report plus a short figures file.

    .venv/bin/python bench/backtest.py --accounts 2000 --days 540 --seed 7 --out bench/results/backtest

`--workdir DIR` keeps the warehouse; with `--reuse` an existing warehouse there is not rebuilt.
"""

import argparse
import json
from pathlib import Path

import duckdb

from bench.worlds import add_world_arguments, built_world
from ml.backtest import BOOTSTRAP_REPLICATES, CONTENDERS, run_backtest

HEADLINE = ("roc_auc", "pr_auc", "precision", "recall", "alerts", "false_positives", "lead_time_days_median")


def _walk_forward_figures(wf: dict | None) -> dict | None:
    if not wf or not wf.get("evaluation_window"):
        return wf
    return {
        "models": len(wf["folds"]),
        "evaluation_window": wf["evaluation_window"],
        **{name: {k: wf[name][k] for k in HEADLINE} for name in CONTENDERS},
        "false_positive_reduction_vs_rules": wf["false_positive_reduction_vs_rules"],
        "intervals_95": wf["intervals_95"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_world_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("bench/results/backtest"))
    parser.add_argument("--bootstrap", type=int, default=BOOTSTRAP_REPLICATES)
    args = parser.parse_args()

    settings, timings = built_world(args, "healthwatch-backtest-")

    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        result = run_backtest(con, settings, args.out, bootstrap=args.bootstrap)
    timings["backtest_s"] = round(result.seconds, 1)
    print(result.summary())

    report = result.report
    figures = {
        "world": {"accounts": args.accounts, "days": args.days, "seed": args.seed},
        "churn_definition": report["churn_definition"],
        "horizon_days": report["horizon_days"],
        "evaluation_window": report["evaluation_window"],
        **{name: {k: report[name][k] for k in HEADLINE} for name in CONTENDERS},
        "false_positive_reduction_vs_rules": report["false_positive_reduction_vs_rules"],
        "intervals_95": report["intervals_95"],
        "walk_forward": _walk_forward_figures(report.get("walk_forward")),
        "timings": timings,
        "report": str(result.json_path),
    }
    (args.out / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
