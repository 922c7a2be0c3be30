"""Benchmark: from the commit of a change in a source to the alert row and to the outbox row.

Builds a small simulated warehouse, starts the Dagster daemon with the CDC sensors on it, then
one change at a time appends a change row as CDC would — a payment failure, a cancellation
request — and polls (short read-only connections) for the alert row and, for critical alerts,
the immediate mail in the outbox. Each change is measured alone. Where the time went comes from
Dagster's own run records: until the sensor's run existed, until it started, each step.

    healthwatch bench latency --changes 20 --json bench/results/latency.json
"""

import json
import random
import statistics
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb

from healthwatch.batches import data_clock
from healthwatch.config import Settings, load_settings
from healthwatch.simulator import simulate_configured
from healthwatch.warehouse import connect
from pipelines.daemon import running_daemon
from pipelines.run import instance_for, run_job

KINDS = ("payment_failure", "cancellation_request")


@dataclass
class Measurement:
    kind: str
    account_id: str
    to_alert_s: float | None = None
    to_outbox_s: float | None = None
    breakdown_s: dict[str, float] = field(default_factory=dict)


def append_change(settings: Settings, kind: str, account_id: str, number: int) -> float:
    """Append one CRM change row for `account_id`, dated just after the data clock (the newest
    change in any change table); return the wall time of its commit."""
    with connect(settings.warehouse, attempts=600) as con:
        (seq,) = con.execute("select max(seq) + 1 from cdc.crm_changes").fetchall()[0]
        at = data_clock(con) + timedelta(seconds=1)  # the newest change of any table, so it moves the clock
        iso = at.isoformat(timespec="seconds")
        if kind == "payment_failure":
            table, key = "invoices", f"bench-invoice-{number}"
            after = {"invoice_id": key, "account_id": account_id, "due_date": at.date().isoformat(),
                     "amount": 1000.0, "status": "failed", "event_at": iso}  # fmt: skip
        else:
            table, key = "crm_events", f"bench-event-{number}"
            after = {
                "crm_event_id": key,
                "account_id": account_id,
                "kind": "cancellation_request",
                "event_at": iso,
            }
        con.execute(
            "insert into cdc.crm_changes values (?, ?, 'c', ?, null, ?, ?, ?)",
            [seq, table, key, json.dumps(after), at, at],
        )
    return time.monotonic()


def _poll(settings: Settings, sql: str, params: list, timeout_s: float) -> float | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with duckdb.connect(str(settings.warehouse), read_only=True) as con:
                if con.execute(sql, params).fetchall():
                    return time.monotonic()
        except duckdb.Error:
            pass  # a run holds the write lock, or the table is not there yet
        time.sleep(0.2)
    return None


def _breakdown(instance: dg.DagsterInstance, since_wall: float, committed_wall: float) -> dict[str, float]:
    """Seconds from the commit until the run existed and started, and each step's duration."""
    runs = [
        r
        for r in instance.get_run_records(filters=dg.RunsFilter(job_name="rescore_job"), limit=5)
        if r.create_timestamp.timestamp() >= since_wall
    ]
    if not runs:
        return {}
    record = min(runs, key=lambda r: r.create_timestamp)
    out = {"until_run_requested": record.create_timestamp.timestamp() - committed_wall}
    stats = instance.get_run_stats(record.dagster_run.run_id)
    if stats.launch_time and stats.start_time:
        out["run_launch"] = stats.start_time - stats.launch_time
    if stats.start_time:
        out["until_run_started"] = stats.start_time - committed_wall
    for step in instance.get_run_step_stats(record.dagster_run.run_id):
        if step.start_time and step.end_time:
            out[f"step:{step.step_key}"] = step.end_time - step.start_time
    return out


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_latency_bench(
    workdir: Path, changes: int = 20, accounts: int = 200, days: int = 120, seed: int = 7
) -> dict:
    """Build, start the daemon, measure `changes` changes one at a time; return the figures."""
    workdir.mkdir(parents=True, exist_ok=True)
    settings = load_settings(env={"HEALTHWATCH_WAREHOUSE": str(workdir / "warehouse.duckdb")})
    settings.warehouse.unlink(missing_ok=True)
    with connect(settings.warehouse) as con:
        simulate_configured(con, settings, accounts=accounts, days=days, seed=seed)
    with instance_for(settings) as instance:
        run_job("healthwatch_job", settings, instance=instance, log_path=workdir / "build.log")
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        candidates = [
            a
            for (a,) in con.execute("select account_id from signals.accounts where not is_churned").fetchall()
        ]
    rng = random.Random(seed)
    measurements: list[Measurement] = []
    with running_daemon(settings, workdir / "daemon.log"), instance_for(settings) as instance:
        time.sleep(10)  # the sensors' first ticks: their cursors catch up with the processed rows
        _poll(settings, "select 1", [], 5)
        for number in range(changes):
            kind = KINDS[number % len(KINDS)]
            account_id = rng.choice(candidates)
            wall_before = time.time()
            committed = append_change(settings, kind, account_id, number)
            committed_wall = time.time()
            m = Measurement(kind=kind, account_id=account_id)
            alert_seen = _poll(
                settings,
                "select 1 from alerts.health_alerts where account_id = ? and alert_type = ? and status = 'open' "
                "and last_seen_at >= (select max(source_ts) from cdc.crm_changes)",
                [account_id, kind],
                timeout_s=180,
            )
            m.to_alert_s = None if alert_seen is None else alert_seen - committed
            if kind == "cancellation_request":
                outbox_seen = _poll(
                    settings,
                    "select 1 from alerts.email_outbox o join alerts.health_alerts a on starts_with(o.period, a.alert_id) "
                    "where o.kind = 'critical_alert' and a.account_id = ? and a.alert_type = ?",
                    [account_id, kind],
                    timeout_s=60,
                )
                m.to_outbox_s = None if outbox_seen is None else outbox_seen - committed
            time.sleep(2)  # let the run finish before reading its records
            m.breakdown_s = _breakdown(instance, wall_before, committed_wall)
            measurements.append(m)
            print(f"{number + 1}/{changes} {kind}: alert {m.to_alert_s} s, outbox {m.to_outbox_s} s")
    to_alert = [m.to_alert_s for m in measurements if m.to_alert_s is not None]
    to_outbox = [m.to_outbox_s for m in measurements if m.to_outbox_s is not None]
    parts: dict[str, list[float]] = {}
    for m in measurements:
        for name, seconds in m.breakdown_s.items():
            parts.setdefault(name, []).append(seconds)
    return {
        "changes": changes,
        "accounts": accounts,
        "days": days,
        "alerts_seen": len(to_alert),
        "to_alert_p50_s": _percentile(to_alert, 0.5),
        "to_alert_p95_s": _percentile(to_alert, 0.95),
        "to_outbox_p50_s": _percentile(to_outbox, 0.5),
        "to_outbox_p95_s": _percentile(to_outbox, 0.95),
        "breakdown_median_s": {name: round(statistics.median(v), 2) for name, v in sorted(parts.items())},
        "measurements": [asdict(m) for m in measurements],
    }
