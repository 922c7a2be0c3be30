"""The simulated world the model benchmarks share: simulate with a seed, then the full dbt build."""

import argparse
import tempfile
import time
from pathlib import Path

from bench.incremental import signals_run, simulate_world
from healthwatch.config import Settings, load_settings


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
    started = time.perf_counter()
    simulate_world(settings, args.accounts, args.days, args.seed)
    timings["simulate_s"] = round(time.perf_counter() - started, 1)
    timings["signals_full_refresh_s"] = signals_run(settings, True, workdir / "target")["seconds"]
    print(f"built {args.accounts} x {args.days} (seed {args.seed}) in {workdir}: {timings}", flush=True)
    return settings, timings
