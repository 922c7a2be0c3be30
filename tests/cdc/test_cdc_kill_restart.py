"""A reader killed (SIGKILL) mid-stream and started again loses nothing and writes nothing twice:
the change table holds each source change once, and dbt staging holds the source's state."""

import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cdc_support import dbt_build, query, source_rows, source_sql, start_reader, stop_reader, wait_until

from healthwatch.simulator import simulate
from healthwatch.warehouse import connect

from tests_support import REPO_ROOT, settings_at

MAPPING = REPO_ROOT / "cdc_mapping.example.yml"
SCHEMA = """
create schema billing;
create table billing.invoices (
    id text primary key, customer_id text, due_date date, total numeric(12, 2), status text,
    updated_at timestamptz, note text);
"""


def _simulated_until_today(warehouse: Path) -> list[str]:
    """A small simulated world whose last day is today, as a live source's would be (the reader
    stamps rows with their real commit time); returns some of its account ids."""
    settings = settings_at(warehouse)
    with connect(warehouse) as con:
        simulate(
            con,
            accounts=30,
            days=60,
            seed=3,
            start_date=datetime.now(UTC).date() - timedelta(days=59),
            core_features=settings.config.product.core_features,
        )
        return [
            a
            for (a,) in con.execute(
                "select distinct key from cdc.crm_changes where source_table = 'accounts' order by 1 limit 6"
            ).fetchall()
        ]


DELETED = set(range(1, 60, 7))


def _source_changes(accounts: list[str]) -> list[str]:
    """One statement per transaction, each changing one row: 60 inserts, 20 updates, 9 deletes,
    10 more updates."""
    day = datetime.now(UTC).date()
    statements = [
        f"insert into billing.invoices values ('pg-{i:03d}', '{accounts[i % len(accounts)]}', '{day}', "
        f"{100 + i}, 'paid', now(), 'n{i}')"
        for i in range(60)
    ]
    statements += [
        f"update billing.invoices set status = 'failed', updated_at = now() where id = 'pg-{i:03d}'"
        for i in range(0, 60, 3)
    ]
    statements += [f"delete from billing.invoices where id = 'pg-{i:03d}'" for i in range(1, 60, 7)]
    statements += [
        f"update billing.invoices set total = total + 1 where id = 'pg-{i:03d}'"
        for i in range(0, 60, 5)
        if i not in DELETED
    ]
    return statements


def test_a_killed_reader_restarts_without_loss_or_duplicates(source_pg, tmp_path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    accounts = _simulated_until_today(warehouse)
    (base,) = query(warehouse, "select max(seq) from cdc.crm_changes")[0]
    source_sql(source_pg, SCHEMA)
    statements = _source_changes(accounts)
    args = ("--mapping", str(MAPPING), "--tables", "billing.invoices", "--slot", "kill_test")

    def arrived() -> int:
        return query(warehouse, "select count(*) from cdc.crm_changes where seq > ?", [base])[0][0]

    log = tmp_path / "reader.log"
    reader = start_reader(warehouse, source_pg, *args, "--create-slot", "--replica-identity-full", log=log)
    writer_done = threading.Event()

    def write_source() -> None:
        try:
            for statement in statements:
                source_sql(source_pg, statement)
                time.sleep(0.05)  # a steady stream, so the kill below falls in the middle of it
        finally:
            writer_done.set()

    try:
        wait_until(lambda: "streaming slot" in log.read_text(), "the reader to stream", reader)
        writer = threading.Thread(target=write_source)
        writer.start()
        wait_until(lambda: arrived() >= 15, "the first changes", reader)
        reader.send_signal(signal.SIGKILL)
        reader.wait(timeout=30)
        at_kill = arrived()
        killed_mid_stream = not writer_done.is_set()
        reader = start_reader(warehouse, source_pg, *args, log=log)
        # streaming again (its SIGTERM handler is set before it streams), so the stop below is clean
        wait_until(lambda: log.read_text().count("streaming slot") >= 2, "the reader to stream again", reader)
        writer.join(timeout=120)
        wait_until(lambda: arrived() >= len(statements), "every change", reader)
        assert stop_reader(reader) == 0
    finally:
        if reader.poll() is None:
            reader.kill()
    assert killed_mid_stream and 15 <= at_kill < len(statements)

    # exactly once in the change table: one row per source change, each source position once
    rows = query(
        warehouse,
        "select c.op, c.key, l.lsn from cdc.crm_changes c join ops.pg_cdc_changes l "
        "on l.change_table = 'cdc.crm_changes' and l.seq = c.seq where c.seq > ? order by c.seq",
        [base],
    )
    assert len(rows) == len(statements) == arrived()
    assert len({lsn for _, _, lsn in rows}) == len(rows)
    assert [op for op, _, _ in rows] == ["c"] * 60 + ["u"] * 20 + ["d"] * 9 + ["u"] * 10
    assert [key for op, key, _ in rows if op == "d"] == [f"pg-{i:03d}" for i in sorted(DELETED)]

    # after staging, the warehouse's invoices are the source's invoices
    dbt_build(settings_at(warehouse), tmp_path / "dbt_target")
    staged = query(
        warehouse,
        "select invoice_id, account_id, amount, status from staging.stg_crm__invoices "
        "where invoice_id like 'pg-%' order by 1",
    )
    source = [
        (i, a, float(t), s)
        for i, a, t, s in source_rows(
            source_pg, "select id, customer_id, total, status from billing.invoices order by 1"
        )
    ]
    assert staged == source and len(source) == 60 - len(DELETED)
