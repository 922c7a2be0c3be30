"""Scoring and the alert frame's scores against the length of the score history.

Every scoring adds a row per account to `scoring.account_health_score_history` (a year of daily
scoring at 80,000 accounts: 29 M rows), which `healthwatch bench scale` never sees (its full build
starts the history again). This script fills a warehouse with `--days` days of daily scorings of
`--accounts` accounts, then times a day's scoring write (`ml.score.write_scores`) and the alert
frame's score lookup at the live clock (the `scores` part of `alerts.frame`), and reports them as
ratios against the same on a `--baseline-days` history, in the same script.

    .venv/bin/python bench/score_history.py --accounts 80000 --days 365 --out bench/results/score_history.json

The history is filled in one process and the days are scored in another, so the peak RSS
(ru_maxrss, read after the write and after the frame) is the scoring's, not the fill's. Both
connect as the pipeline does (`healthwatch.warehouse.connect`: the configured DuckDB memory
limit, threads and spill folder).
"""

import argparse
import json
import multiprocessing
import resource
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

import duckdb
import pandas as pd

from alerts.frame import SCORES, score_history_union
from healthwatch.warehouse import connect
from ml.score import HISTORY_TABLE, SCORE_COLUMNS, SCORES_TABLE, ensure_scoring_tables, write_scores

T = TypeVar("T")
START = datetime(2026, 1, 1, 6)
CLASSES = "['Healthy', 'At-Risk', 'Critical']"


def fill(con: duckdb.DuckDBPyConnection, accounts: int, days: int) -> None:
    """`days` daily scorings of `accounts` accounts in the history, the last one as current rows."""
    ensure_scoring_tables(con)
    for first in range(0, days, 30):
        con.execute(
            f"""
            insert into {HISTORY_TABLE}
            select 'A' || lpad(a::varchar, 6, '0'), timestamp '{START}' + to_days(d::int), date '{START.date()}' + d::int,
                'v1', 0.1, 90, ({CLASSES})[1 + (a + d) % 3], null, '[]'::json
            from range({accounts}) as accounts(a), range({first}, {min(first + 30, days)}) as days(d)
            """
        )
    con.execute(
        f"insert into {SCORES_TABLE} select * from {HISTORY_TABLE} "
        f"where scored_at = timestamp '{START}' + to_days({days - 1})"
    )


def one_day(con: duckdb.DuckDBPyConnection, accounts: int, days: int) -> dict[str, float]:
    """Time the next day's scoring write, then the frame's score lookup at that clock."""
    clock = START + timedelta(days=days)
    scores = pd.DataFrame(
        {
            "account_id": [f"A{a:06d}" for a in range(accounts)],
            "scored_at": clock,
            "as_of_date": pd.Timestamp(clock.date()),
            "model_version": "v1",
            "churn_probability": 0.2,
            "health_score": 80,
            "health_class": "Healthy",
            "drivers": "[]",
        }
    )
    started = time.perf_counter()
    write_scores(con, scores)
    write_s = time.perf_counter() - started
    write_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    columns = ", ".join(SCORE_COLUMNS)
    started = time.perf_counter()
    (found,) = con.execute(
        f"""
        select count(*) from (
            select * from (
                select {columns} from {SCORES} where scored_at <= $now {score_history_union(con, SCORE_COLUMNS)}
            )
            qualify row_number() over (partition by account_id order by scored_at desc) = 1
        )
        """,
        {"now": clock},
    ).fetchall()[0]
    frame_s = time.perf_counter() - started
    assert found == accounts, (found, accounts)
    return {
        "write_scores_s": round(write_s, 3),
        "frame_scores_s": round(frame_s, 3),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "peak_rss_after_write_bytes": write_rss,
    }


def _fill_file(path: Path, accounts: int, days: int) -> float:
    with connect(path) as con:
        started = time.perf_counter()
        fill(con, accounts, days)
        return time.perf_counter() - started


def _days_on_file(path: Path, accounts: int, days: int, repeats: int) -> list[dict[str, float]]:
    with connect(path) as con:
        return [one_day(con, accounts, days + i) for i in range(repeats)]


def _in_new_process(function: Callable[..., T], *args: object) -> T:
    """Each step in a process of its own, so its peak RSS is its own (not the fill's)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def measure(folder: Path, accounts: int, days: int, repeats: int) -> dict[str, object]:
    path = folder / f"history-{days}.duckdb"
    filled_s = _in_new_process(_fill_file, path, accounts, days)
    runs = _in_new_process(_days_on_file, path, accounts, days, repeats)
    path.unlink()
    best = {key: min(run[key] for run in runs) for key in ("write_scores_s", "frame_scores_s")}
    return {"days": days, "history_rows": accounts * days, "fill_s": round(filled_s, 1), **best, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=80_000)
    parser.add_argument("--days", type=int, default=365, help="days of daily scorings in the history")
    parser.add_argument("--baseline-days", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=2, help="days scored on each history (best kept)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/score_history.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="healthwatch-score-history-") as folder:
        baseline = measure(Path(folder), args.accounts, args.baseline_days, args.repeats)
        long = measure(Path(folder), args.accounts, args.days, args.repeats)
    report = {
        "accounts": args.accounts,
        "baseline": baseline,
        "long": long,
        "write_scores_ratio": round(long["write_scores_s"] / baseline["write_scores_s"], 2),
        "frame_scores_ratio": round(long["frame_scores_s"] / max(baseline["frame_scores_s"], 1e-3), 2),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    for name, run in (("baseline", baseline), ("long", long)):
        print(
            f"{name:8s} {run['days']:4d} days, {run['history_rows']:>11,} history rows: "
            f"write_scores {run['write_scores_s']:.2f} s, frame scores {run['frame_scores_s']:.3f} s, "
            f"peak RSS {max(r['peak_rss_bytes'] for r in run['runs']) / 1e9:.2f} GB"
        )
    print(f"ratios long/baseline: write {report['write_scores_ratio']}, frame {report['frame_scores_ratio']}")


if __name__ == "__main__":
    main()
