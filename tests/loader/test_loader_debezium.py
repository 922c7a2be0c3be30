"""Debezium input: deletes and tombstones remove keys, wrapped envelopes are read, bad events and
lines are quarantined, and replayed events are not written twice."""

import json
from datetime import datetime
from pathlib import Path

import pytest

from healthwatch.errors import HealthwatchError
from healthwatch.loader import load_path
from healthwatch.warehouse import change_table

NOW = datetime(2026, 1, 15, 12, 0, 0)
TS_MS = 1762732800000  # 2025-11-10 00:00:00 UTC, after the source's last day


def _after(con, table: str, key: str) -> dict:
    (after,) = con.execute(
        f"select after from {change_table('crm' if table != 'nps_responses' else 'engagement')} "
        "where source_table = ? and key = ? order by seq desc limit 1",
        [table, key],
    ).fetchone()
    return json.loads(after)


def _lines(folder: Path, name: str, events: list) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text("\n".join(e if isinstance(e, str) else json.dumps(e) for e in events) + "\n")


def test_deletes_tombstones_and_bad_events(exports, warehouse, current_state, tmp_path: Path) -> None:
    load_path(warehouse, exports["debezium"], now=NOW)
    accounts = list(current_state(warehouse, "accounts"))
    contacts = list(current_state(warehouse, "contacts"))
    deleted, updated, tombstoned = accounts[0], accounts[1], contacts[0]
    (max_crm,) = warehouse.execute(f"select max(seq) from {change_table('crm')}").fetchone()
    account = _after(warehouse, "accounts", updated)
    nps = json.loads(
        warehouse.execute(
            f"select after from {change_table('engagement')} where source_table = 'nps_responses' limit 1"
        ).fetchone()[0]
    )
    changes = [
        # A bare delete with a PostgreSQL position.
        {
            "before": _after(warehouse, "accounts", deleted),
            "after": None,
            "op": "d",
            "ts_ms": TS_MS,
            "source": {"table": "accounts", "lsn": max_crm + 1000},
        },
        # Kafka Connect JSON with schemas, no position: the next seq.
        {
            "schema": {"type": "struct", "optional": False},
            "payload": {
                "before": account,
                "after": {**account, "arr": 1.5},
                "op": "u",
                "source": {"table": "accounts", "ts_ms": TS_MS + 1000},
            },
        },
        # A Kafka record dump of a tombstone: value null, key as JSON text, topic names the table.
        {
            "topic": "pg.public.contacts",
            "partition": 0,
            "key": json.dumps({"contact_id": tombstoned}),
            "payload": None,
        },
        # A bad after: quarantined in its table.
        {
            "before": None,
            "after": {**nps, "response_id": "NPS-BAD", "score": 11},
            "op": "c",
            "ts_ms": TS_MS,
            "source": {"table": "nps_responses", "sequence": '["1", "99999"]'},
        },
        "this is not JSON",
        # A keyed record whose value is not a change event is not a tombstone.
        {"key": {"account_id": updated}, "value": {"note": "hello"}},
        {"before": None, "after": {"id": 1}, "op": "c", "ts_ms": TS_MS, "source": {"table": "users"}},
        {
            "before": None,
            "after": {**nps, "response_id": "NPS-OP"},
            "op": "x",
            "source": {"table": "nps_responses"},
        },
    ]
    folder = tmp_path / "stream"
    _lines(folder, "changes.jsonl", changes)

    report = load_path(warehouse, folder, now=NOW)

    assert deleted not in current_state(warehouse, "accounts")
    assert tombstoned not in current_state(warehouse, "contacts")
    assert _after(warehouse, "accounts", updated)["arr"] == 1.5
    rows = warehouse.execute(
        f"select seq, op, key, source_ts from {change_table('crm')} where seq > ? order by seq", [max_crm]
    ).fetchall()
    # The delete keeps its position; events without one follow it in line order.
    assert [(seq - max_crm, op, key) for seq, op, key, _ in rows] == [
        (1000, "d", deleted),
        (1001, "u", updated),
        (1002, "d", tombstoned),
    ]
    # A tombstone has no time of its own: it takes the latest of the load.
    assert [ts for *_, ts in rows] == [datetime(2025, 11, 10), *[datetime(2025, 11, 10, 0, 0, 1)] * 2]
    quarantined = warehouse.execute(
        "select reason, row_json from quarantine.nps_responses order by line_number"
    ).fetchall()
    assert [r for r, _ in quarantined] == ["score 11 outside 0–10", "op 'x' is not one of c, u, d, r"]
    assert json.loads(quarantined[0][1])["after"]["score"] == 11  # the original line
    unrouted = warehouse.execute(
        "select reason from quarantine.debezium_events order by line_number"
    ).fetchall()
    assert unrouted[0] == ("the line is not valid JSON",)
    assert unrouted[1][0].startswith("no change event on the line")
    assert unrouted[2][0].startswith("table 'users' is not a contract table")
    assert report.tables["debezium_events"].rows_quarantined == 3
    assert report.rows_read == len(changes) == report.rows_loaded + report.rows_quarantined
    assert report.change_rows[change_table("crm")] == 3


def test_replayed_events_are_not_written_twice(exports, warehouse, current_state) -> None:
    first = load_path(warehouse, exports["debezium"], now=NOW)
    state = current_state(warehouse, "invoices")

    second = load_path(warehouse, exports["debezium"], now=NOW)

    assert second.change_rows_written == 0
    assert second.rows_loaded == first.rows_loaded
    assert sum(t.repeats for t in second.tables.values()) == first.change_rows_written
    assert current_state(warehouse, "invoices") == state


def test_a_change_without_a_contract_column_stops_the_load(
    exports, warehouse, change_counts, tmp_path
) -> None:
    folder = tmp_path / "drift"
    event = {
        "before": None,
        "after": {
            "member_id": "TM-9",
            "name": "Zed",
            "email": "z@example.com",
            "role": "csm",
            "timezone": "UTC",
        },
        "op": "c",
        "ts_ms": TS_MS,
        "source": {"table": "team"},
    }
    _lines(folder, "team.jsonl", [event])
    with pytest.raises(
        HealthwatchError, match=r"team\.jsonl line 1: the team change has no column manager_id"
    ):
        load_path(warehouse, folder, now=NOW)
    assert change_counts(warehouse)["crm"] == -1


def test_debezium_encodings_of_a_real_connector(warehouse, tmp_path: Path) -> None:
    """PostgreSQL connector defaults: timestamps as epoch µs, dates as epoch days, json columns as
    text, source.sequence as a text array; MySQL: binlog file and pos."""
    account = {
        "account_id": "ACC-1",
        "name": "Acme",
        "segment": "smb",
        "arr": 1200,
        "plan": "starter",
        "seats_purchased": 3,
        "csm_id": "TM-1",
        "created_at": 1756713600000000,  # µs: 2025-09-01 08:00 UTC
    }
    contract = {
        "contract_id": "CTR-1",
        "account_id": "ACC-1",
        "start_date": 20332,  # days: 2025-09-01
        "renewal_date": 20697,
        "arr": 1200.0,
        "status": "active",
        "cancelled_at": None,
    }
    event = {
        "event_id": "EVT-1",
        "account_id": "ACC-1",
        "user_id": "CON-1",
        "event_name": "session",
        "ts": "2025-09-01T10:00:00.250000Z",
        "properties": json.dumps({"duration_seconds": 42}),
    }
    postgres = {"connector": "postgresql", "ts_ms": 1756713600123, "sequence": '["100","140"]', "lsn": 140}
    events = [
        {
            "schema": {},
            "payload": {
                "before": None,
                "after": account,
                "op": "r",
                "source": {**postgres, "table": "accounts"},
            },
        },
        {
            "before": None,
            "after": contract,
            "op": "r",
            "source": {
                "connector": "postgresql",
                "ts_ms": 1756713600123,
                "sequence": '["100","150"]',
                "table": "contracts",
            },
        },
        {
            "before": None,
            "after": event,
            "op": "c",
            "ts_ms": 1756720800250,
            "source": {"connector": "mysql", "file": "mysql-bin.000002", "pos": 777, "table": "events"},
        },
    ]
    _lines(tmp_path / "pg", "dump.jsonl", events)

    report = load_path(warehouse, tmp_path / "pg", now=NOW)

    assert report.rows_quarantined == 0, report.summary_lines()
    rows = warehouse.execute(
        f"select seq, key, after from {change_table('crm')} union all "
        f"select seq, key, after from {change_table('product')} order by key"
    ).fetchall()
    by_key = {key: (seq, json.loads(after)) for seq, key, after in rows}
    assert by_key["ACC-1"] == (140, {**account, "arr": 1200.0, "created_at": "2025-09-01T08:00:00"})
    assert by_key["CTR-1"][0] == 150
    assert (
        by_key["CTR-1"][1]["start_date"] == "2025-09-01"
        and by_key["CTR-1"][1]["renewal_date"] == "2026-09-01"
    )
    assert by_key["EVT-1"][0] == 2 * 10**12 + 777
    assert by_key["EVT-1"][1]["ts"] == "2025-09-01T10:00:00.250000"
    assert by_key["EVT-1"][1]["properties"] == {"duration_seconds": 42}
    (source_ts,) = warehouse.execute(f"select source_ts from {change_table('product')}").fetchone()
    assert source_ts == datetime(2025, 9, 1, 10, 0, 0, 250000)
