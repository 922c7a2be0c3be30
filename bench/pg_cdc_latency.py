"""Benchmark: from a source commit in PostgreSQL to its row in `cdc.<system>_changes`.

Runs the CDC reader (the code `healthwatch cdc postgres` runs) in a thread on a fresh warehouse,
commits single-row transactions to a source table at a steady rate, and for every change takes
the time from PostgreSQL's commit timestamp (wal2json's) to the moment the warehouse transaction
holding its row committed. Both clocks are this machine's: run it against a local server.

    python -m bench.pg_cdc_latency --transactions 300 --rate 20 --json bench/results/pg_cdc_latency.json

The source is HEALTHWATCH_CDC_PG_DSN (a role allowed to replicate, wal_level=logical, wal2json
installed); without it a throwaway server is started from the machine's PostgreSQL packages
(tests/postgres_support.py) and stopped at the end.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg2

from healthwatch.cdc.mapping import load_mapping
from healthwatch.cdc.reader import DSN_ENV, Reader, ReaderConfig, libpq_dsn
from healthwatch.cdc.writer import Transaction

REPO_ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def _source() -> Iterator[str]:
    if os.environ.get(DSN_ENV):
        yield os.environ[DSN_ENV]
        return
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from postgres_support import running_postgres

    with running_postgres("bench", logical=True) as dsn:
        yield dsn


def _quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def run(transactions: int, rate: float, max_batch_delay: float, workdir: Path) -> dict:
    """Stream `transactions` single-row commits at `rate` per second; return the latency figures."""
    latencies: list[float] = []
    written_at: list[float] = []

    def on_written(txns: list[Transaction]) -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        for txn in txns:
            if txn.xid is not None:  # not the snapshot
                latencies.extend((now - txn.commit_ts).total_seconds() for _ in txn.changes)
        written_at.append(time.monotonic())

    with _source() as dsn:
        con = psycopg2.connect(libpq_dsn(dsn))
        con.autocommit = True
        cur = con.cursor()
        cur.execute(
            "drop schema if exists hw_bench cascade; create schema hw_bench; "
            "create table hw_bench.invoices (invoice_id text primary key, account_id text, due_date date, "
            "amount numeric(12, 2), status text, event_at timestamptz)"
        )
        cur.execute(
            "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = 'hw_bench'"
        )
        config = ReaderConfig(
            dsn=dsn,
            warehouse=workdir / "warehouse.duckdb",
            tables=load_mapping(None, ["hw_bench.invoices"]),
            slot="hw_bench",
            create_slot=True,
            max_batch_delay=max_batch_delay,
            on_written=on_written,
        )
        stop = threading.Event()
        reader = Reader(config, stop)
        thread = threading.Thread(target=reader.run)
        thread.start()
        while reader.acked == 0 and thread.is_alive():
            time.sleep(0.05)
        time.sleep(0.5)
        start = time.monotonic()
        for i in range(transactions):
            target = start + i / rate
            time.sleep(max(0.0, target - time.monotonic()))
            cur.execute(
                "insert into hw_bench.invoices values (%s, 'acc-1', current_date, 10, 'failed', now())",
                [f"inv-{i}"],
            )
        deadline = time.monotonic() + 60
        while len(latencies) < transactions and time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.05)
        stop.set()
        thread.join(timeout=60)
        cur.execute("select pg_drop_replication_slot('hw_bench')")
        con.close()
    if len(latencies) != transactions:
        raise SystemExit(f"only {len(latencies)} of {transactions} changes arrived")
    return {
        "transactions": transactions,
        "rate_per_second": rate,
        "max_batch_delay_seconds": max_batch_delay,
        "warehouse_writes": len(written_at),
        "commit_to_row_seconds": {
            "p50": round(statistics.median(latencies), 4),
            "p95": round(_quantile(latencies, 0.95), 4),
            "max": round(max(latencies), 4),
            "mean": round(statistics.fmean(latencies), 4),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20.0, help="source commits per second")
    parser.add_argument("--max-batch-delay", type=float, default=0.5)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="healthwatch-pg-cdc-") as folder:
        figures = run(args.transactions, args.rate, args.max_batch_delay, Path(folder))
    figures["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
