"""Benchmark: an incremental signals run after one streamed day, against a full refresh.

Simulates a world, builds the signal tables from scratch (full refresh: open the batch, dbt build
--full-refresh, commit), streams one day, and times the incremental run (open, dbt build,
commit) on the same warehouse. Both runs go through the same code the pipeline's dbt asset uses.

    .venv/bin/python bench/incremental.py --accounts 10000 --days 365 --json bench/results/incremental.json
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from healthwatch.batches import commit_batch, open_batch, scope_summary
from healthwatch.config import Settings, load_settings
from healthwatch.simulator import SimulationSummary, simulate_configured, stream
from healthwatch.warehouse import ensure_change_tables
from pipelines.project import DBT_EXECUTABLE, DBT_PROJECT_DIR, dbt_cli_args


def simulate_world(settings: Settings, accounts: int, days: int, seed: int) -> SimulationSummary:
    """A fresh simulated world in the settings' warehouse, with the bookkeeping and quarantine
    tables the dbt build reads."""
    settings.warehouse.unlink(missing_ok=True)
    with duckdb.connect(str(settings.warehouse)) as con:
        summary = simulate_configured(con, settings, accounts=accounts, days=days, seed=seed)
        ensure_change_tables(con)
    return summary


def signals_run(settings, full_refresh: bool, target: Path) -> dict:
    """One signals run, timed: batch bookkeeping and the dbt build."""
    started = time.perf_counter()
    with duckdb.connect(str(settings.warehouse)) as con:
        batch = open_batch(con, full_refresh=full_refresh)
    args = [DBT_EXECUTABLE, *dbt_cli_args("build", settings, full_refresh=full_refresh)]
    args += ["--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target)]
    result = subprocess.run(args, cwd=DBT_PROJECT_DIR, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(result.stdout[-4000:])
    with duckdb.connect(str(settings.warehouse)) as con:
        commit_batch(con, batch)
        scope = scope_summary(con)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "change_rows": batch.total_rows,
        "accounts_changed": scope.changed_accounts,
        "accounts_rolled": scope.rolled_accounts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--workdir", type=Path, help="keep the warehouse here (default: a temporary folder)")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="healthwatch-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    settings = load_settings(env={"HEALTHWATCH_WAREHOUSE": str(workdir / "warehouse.duckdb")})

    started = time.perf_counter()
    summary = simulate_world(settings, args.accounts, args.days, args.seed)
    simulate_s = time.perf_counter() - started
    print(
        f"simulated {args.accounts} x {args.days} ({summary.total_rows:,} change rows) in {simulate_s:.0f} s"
    )

    full = signals_run(settings, True, workdir / "target")
    print(f"full refresh: {full}")
    with duckdb.connect(str(settings.warehouse)) as con:
        stream(con, days=1)
    incremental = signals_run(settings, False, workdir / "target")
    print(f"incremental after one streamed day: {incremental}")

    figures = {
        "accounts": args.accounts,
        "days": args.days,
        "change_rows": summary.total_rows,
        "simulate_s": round(simulate_s, 1),
        "full_refresh_s": full["seconds"],
        "incremental_s": incremental["seconds"],
        "incremental_ratio": round(incremental["seconds"] / full["seconds"], 4),
        "incremental_change_rows": incremental["change_rows"],
        "incremental_accounts_changed": incremental["accounts_changed"],
        "incremental_accounts_rolled": incremental["accounts_rolled"],
        "warehouse_bytes": settings.warehouse.stat().st_size,
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
