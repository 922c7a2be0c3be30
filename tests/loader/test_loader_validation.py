"""Every row checked: broken rows land in quarantine with a reason naming the column and the rule,
every good row is loaded, and schema drift or an unknown file stops the load with nothing written."""

import csv
import json
from datetime import datetime
from pathlib import Path

import pytest

from healthwatch.errors import HealthwatchError
from healthwatch.loader import load_path
from healthwatch.warehouse import change_table

NOW = datetime(2026, 1, 15, 12, 0, 0)
T0 = "2025-09-02 09:00:00"

# One file per kind of break; the broken row is the last data row of each (line 1 = header).
GOOD_AND_BAD: dict[str, tuple[list[str], list[list[str]], list[str], str]] = {
    "accounts": (
        ["account_id", "name", "segment", "arr", "plan", "seats_purchased", "csm_id", "created_at"],
        [
            ["ACC-1", "Acme", "enterprise", "120000", "enterprise", "50", "TM-1", "2024-01-05 10:00:00"],
            ["ACC-2", "Beta", "smb", "9000.5", "starter", "5", "TM-1", "2024-03-01T09:30:00Z"],
        ],
        ["ACC-3", "Gamma", "huge", "1000", "starter", "3", "TM-1", "2024-03-01"],
        "segment 'huge' is not one of enterprise, mid_market, smb",
    ),
    "contracts": (
        ["contract_id", "account_id", "start_date", "renewal_date", "arr", "status", "cancelled_at"],
        [
            ["CTR-1", "ACC-1", "2025-01-01", "2026-01-01", "120000", "active", ""],
            ["CTR-2", "ACC-2", "2025-02-01", "2026-02-01", "9000.5", "active", ""],
        ],
        ["CTR-9", "ACC-99", "2025-02-01", "2026-02-01", "100", "active", ""],
        "account_id ACC-99 is not a known account",
    ),
    "invoices": (
        ["invoice_id", "account_id", "due_date", "amount", "status", "event_at"],
        [
            ["INV-1", "ACC-1", "2025-09-02", "10000", "paid", "2025-09-06 09:00:00"],
            ["INV-1", "ACC-1", "2025-09-02", "10000", "failed", T0],  # the failure came first
        ],
        ["INV-2", "ACC-2", "2025-09-02", "-12.5", "paid", T0],
        "amount -12.5 is negative (must be ≥ 0)",
    ),
    "nps_responses": (
        ["response_id", "survey_id", "account_id", "contact_id", "score", "comment", "responded_at"],
        [["NPS-1", "SRV-1", "ACC-1", "CON-1", "9", "great", "2025-09-03 10:00:00"]],
        ["NPS-2", "SRV-1", "ACC-1", "CON-1", "11", "", "2025-09-03 11:00:00"],
        "score 11 outside 0–10",
    ),
    "events": (
        ["event_id", "account_id", "user_id", "event_name", "ts", "properties"],
        [
            ["EVT-1", "ACC-1", "CON-1", "login", "2025-09-02 08:00:00", "{}"],
            ["EVT-2", "ACC-2", "CON-2", "session", "2025-09-02 08:30:00", '{"duration_seconds": 30}'],
        ],
        ["EVT-3", "ACC-1", "CON-1", "feature_used", "2025-09-02 09:00:00", "{not json"],
        "properties '{not json' is not a JSON object",
    ),
    "survey_sends": (
        ["survey_id", "account_id", "contact_id", "sent_at"],
        [["SRV-1", "ACC-1", "CON-1", "2025-09-02 12:00:00"]],
        ["", "ACC-1", "CON-1", "2025-09-02 12:00:00"],
        "survey_id is missing (the key of survey_sends)",
    ),
    "tickets": (
        [
            "ticket_id",
            "account_id",
            "contact_id",
            "created_at",
            "closed_at",
            "priority",
            "is_escalated",
            "subject",
            "body",
            "csat",
        ],
        [
            [
                "TCK-1",
                "ACC-1",
                "CON-1",
                "2025-09-02T10:00:00+02:00",
                "",
                "high",
                "true",
                "Help",
                "Line 1\nLine 2",
                "",
            ]
        ],
        ["TCK-2", "ACC-1", "CON-1", "yesterday", "", "low", "false", "Hi", "text", ""],
        "created_at 'yesterday' is not a timestamp",
    ),
}


def _write(folder: Path, name: str, header: list[str], rows: list[list[str]]) -> None:
    with (folder / f"{name}.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture
def broken_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "broken"
    folder.mkdir()
    for name, (header, good, bad, _) in GOOD_AND_BAD.items():
        _write(folder, name, header, [*good, bad])
    _write(
        folder,
        "team",
        ["member_id", "name", "email", "role", "manager_id", "timezone"],
        [
            ["TM-1", "Ann", "ann@example.com", "csm", "", "Europe/Berlin"],
        ],
    )
    # A line that is not CSV of the header's shape (too many fields) is quarantined too, and the
    # rows after it keep their own line numbers.
    (folder / "crm_events.csv").write_text(
        "crm_event_id,account_id,kind,event_at\n"
        "CE-1,ACC-2,procurement_freeze,2025-09-04 10:00:00\n"
        "CE-2,ACC-2,procurement_freeze,2025-09-04 10:00:00,surplus,fields\n"
        "CE-3,ACC-2,oops,2025-09-04 11:00:00\n"
        "CE-4,ACC-2,cancellation_request,2025-09-04 12:00:00\n"
    )
    return folder


def test_broken_rows_are_quarantined_and_good_rows_loaded(broken_folder: Path, warehouse) -> None:
    report = load_path(warehouse, broken_folder, now=NOW)

    for name, (_, good, _, reason) in GOOD_AND_BAD.items():
        table = report.tables[name]
        assert (table.rows_read, table.rows_loaded, table.rows_quarantined) == (
            len(good) + 1,
            len(good),
            1,
        ), name
        rows = warehouse.execute(
            f"select quarantined_at, source_file, line_number, reason, row_json from quarantine.{name}"
        ).fetchall()
        assert len(rows) == 1, name
        quarantined_at, source_file, line_number, stored_reason, row_json = rows[0]
        assert stored_reason == reason
        assert quarantined_at == NOW
        assert source_file.endswith(f"{name}.csv")
        assert line_number == len(good) + 2  # header is line 1
        original = json.loads(row_json)
        assert (original[GOOD_AND_BAD[name][0][0]] or "") == GOOD_AND_BAD[name][2][0]  # empty = null in CSV
        (changes,) = warehouse.execute(
            f"select count(*) from {change_table(_system(name))} where source_table = ?", [name]
        ).fetchone()
        assert changes == len(good), name
    crm_events = report.tables["crm_events"]
    assert (crm_events.rows_read, crm_events.rows_loaded, crm_events.rows_quarantined) == (4, 2, 2)
    (unreadable, oops) = warehouse.execute(
        "select line_number, reason, row_json from quarantine.crm_events order by line_number"
    ).fetchall()
    assert unreadable[0] == 3 and unreadable[1].startswith("the line could not be read as CSV")
    assert json.loads(unreadable[2]) == {
        "csv_line": "CE-2,ACC-2,procurement_freeze,2025-09-04 10:00:00,surplus,fields"
    }
    assert oops[:2] == (
        4,
        "kind 'oops' is not one of procurement_freeze, budget_owner_change, cancellation_request",
    )
    # clean + quarantined = input, for every table and in total
    assert all(t.rows_read == t.rows_loaded + t.rows_quarantined for t in report.tables.values())
    written = sum(len(good) + 1 for _, good, _, _ in GOOD_AND_BAD.values()) + 1 + 4  # + team + crm_events
    assert report.rows_read == written
    assert report.rows_quarantined == len(GOOD_AND_BAD) + 2
    assert "segment is not one of enterprise, mid_market, smb" in dict(report.tables["accounts"].top_reasons)
    assert any("quarantined" in line for line in report.summary_lines())


def test_values_are_normalized_to_the_contract(broken_folder: Path, warehouse) -> None:
    load_path(warehouse, broken_folder, now=NOW)
    ticket = json.loads(
        warehouse.execute(f"select after from {change_table('support')} where key = 'TCK-1'").fetchone()[0]
    )
    assert ticket["created_at"] == "2025-09-02T08:00:00"  # +02:00 converted to UTC
    assert ticket["is_escalated"] is True and ticket["csat"] is None and ticket["body"] == "Line 1\nLine 2"
    account = json.loads(
        warehouse.execute(f"select after from {change_table('crm')} where key = 'ACC-2'").fetchone()[0]
    )
    assert account == {
        "account_id": "ACC-2",
        "name": "Beta",
        "segment": "smb",
        "arr": 9000.5,
        "plan": "starter",
        "seats_purchased": 5,
        "csm_id": "TM-1",
        "created_at": "2024-03-01T09:30:00",
    }
    # The invoice's rows become versions in time order: failed ('c') then paid ('u', before = failed).
    versions = warehouse.execute(
        f"""select op, after ->> 'status', before ->> 'status', source_ts from {change_table("crm")}
        where key = 'INV-1' order by seq"""
    ).fetchall()
    assert versions == [
        ("c", "failed", None, datetime(2025, 9, 2, 9, 0)),
        ("u", "paid", "failed", datetime(2025, 9, 6, 9, 0)),
    ]
    # Dimensions are dated at the earliest fact of the load.
    (snapshot,) = warehouse.execute(
        f"select distinct source_ts from {change_table('crm')} where source_table in ('accounts', 'team')"
    ).fetchall()
    assert snapshot == (datetime(2025, 9, 2, 8, 0),)


def test_a_missing_contract_column_stops_the_load(
    broken_folder: Path, warehouse, change_counts, tmp_path: Path
) -> None:
    load_path(warehouse, broken_folder, now=NOW)
    before = change_counts(warehouse)
    drifted = tmp_path / "drifted"
    drifted.mkdir()
    header, good, _, _ = GOOD_AND_BAD["accounts"]
    at = header.index("segment")
    _write(drifted, "accounts", [c for c in header if c != "segment"], [r[:at] + r[at + 1 :] for r in good])
    _write(drifted, "survey_sends", *GOOD_AND_BAD["survey_sends"][:2])

    with pytest.raises(HealthwatchError) as caught:
        load_path(warehouse, drifted, now=NOW)

    message = str(caught.value)
    assert "accounts.csv" in message and "segment" in message and "contract" in message
    assert change_counts(warehouse) == before
    (quarantined,) = warehouse.execute("select count(*) from quarantine.survey_sends").fetchone()
    assert quarantined == 1  # only the first load's row


def test_a_missing_column_on_an_empty_warehouse_writes_nothing(
    tmp_path: Path, warehouse, change_counts
) -> None:
    folder = tmp_path / "drifted"
    folder.mkdir()
    _write(
        folder,
        "team",
        ["member_id", "name", "email", "role", "timezone"],
        [["TM-1", "Ann", "a@b.c", "csm", "UTC"]],
    )
    with pytest.raises(HealthwatchError, match=r"team\.csv.*manager_id"):
        load_path(warehouse, folder, now=NOW)
    assert change_counts(warehouse) == {"crm": -1, "support": -1, "product": -1, "engagement": -1}


def test_a_failure_mid_load_leaves_the_warehouse_unchanged(
    broken_folder: Path, warehouse, change_counts, monkeypatch
) -> None:
    load_path(warehouse, broken_folder, now=NOW)
    before = change_counts(warehouse)
    from healthwatch.loader import load as load_module

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(load_module.quarantine, "write", crash)  # after the change rows are inserted
    with pytest.raises(RuntimeError):
        load_path(warehouse, broken_folder, now=NOW)
    assert change_counts(warehouse) == before


def test_extra_columns_are_ignored_with_a_note(tmp_path: Path, warehouse) -> None:
    folder = tmp_path / "extra"
    folder.mkdir()
    _write(
        folder,
        "team",
        ["member_id", "name", "email", "role", "manager_id", "timezone", "favourite_colour"],
        [["TM-1", "Ann", "ann@example.com", "csm", "", "UTC", "blue"]],
    )
    report = load_path(warehouse, folder, now=NOW)
    assert report.tables["team"].rows_loaded == 1
    assert any("favourite_colour" in note for note in report.notes)
    (after,) = warehouse.execute(f"select after from {change_table('crm')}").fetchone()
    assert "favourite_colour" not in json.loads(after)
    # No facts in the load: the snapshot is dated now.
    assert warehouse.execute(f"select source_ts from {change_table('crm')}").fetchone() == (NOW,)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("customers.csv", "rename it to one of accounts.csv"), ("notes.txt", "not a .csv, .parquet")],
)
def test_an_unknown_file_stops_the_load(tmp_path: Path, warehouse, change_counts, name, expected) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    _write(
        folder,
        "team",
        ["member_id", "name", "email", "role", "manager_id", "timezone"],
        [["TM-1", "A", "a@b.c", "csm", "", "UTC"]],
    )
    (folder / name).write_text("a,b\n1,2\n")
    with pytest.raises(HealthwatchError) as caught:
        load_path(warehouse, folder, now=NOW)
    assert name in str(caught.value) and expected in str(caught.value)
    assert "nps_responses" in str(caught.value)  # the known names are listed
    assert change_counts(warehouse)["crm"] == -1


def test_a_missing_path_names_the_fix(tmp_path: Path, warehouse) -> None:
    with pytest.raises(HealthwatchError) as caught:
        load_path(warehouse, tmp_path / "nowhere", now=NOW)
    assert "does not exist" in caught.value.message
    assert caught.value.fix and "accounts.csv" in caught.value.fix


def _system(name: str) -> str:
    from healthwatch.contract import source_table

    return source_table(name).system


def test_parquet_types_are_read_as_their_values(tmp_path: Path, warehouse) -> None:
    """A pandas-style extract: floats for integers, zone-aware timestamps, nested properties."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "parquet"
    folder.mkdir()
    berlin = pa.timestamp("us", tz="Europe/Berlin")
    pq.write_table(
        pa.table(
            {
                "account_id": ["ACC-1"],
                "name": ["Acme"],
                "segment": ["mid_market"],
                "arr": [50000.0],
                "plan": ["growth"],
                "seats_purchased": pa.array([12.0]),
                "csm_id": [None],
                "created_at": pa.array([datetime(2024, 5, 1, 12, 0)], pa.timestamp("us")),
            }
        ),
        folder / "accounts.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "event_id": ["EVT-1", "EVT-2"],
                "account_id": ["ACC-1", "ACC-1"],
                "user_id": ["CON-1", "CON-1"],
                "event_name": ["session", "session"],
                "ts": pa.array([1756720800000000, 1756720900000000], pa.int64()).cast(berlin),
                "properties": [{"duration_seconds": 30}, {"duration_seconds": -5}],
            }
        ),
        folder / "events.parquet",
    )

    report = load_path(warehouse, folder, now=NOW)

    assert report.tables["events"].rows_quarantined == 1
    (reason, line) = warehouse.execute("select reason, line_number from quarantine.events").fetchone()
    assert (reason, line) == ("properties.duration_seconds -5 is negative (must be ≥ 0)", 2)
    account = json.loads(warehouse.execute(f"select after from {change_table('crm')}").fetchone()[0])
    assert account["seats_purchased"] == 12 and account["created_at"] == "2024-05-01T12:00:00"
    event = json.loads(warehouse.execute(f"select after from {change_table('product')}").fetchone()[0])
    assert event["ts"] == "2025-09-01T10:00:00" and event["properties"] == {"duration_seconds": 30}
