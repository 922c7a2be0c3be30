"""Point-in-time correctness: rows dated after a snapshot change no feature of that snapshot."""

import json
from datetime import date, datetime, timedelta

import duckdb

from dbt_runner import build_signals
from tests_support import rounded_rows

FEATURES = (
    "select * from signals.account_features where snapshot_date <= ? order by account_id, snapshot_date"
)


def _late_rows(con: duckdb.DuckDBPyConnection, account_id: str, contact_id: str, day: date) -> None:
    """Append change rows dated `day` for one account in every source system, as CDC would."""
    at = datetime.combine(day, datetime.min.time()) + timedelta(hours=10)
    iso = at.isoformat(timespec="seconds")

    def append(table: str, source_table: str, key: str, after: dict) -> None:
        (next_seq,) = con.execute(f"select coalesce(max(seq), 0) + 1 from {table}").fetchall()[0]
        con.execute(
            f"insert into {table} values (?, ?, 'c', ?, null, ?, ?, ?)",
            [next_seq, source_table, key, json.dumps(after), at, at],
        )

    for i in range(40):
        append(
            "cdc.product_changes",
            "events",
            f"late-{i}",
            {"event_id": f"late-{i}", "account_id": account_id, "user_id": contact_id, "event_name": "login",
             "ts": iso, "properties": {}},
        )  # fmt: skip
    append(
        "cdc.support_changes",
        "tickets",
        "late-ticket",
        {"ticket_id": "late-ticket", "account_id": account_id, "contact_id": contact_id, "created_at": iso,
         "closed_at": None, "priority": "urgent", "is_escalated": True, "subject": "Furious",
         "body": "This is unacceptable, everything is broken and nobody answers.", "csat": None},
    )  # fmt: skip
    append(
        "cdc.crm_changes",
        "invoices",
        "late-invoice",
        {"invoice_id": "late-invoice", "account_id": account_id, "due_date": day.isoformat(), "amount": 1000.0,
         "status": "failed", "event_at": iso},
    )  # fmt: skip
    append(
        "cdc.engagement_changes",
        "nps_responses",
        "late-nps",
        {"response_id": "late-nps", "survey_id": "late-survey", "account_id": account_id, "contact_id": contact_id,
         "score": 0, "comment": "Terrible.", "responded_at": iso},
    )  # fmt: skip


def test_rows_after_a_snapshot_change_none_of_its_features(world_copy, tmp_path) -> None:
    with duckdb.connect(str(world_copy.warehouse)) as con:
        snapshot, account_id = con.execute(
            """
            select snapshot_date, account_id from signals.account_features
            where snapshot_date = (select min(snapshot_date) + 56 from signals.account_features)
            order by account_id limit 1
            """
        ).fetchall()[0]
        (contact_id,) = con.execute(
            "select contact_id from staging.stg_crm__contacts where account_id = ? and left_at is null limit 1",
            [account_id],
        ).fetchall()[0]
        before = con.execute(FEATURES, [snapshot]).fetchall()
        signals_before = con.execute(
            "select logins, tickets_opened, payment_failures, nps_score_last from signals.account_signals_daily "
            "where account_id = ? and signal_date = ?",
            [account_id, snapshot + timedelta(days=1)],
        ).fetchall()
        _late_rows(con, account_id, contact_id, snapshot + timedelta(days=1))

    build_signals(world_copy, tmp_path / "target")

    with duckdb.connect(str(world_copy.warehouse), read_only=True) as con:
        after = con.execute(FEATURES, [snapshot]).fetchall()
        signals_after = con.execute(
            "select logins, tickets_opened, payment_failures, nps_score_last from signals.account_signals_daily "
            "where account_id = ? and signal_date = ?",
            [account_id, snapshot + timedelta(days=1)],
        ).fetchall()
    # The late rows were read: the day after the snapshot changed in every family...
    (logins, tickets, failures, nps) = signals_after[0]
    (logins_0, tickets_0, failures_0, _) = signals_before[0]
    assert (logins, tickets, failures, nps) == (logins_0 + 40, tickets_0 + 1, failures_0 + 1, 0)
    # ...and no feature of the snapshot, or of any earlier one, moved (floats up to summation order).
    assert rounded_rows(after) == rounded_rows(before)
