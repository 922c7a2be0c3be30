"""Rows inserted, updated, deleted and truncated in a PostgreSQL source schema arrive in the change
tables in commit order, with their before and after images, after a first snapshot (op r)."""

import json
from datetime import datetime

import duckdb
from cdc_support import PASSWORD, query, source_sql, start_reader, stop_reader, wait_until

from healthwatch.cdc.writer import ensure_cdc_tables
from healthwatch.warehouse import connect

SCHEMA = """
create schema s1;
create table s1.invoices (
    invoice_id text primary key, account_id text, due_date date, amount numeric(12, 2),
    status text, event_at timestamptz);
create table s1.crm_events (crm_event_id text primary key, account_id text, kind text, event_at timestamptz);
"""


def _changes(warehouse, table: str, after_seq: int) -> list[tuple]:
    return [
        (
            seq,
            source_table,
            op,
            key,
            json.loads(before) if before else None,
            json.loads(after) if after else None,
        )
        for seq, source_table, op, key, before, after in query(
            warehouse,
            f"select seq, source_table, op, key, before, after from {table} where seq > ? order by seq",
            [after_seq],
        )
    ]


def test_changes_arrive_in_commit_order_with_before_and_after(source_pg, tmp_path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    with connect(warehouse) as con:
        ensure_cdc_tables(con)
        # rows already in the table (a simulator or a loader wrote them): seqs continue after them
        con.execute(
            "insert into cdc.crm_changes values (41, 'invoices', 'c', 'old', null, '{}', ?, ?)",
            [datetime(2026, 1, 1), datetime(2026, 1, 1)],
        )
    source_sql(
        source_pg,
        SCHEMA,
        "insert into s1.invoices values ('inv-1', 'acc-1', '2026-02-01', 100.50, 'paid', '2026-01-31 10:00:00+00')",
        "insert into s1.invoices values ('inv-2', 'acc-2', '2026-02-02', 20, 'paid', '2026-01-31 11:30:00.25+01')",
    )
    log = tmp_path / "reader.log"
    reader = start_reader(
        warehouse,
        source_pg,
        "--tables",
        "s1.invoices,s1.crm_events",
        "--slot",
        "stream_test",
        "--create-slot",
        "--replica-identity-full",
        log=log,
    )
    try:
        wait_until(lambda: len(_changes(warehouse, "cdc.crm_changes", 41)) == 2, "the snapshot", reader)
        source_sql(
            source_pg,
            "insert into s1.invoices values ('inv-3', 'acc-1', '2026-03-01', 30, 'paid', '2026-02-28 09:00:00+00')",
            "update s1.invoices set status = 'failed' where invoice_id = 'inv-1'",
            "delete from s1.invoices where invoice_id = 'inv-2'",
            "insert into s1.crm_events values ('ev-1', 'acc-1', 'procurement_freeze', '2026-03-01 08:00:00+00'), "
            "('ev-2', 'acc-2', 'budget_owner_change', '2026-03-02 08:00:00+00')",
            "truncate s1.crm_events",
            # one transaction, two changes: they keep their order inside it
            "begin; update s1.invoices set amount = 31 where invoice_id = 'inv-3'; "
            "update s1.invoices set invoice_id = 'inv-9' where invoice_id = 'inv-1'; commit",
        )
        wait_until(lambda: len(_changes(warehouse, "cdc.crm_changes", 41)) == 12, "12 change rows", reader)
        assert stop_reader(reader) == 0
    finally:
        if reader.poll() is None:
            reader.kill()
    rows = _changes(warehouse, "cdc.crm_changes", 41)
    assert [r[0] for r in rows] == list(range(42, 54))
    summary = [
        (t, op, key, (b or {}).get("status"), (a or {}).get("status") or (a or {}).get("kind"))
        for _, t, op, key, b, a in rows
    ]
    assert summary == [
        ("invoices", "r", "inv-1", None, "paid"),
        ("invoices", "r", "inv-2", None, "paid"),
        ("invoices", "c", "inv-3", None, "paid"),
        ("invoices", "u", "inv-1", "paid", "failed"),
        ("invoices", "d", "inv-2", "paid", None),
        ("crm_events", "c", "ev-1", None, "procurement_freeze"),
        ("crm_events", "c", "ev-2", None, "budget_owner_change"),
        ("crm_events", "d", "ev-1", None, None),
        ("crm_events", "d", "ev-2", None, None),
        ("invoices", "u", "inv-3", "paid", "paid"),
        ("invoices", "d", "inv-1", "failed", None),
        ("invoices", "c", "inv-9", None, "failed"),
    ]
    # contract images: typed as the simulator writes them, timestamps in UTC
    assert rows[1][5] == {
        "invoice_id": "inv-2",
        "account_id": "acc-2",
        "due_date": "2026-02-02",
        "amount": 20.0,
        "status": "paid",
        "event_at": "2026-01-31T10:30:00.250000",
    }
    assert rows[3][4]["amount"] == 100.5 and rows[3][5]["amount"] == 100.5
    assert rows[9][4]["amount"] == 30.0 and rows[9][5]["amount"] == 31.0
    assert rows[7][4]["kind"] == "procurement_freeze"  # a truncate deletes each key with its last image
    # the source position of every row is kept, increasing with seq
    lsns = query(
        warehouse,
        "select seq, lsn, commit_end_lsn from ops.pg_cdc_changes where change_table = 'cdc.crm_changes' order by seq",
    )
    assert [s for s, _, _ in lsns] == list(range(42, 54))
    commit_ends = [_lsn(c) for _, _, c in lsns]
    assert commit_ends == sorted(commit_ends)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (source_ts_ok,) = con.execute(
            "select bool_and(source_ts <= ingested_at) from cdc.crm_changes where seq > 41"
        ).fetchone()
    assert source_ts_ok
    output = log.read_text()
    assert "stopped:" in output and PASSWORD not in output


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def test_a_replay_of_written_transactions_is_left_out(tmp_path) -> None:
    """The window between the warehouse commit and PostgreSQL's acknowledgement: after a crash
    there, the server sends the same transactions again, and the writer leaves them out."""
    from healthwatch.cdc.writer import Change, Transaction, write_transactions

    def txn(end: int, key: str, status: str) -> Transaction:
        after = {"invoice_id": key, "status": status}
        return Transaction(
            xid=end,
            commit_ts=datetime(2026, 1, 1),
            end_lsn=end,
            changes=[Change("invoices", "crm", "c", key, None, after, end - 8)],
        )

    with connect(tmp_path / "w.duckdb") as con:
        assert write_transactions(con, "s", [txn(100, "a", "paid"), txn(200, "b", "paid")], 200) == {
            "cdc.crm_changes": 2
        }
        # replayed from before 200, with one new transaction after it
        assert write_transactions(con, "s", [txn(200, "b", "paid"), txn(300, "c", "failed")], 300) == {
            "cdc.crm_changes": 1
        }
        rows = con.execute("select seq, key from cdc.crm_changes order by seq").fetchall()
        (position,) = con.execute("select lsn_int from ops.pg_cdc_positions where slot = 's'").fetchall()[0]
    assert rows == [(1, "a"), (2, "b"), (3, "c")] and position == 300
