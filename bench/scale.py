"""Scale benchmark: full build and incremental rescoring at S, M and L, with the process tree's memory.

    healthwatch bench scale --tier S|M|L --json bench/results/scale-S.json

Each phase runs in its own Python process, started by this one, which samples the resident
memory of that process and all its descendants (dbt is a child process) from /proc every
`SAMPLE_SECONDS`: `peak_rss_bytes` is the largest sum seen over the pipeline phases (simulate
excluded). Each phase also reports getrusage(RUSAGE_SELF) + getrusage(RUSAGE_CHILDREN) max RSS,
an upper bound that sampling cannot miss (`rusage_bound_bytes`).

Phases, on a fresh warehouse under the work folder:
1. simulate (timed, reported, not part of any ratio);
2. full build: the real `healthwatch_job` of the Dagster definitions, tagged full refresh — dbt
   build, training, scoring, alerts, CRM tasks and every kind of mail rendered (no API key: to
   files) — timed per step from the run's step stats, and as a whole;
3. stream one day on which only `touch_share` of the accounts act (1% by default), and hold back
   its change rows dated from `FIRST_BATCH_HOURS` on;
4. roll: the real `rescore_job` on the day's first rows, as the CDC sensors start it on the first
   change of a new day: the data clock moves to the new day, so every account gets its new day
   (signals, scores, alerts), the accounts of those rows from the day they touch;
5. deliver the held-back rows (the rest of the day: most of the `touch_share` accounts' changes);
6. incremental: the real `rescore_job` on them, the run the sensors start for a batch within a day
   (dbt build of the changed accounts, their rescoring, alerts, tasks, critical mails).

With `reuse`, a world simulated by an earlier run in the same work folder is kept (its derived
schemas dropped) and its simulate figures reported, so a long simulation is not paid twice.

`incremental_ratio` = incremental run / full build, both measured here on the same warehouse;
`roll_ratio` the same for the roll run, `day_ratio` for the two together (the whole day's work).
With the history check (on for L), the same is done again on a world with twice the days, and
`incremental_730_vs_365` is its incremental run over this one's (the name keeps the L case).
"""

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

    from healthwatch.config import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_SECONDS = 0.2
# The streamed day's rows before this hour (UTC) are the day's first batch (the roll run), the
# rest its second (the incremental run).
FIRST_BATCH_HOURS = 6
HELD = "bench_held"  # the schema the held-back change rows wait in
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Tier:
    accounts: int
    days: int
    # Share of product events simulated: this simulator makes about 23 per account-day, which at
    # L would be 840 M (an 82 GB warehouse); the tier asks for tens of millions, so L keeps 1 in 10.
    event_sample: float = 1.0


TIERS = {"S": Tier(500, 180), "M": Tier(10_000, 365), "L": Tier(100_000, 365, event_sample=0.1)}

# Dagster step keys of healthwatch_job / rescore_job, grouped as the README reports them.
STEP_GROUPS = {
    "signals_dbt": "dbt_build",
    "ml__churn_model": "training",
    "scoring__account_health_scores": "scoring",
    "alerts__health_alerts": "alerts",
    "alerts__crm_tasks": "delivery",
    "alerts__email_outbox": "delivery",
    "delivery__critical_notifications": "delivery",
    "delivery__weekly_digests": "delivery",
}


# --- the parent: phases in child processes, their process tree sampled -------------------------


def _tree_rss(pid: int) -> dict[str, int]:
    """Resident bytes of `pid` and every descendant, summed per kind of process: `dbt` (the dbt
    build dagster-dbt starts) and `run` (the phase's own process and anything else)."""
    by_kind: dict[str, int] = {}
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/statm") as statm:
                rss = int(statm.read().split()[1]) * PAGE
            with open(f"/proc/{current}/cmdline", "rb") as cmdline:
                kind = "dbt" if b"/dbt\x00" in cmdline.read() else "run"
            by_kind[kind] = by_kind.get(kind, 0) + rss
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    stack.extend(int(c) for c in children.read().split())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return by_kind


def _peak_by_window(
    timeline: list[tuple[float, int, int]], windows: dict[str, list[float]], column: int
) -> dict[str, int]:
    """Per named time window (a dbt node, a Dagster step), the highest RSS sampled while it ran
    (column 1: the whole tree, 2: the dbt process; other nodes or steps may have run beside it),
    largest first."""
    peaks = {
        name: max((sample[column] for sample in timeline if start <= sample[0] <= end), default=0)
        for name, (start, end) in windows.items()
    }
    return dict(sorted(peaks.items(), key=lambda kv: kv[1], reverse=True))


def _thinned(timeline: list[tuple[float, int, int]], every_s: float) -> list[list[float]]:
    """[seconds from the first sample, tree GB, dbt GB]: the highest sample of each `every_s` slot."""
    if not timeline:
        return []
    origin, slots = timeline[0][0], {}
    for at, tree, dbt in timeline:
        slot = int((at - origin) / every_s)
        if slot not in slots or tree > slots[slot][1]:
            slots[slot] = (at, tree, dbt)
    return [
        [round(at - origin, 1), round(tree / 1e9, 3), round(dbt / 1e9, 3)] for at, tree, dbt in slots.values()
    ]


def _run_phase(name: str, workdir: Path, env: dict[str, str], **params: Any) -> dict[str, Any]:
    """Run one phase in a new process; return its figures plus the sampled peak tree RSS."""
    out = workdir / f"phase-{name}.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, "-m", "bench.scale", name, str(workdir), json.dumps(params), str(out)]
    log = (workdir / f"phase-{name}.log").open("w")
    # The phases before this one leave their writes to the kernel, which flushes them in the
    # background: they go to disk first, timed apart, so that no phase reads behind another's
    # write-back. Suspected, not shown, for two of eight L rolls in which reads of the CRM changes
    # took 13-17 s instead of 0.3-1.4 s (under 2 s with the page cache dropped); in the next run
    # these syncs took 0.0-0.11 s and the roll was clean.
    synced = time.perf_counter()
    os.sync()
    sync_s = round(time.perf_counter() - synced, 2)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    peak = 0
    peak_by_kind: dict[str, int] = {}
    timeline: list[tuple[float, int, int]] = []  # (epoch seconds, tree RSS, dbt RSS)
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            by_kind = _tree_rss(child.pid)
            total = sum(by_kind.values())
            peak = max(peak, total)
            for kind, rss in by_kind.items():
                peak_by_kind[kind] = max(peak_by_kind.get(kind, 0), rss)
            timeline.append((time.time(), total, by_kind.get("dbt", 0)))
            stop.wait(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = child.wait()
    stop.set()
    sampler.join()
    log.close()
    if code != 0:
        tail = (workdir / f"phase-{name}.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"phase {name} failed (exit {code}):\n{tail}")
    figures = json.loads(out.read_text())
    figures["wall_s"] = round(time.perf_counter() - started, 2)
    figures["sync_before_s"] = sync_s
    figures["peak_rss_bytes"] = peak
    figures["peak_rss_bytes_by_process"] = peak_by_kind
    if figures.get("dbt_node_windows"):
        figures["dbt_peak_rss_by_node"] = dict(
            list(_peak_by_window(timeline, figures.pop("dbt_node_windows"), column=2).items())[:15]
        )
    if figures.get("step_windows"):
        windows = figures.pop("step_windows")
        figures["peak_rss_by_step"] = _peak_by_window(timeline, windows, column=1)
        # when each step ran, in seconds from the phase's start, to read against the timeline below
        origin = timeline[0][0] if timeline else 0.0
        figures["step_windows_s"] = {
            key: [round(start - origin, 1), round(end - origin, 1)] for key, (start, end) in windows.items()
        }
    figures["rss_timeline"] = _thinned(timeline, every_s=1.0)
    figures["loadavg_1m_before"] = round(load_before, 2)
    figures["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"  {name}: {_brief(figures)}", flush=True)
    return figures


def _brief(figures: dict[str, Any]) -> str:
    keys = (
        "seconds",
        "wall_s",
        "sync_before_s",
        "peak_rss_bytes",
        "change_rows",
        "accounts_changed",
        "loadavg_1m_after",
    )
    return ", ".join(f"{k}={figures[k]}" for k in keys if k in figures)


def _reuse(workdir: Path, world: dict[str, Any]) -> dict[str, Any] | None:
    """The simulate figures of an earlier run of this world in `workdir`, its warehouse reset to
    the change tables and the simulator's state (everything derived dropped); None if there is none."""
    from healthwatch.warehouse import connect, ensure_change_tables

    done, warehouse = workdir / "phase-simulate.json", workdir / "warehouse.duckdb"
    if not done.exists() or not warehouse.exists():
        return None
    figures = json.loads(done.read_text())
    if figures.get("world") != world:
        return None
    keep = {"cdc", "sim", "main", "information_schema", "pg_catalog"}
    with connect(warehouse) as con:
        deliver_held(con)  # rows an interrupted run held back belong to the world
        schemas = [
            name for (name,) in con.execute("select distinct schema_name from duckdb_schemas()").fetchall()
        ]
        for schema in schemas:
            if schema not in keep:
                con.execute(f'drop schema if exists "{schema}" cascade')
        ensure_change_tables(con)
    for folder in ("dagster_home", "models", "outbox", "exports", "logs"):
        shutil.rmtree(workdir / folder, ignore_errors=True)
    return {**figures, "reused": True}


def _world(workdir: Path, world: dict[str, Any], touch_share: float, reuse: bool = False) -> dict[str, Any]:
    """simulate, full build, a 1% day, incremental run: one world's figures. `world`: accounts,
    days, seed and start_date (ISO) of the simulation."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HEALTHWATCH_WAREHOUSE": str(workdir / "warehouse.duckdb"),
        "DAGSTER_HOME": str(workdir / "dagster_home"),
        "HEALTHWATCH_CONFIG": os.environ.get("HEALTHWATCH_CONFIG", str(REPO_ROOT / "healthwatch.yml")),
    }
    print(
        f"{world['accounts']:,} accounts x {world['days']} days from {world['start_date']} in {workdir}",
        flush=True,
    )
    simulated = _reuse(workdir, world) if reuse else None
    if simulated is None:
        for stale in ("warehouse.duckdb", "warehouse.duckdb.wal"):
            (workdir / stale).unlink(missing_ok=True)
        shutil.rmtree(workdir / "dagster_home", ignore_errors=True)
        simulated = _run_phase("simulate", workdir, env, **world)
    else:
        print(f"  simulate: reused ({simulated['seconds']} s when it ran)", flush=True)
    return {
        "simulate": simulated,
        "full": _run_phase("full", workdir, env),
        "stream": _run_phase("stream", workdir, env, touch_share=touch_share),
        "roll": _run_phase("roll", workdir, env),
        "deliver": _run_phase("deliver", workdir, env),
        "incremental": _run_phase("incremental", workdir, env),
    }


def run_scale_bench(
    tier: str,
    workdir: Path | None = None,
    seed: int = 7,
    touch_share: float = 0.01,
    history_check: bool | None = None,
    reuse: bool = False,
) -> dict[str, Any]:
    """Run a tier and return its figures (see the module docstring for what each key means)."""
    spec = TIERS[tier]
    workdir = workdir or Path(tempfile.mkdtemp(prefix=f"healthwatch-scale-{tier}-"))
    start = _settings(workdir).config.simulation.start_date
    world = {"accounts": spec.accounts, "days": spec.days, "seed": seed, "start_date": start.isoformat()}
    if spec.event_sample < 1.0:
        world["event_sample"] = spec.event_sample
    base = _world(workdir / "history-1x", world, touch_share, reuse)
    figures = summarize(tier, base, seed, touch_share)
    if history_check if history_check is not None else tier == "L":
        # Twice the past, the same end: a world running past today would have its future rows
        # quarantined by the change-row screen (source time after now).
        earlier = (start - timedelta(days=spec.days)).isoformat()
        doubled_world = world | {"days": 2 * spec.days, "start_date": earlier}
        doubled = _world(workdir / "history-2x", doubled_world, touch_share, reuse)
        figures["doubled_history"] = doubled
        figures["full_build_2x_s"] = doubled["full"]["seconds"]
        figures["incremental_2x_s"] = doubled["incremental"]["seconds"]
        figures["incremental_730_vs_365"] = round(
            doubled["incremental"]["seconds"] / base["incremental"]["seconds"], 4
        )
        figures["roll_2x_s"] = doubled["roll"]["seconds"]
        figures["roll_730_vs_365"] = round(doubled["roll"]["seconds"] / base["roll"]["seconds"], 4)
    return figures


def summarize(tier: str, base: dict[str, Any], seed: int, touch_share: float) -> dict[str, Any]:
    """The headline figures of one world's phases (as `_world` returns them, or read back from
    the phase-*.json files a run leaves in its work folder)."""
    spec = TIERS[tier]
    full, roll, inc = base["full"], base["roll"], base["incremental"]
    runs = {"full": full, "roll": roll, "incremental": inc}
    return {
        "tier": tier,
        "accounts": spec.accounts,
        "days": spec.days,
        "seed": seed,
        "touch_share": touch_share,
        "machine": {"cpus": os.cpu_count(), "mem_bytes": os.sysconf("SC_PHYS_PAGES") * PAGE},
        "simulate_s": base["simulate"]["seconds"],
        "change_rows": base["simulate"]["change_rows"],
        "product_events": base["simulate"]["product_events"],
        "full_build_s": full["seconds"],
        "full_build_steps_s": full["groups"],
        "incremental_s": inc["seconds"],
        "incremental_steps_s": inc["groups"],
        "incremental_ratio": round(inc["seconds"] / full["seconds"], 4),
        "incremental_dbt_ratio": round(inc["groups"]["dbt_build"] / full["groups"]["dbt_build"], 4),
        "incremental_change_rows": base["stream"]["change_rows"] - base["stream"]["first_batch_rows"],
        "incremental_accounts_changed": inc["accounts_changed"],
        "incremental_accounts_rolled": inc["accounts_rolled"],
        "roll_s": roll["seconds"],
        "roll_steps_s": roll["groups"],
        "roll_ratio": round(roll["seconds"] / full["seconds"], 4),
        "roll_change_rows": base["stream"]["first_batch_rows"],
        "roll_accounts_changed": roll["accounts_changed"],
        "roll_accounts_rolled": roll["accounts_rolled"],
        "day_s": round(roll["seconds"] + inc["seconds"], 2),
        "day_ratio": round((roll["seconds"] + inc["seconds"]) / full["seconds"], 4),
        "peak_rss_bytes": max(run["peak_rss_bytes"] for run in runs.values()),
        "peak_rss_bytes_by_phase": {name: phase.get("peak_rss_bytes") for name, phase in base.items()},
        "peak_rss_bytes_by_process": {
            name: run.get("peak_rss_bytes_by_process") for name, run in runs.items()
        },
        "dbt_peak_rss_by_node_full": full.get("dbt_peak_rss_by_node"),
        "peak_rss_by_step": {name: run.get("peak_rss_by_step") for name, run in runs.items()},
        "rusage_bound_bytes": max(run["rusage_bound_bytes"] for run in runs.values()),
        "rss_method": "sum of /proc/<pid>/statm resident pages of the phase process and all descendants, "
        f"sampled every {SAMPLE_SECONDS} s; bound: getrusage SELF + CHILDREN ru_maxrss",
        "dbt_models_full_s": full["dbt_models"],
        "dbt_models_incremental_s": inc["dbt_models"],
        "warehouse_bytes": full["warehouse_bytes"],
        "phases": base,
    }


# --- the children: one phase each --------------------------------------------------------------


def _rusage_bound() -> int:
    """Max RSS of this process plus the largest of its waited-for children, in bytes (Linux: KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) * 1024


def _settings(workdir: Path) -> "Settings":
    from healthwatch.config import load_settings

    return load_settings(env={**os.environ, "HEALTHWATCH_WAREHOUSE": str(workdir / "warehouse.duckdb")})


def _phase_simulate(
    workdir: Path, accounts: int, days: int, seed: int, start_date: str, event_sample: float = 1.0
) -> dict[str, Any]:
    from healthwatch.simulator import simulate_configured
    from healthwatch.warehouse import connect

    settings = _settings(workdir)
    started = time.perf_counter()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if time.perf_counter() - last[0] > 30 or done == total:
            last[0] = time.perf_counter()
            print(f"simulated {done}/{total} days, {last[0] - started:.0f} s", flush=True)

    with connect(settings.warehouse) as con:
        summary = simulate_configured(
            con,
            settings,
            accounts=accounts,
            days=days,
            seed=seed,
            progress=progress,
            start_date=date.fromisoformat(start_date),
            event_sample=event_sample,
        )
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "change_rows": summary.total_rows,
        "product_events": summary.change_rows.get("cdc.product_changes", 0),
    }


def _phase_stream(workdir: Path, touch_share: float) -> dict[str, Any]:
    """Stream one day, then hold back its rows dated from FIRST_BATCH_HOURS on (in HELD)."""
    from healthwatch.simulator import stream
    from healthwatch.warehouse import connect, max_seqs

    settings = _settings(workdir)
    started = time.perf_counter()
    with connect(settings.warehouse) as con:
        before = max_seqs(con)
        stream(con, days=1, touch_share=touch_share)
        streamed, held = hold_back(con, before)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "change_rows": streamed,
        "first_batch_rows": streamed - held,
    }


def hold_back(
    con: "duckdb.DuckDBPyConnection", before: dict[str, int], hours: int = FIRST_BATCH_HOURS
) -> tuple[int, int]:
    """Move the change rows above `before` (the highest seq per change table, `max_seqs`) dated
    from `hours` of their newest day on into HELD; return how many rows are new and how many of
    them were held."""
    new = " union all ".join(
        f"select source_ts from {table} where seq > {seq}" for table, seq in before.items()
    )
    streamed, day = con.execute(f"select count(*), cast(max(source_ts) as date) from ({new})").fetchall()[0]
    cutoff = datetime.combine(day, datetime.min.time()) + timedelta(hours=hours)
    held = 0
    con.execute(f"create schema if not exists {HELD}")
    for table, seq in before.items():
        copy = f"{HELD}.{table.split('.')[-1]}"
        where = f"seq > {seq} and source_ts >= ?"
        con.execute(f"create or replace table {copy} as select * from {table} where {where}", [cutoff])
        held += con.execute(f"select count(*) from {copy}").fetchall()[0][0]
        con.execute(f"delete from {table} where {where}", [cutoff])
    return streamed, held


def deliver_held(con: "duckdb.DuckDBPyConnection") -> int:
    """Append the held-back rows to their change tables (as late CDC rows arrive); return how many."""
    from healthwatch.warehouse import SOURCE_SYSTEMS, change_table, table_exists

    delivered = 0
    for table in map(change_table, SOURCE_SYSTEMS):
        copy = f"{HELD}.{table.split('.')[-1]}"
        if table_exists(con, copy):
            delivered += con.execute(f"select count(*) from {copy}").fetchall()[0][0]
            con.execute(f"insert into {table} select * from {copy}")
    con.execute(f"drop schema if exists {HELD} cascade")
    return delivered


def _phase_deliver(workdir: Path) -> dict[str, Any]:
    from healthwatch.warehouse import connect

    started = time.perf_counter()
    with connect(_settings(workdir).warehouse) as con:
        delivered = deliver_held(con)
    return {"seconds": round(time.perf_counter() - started, 2), "change_rows": delivered}


def _phase_job(workdir: Path, job_name: str, full_refresh: bool) -> dict[str, Any]:
    from healthwatch.batches import scope_summary
    from healthwatch.warehouse import connect
    from pipelines.run import instance_for, run_job

    settings = _settings(workdir)
    tags = {"healthwatch/full_refresh": "true"} if full_refresh else {}
    started = time.perf_counter()
    instance = instance_for(settings)
    outcome = run_job(job_name, settings, tags=tags, instance=instance, log_path=workdir / f"{job_name}.log")
    seconds = time.perf_counter() - started
    step_stats = instance.get_run_step_stats(outcome.run_id)
    steps = {stat.step_key: round((stat.end_time or 0) - (stat.start_time or 0), 2) for stat in step_stats}
    groups: dict[str, float] = {"dbt_build": 0.0, "training": 0.0, "scoring": 0.0, "alerts": 0.0}
    groups["delivery"] = 0.0
    groups["checks_and_bookkeeping"] = 0.0
    for key, value in steps.items():
        group = STEP_GROUPS.get(key, "checks_and_bookkeeping")
        groups[group] = round(groups[group] + value, 2)
    groups["run_overhead"] = round(seconds - sum(steps.values()), 2)
    with connect(settings.warehouse, read_only=True) as con:
        scope = scope_summary(con)
    return {
        "seconds": round(seconds, 2),
        "run_id": outcome.run_id,
        "steps": steps,
        "groups": groups,
        "accounts_changed": scope.changed_accounts,
        "accounts_rolled": scope.rolled_accounts,
        "dbt_models": dbt_model_timings(settings.warehouse, started_after=time.time() - seconds - 1),
        "dbt_node_windows": dbt_node_windows(settings.warehouse, started_after=time.time() - seconds - 1),
        "step_windows": {stat.step_key: [stat.start_time or 0, stat.end_time or 0] for stat in step_stats},
        "warehouse_bytes": settings.warehouse.stat().st_size,
    }


def _run_results(warehouse: Path, started_after: float) -> dict[str, Any] | None:
    """The run_results.json of the last dbt build on `warehouse` that dagster-dbt left in its
    invocation folder since `started_after` (epoch seconds), or None."""
    target = REPO_ROOT / "dbt_project" / "target"
    for path in sorted(target.glob("*/run_results.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        if path.stat().st_mtime < started_after:
            break
        results = json.loads(path.read_text())
        dbt_vars = results["args"].get("vars") or {}
        if isinstance(dbt_vars, str):
            dbt_vars = json.loads(dbt_vars)
        if dbt_vars.get("warehouse_path") == str(warehouse):
            return results
    return None


def dbt_model_timings(warehouse: Path, started_after: float) -> dict[str, float]:
    """Seconds per dbt node (models and tests) of that build, largest first."""
    results = _run_results(warehouse, started_after) or {"results": []}
    timings = {r["unique_id"]: round(r["execution_time"], 2) for r in results["results"]}
    return dict(sorted(timings.items(), key=lambda kv: kv[1], reverse=True))


def dbt_node_windows(warehouse: Path, started_after: float) -> dict[str, list[float]]:
    """When each dbt node of that build ran: [first timing start, last timing end] in epoch seconds."""

    def epoch(stamp: str) -> float:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()

    results = _run_results(warehouse, started_after) or {"results": []}
    return {
        r["unique_id"]: [epoch(r["timing"][0]["started_at"]), epoch(r["timing"][-1]["completed_at"])]
        for r in results["results"]
        if r["timing"]
    }


def _child_main(argv: list[str]) -> None:
    name, workdir, params, out = argv[0], Path(argv[1]), json.loads(argv[2]), Path(argv[3])
    if name == "simulate":
        # the world as the parent described it: what a later --reuse-world compares against
        figures = {**_phase_simulate(workdir, **params), "world": params}
    elif name == "stream":
        figures = _phase_stream(workdir, **params)
    elif name == "full":
        figures = _phase_job(workdir, "healthwatch_job", full_refresh=True)
    elif name == "deliver":
        figures = _phase_deliver(workdir)
    elif name in ("roll", "incremental"):
        figures = _phase_job(workdir, "rescore_job", full_refresh=False)
    else:
        raise SystemExit(f"unknown phase {name}")
    figures["rusage_bound_bytes"] = _rusage_bound()
    out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    _child_main(sys.argv[1:])
