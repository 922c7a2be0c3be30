"""Alert engine on a simulated world: rules alone against rules with the model gate, at equal recall.

Simulates the world with a fixed seed and builds the signals (the same build as bench/backtest.py),
then replays the alert rules over every day of the last `--weeks` weeks whose churn horizon is
observed (`alerts.evaluation.evaluate_gate`): once with the model gate off, once as configured in
alert_rules.yml, and once per low-risk share of the gate's probability cutoff. Scores as of each
day come from models retrained every four snapshot dates on what was known then. Writes JSON and
prints a table.

    .venv/bin/python bench/alert_gate.py --accounts 2000 --days 540 --seed 7 --out bench/results/alert_gate.json

`--workdir DIR` keeps the warehouse; with `--reuse` an existing warehouse there is not rebuilt
(bench/backtest.py's `--workdir` holds the same world).
"""

import argparse
import time
from pathlib import Path

import duckdb

from alerts.evaluation import DEFAULT_SHARES, evaluate_gate, table, to_json
from bench.worlds import add_world_arguments, built_world


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_world_arguments(parser)
    parser.add_argument(
        "--weeks", type=int, default=26, help="weeks replayed (ending H days before the clock)"
    )
    parser.add_argument("--scores", choices=("walk_forward", "history"), default="walk_forward")
    parser.add_argument(
        "--shares", type=float, nargs="*", default=list(DEFAULT_SHARES), help="low-risk shares swept"
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/alert_gate.json"))
    args = parser.parse_args()

    settings, timings = built_world(args, "healthwatch-alert-gate-")

    started = time.perf_counter()
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        report = evaluate_gate(con, settings, weeks=args.weeks, scores=args.scores, shares=args.shares)
    timings["evaluation_s"] = round(time.perf_counter() - started, 1)
    report = {
        "world": {"accounts": args.accounts, "days": args.days, "seed": args.seed, "reused": args.reuse},
        **report,
        "timings": timings,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(to_json(report))
    print(table(report))
    print(f"wrote {args.out} ({timings})")


if __name__ == "__main__":
    main()
