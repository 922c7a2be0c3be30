"""The simulated world the model benchmarks share: simulate with a seed, then the full dbt build."""

import argparse
import tempfile
import time
from pathlib import Path

import duckdb

from bench.incremental import signals_run
from healthwatch.config import Settings, load_settings
from healthwatch.simulator import simulate
from healthwatch.warehouse import ensure_change_tables


def add_world_arguments(parser: argparse.ArgumentParser) -> None:
    """--accounts, --days, --seed, --workdir and --reuse, as both benchmarks take them."""
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--days", type=int, default=540)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, help="keep the warehouse here (default: a temporary folder)")
    parser.add_argument("--reuse", action="store_true", help="use the warehouse in --workdir as it is")


def built_world(args: argparse.Namespace, prefix: str) -> tuple[Settings, dict[str, float]]:
    """Settings on the world's warehouse, simulated and built unless `--reuse` finds one; the timings."""
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix=prefix))
    workdir.mkdir(parents=True, exist_ok=True)
    settings = load_settings(env={"HEALTHWATCH_WAREHOUSE": str(workdir / "warehouse.duckdb")})
    timings: dict[str, float] = {}
    if args.reuse and settings.warehouse.exists():
        return settings, timings
    settings.warehouse.unlink(missing_ok=True)
    started = time.perf_counter()
    with duckdb.connect(str(settings.warehouse)) as con:
        simulate(
            con,
            accounts=args.accounts,
            days=args.days,
            seed=args.seed,
            start_date=settings.config.simulation.start_date,
            core_features=settings.config.product.core_features,
        )
        ensure_change_tables(con)  # the bookkeeping and quarantine tables the dbt build reads
    timings["simulate_s"] = round(time.perf_counter() - started, 1)
    timings["signals_full_refresh_s"] = signals_run(settings, True, workdir / "target")["seconds"]
    print(f"built {args.accounts} x {args.days} (seed {args.seed}) in {workdir}: {timings}", flush=True)
    return settings, timings
