"""Export a simulated warehouse, load it into an empty one: the same change log (Debezium) or the
same current state of every contract table (CSV, Parquet), invoice history included."""

import json
import shutil
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from healthwatch.contract import SOURCE_TABLES
from healthwatch.loader import export_extracts, load_path
from healthwatch.warehouse import SOURCE_SYSTEMS, change_table

START = date(2025, 9, 1)  # the source warehouse's first day (conftest)
NOW = datetime(2026, 1, 15, 12, 0, 0)


def _changes(con, system: str) -> list[tuple]:
    """The change log with before / after parsed (values compared, not JSON formatting)."""
    rows = con.execute(
        f"select seq, source_table, op, key, before, after, source_ts from {change_table(system)} order by seq"
    ).fetchall()
    return [
        (seq, table, op, key, before and json.loads(before), after and json.loads(after), ts)
        for seq, table, op, key, before, after, ts in rows
    ]


def test_debezium_round_trip_reproduces_the_change_tables(
    exports, source_con, warehouse, current_state
) -> None:
    calls = []
    report = load_path(warehouse, exports["debezium"], now=NOW, progress=lambda *a: calls.append(a))

    for system in SOURCE_SYSTEMS:
        assert _changes(warehouse, system) == _changes(source_con, system), system
    for table in SOURCE_TABLES:
        assert current_state(warehouse, table.name) == current_state(source_con, table.name), table.name
    assert report.rows_quarantined == 0
    assert report.rows_read == report.rows_loaded == report.change_rows_written
    assert {f.format for f in report.files} == {"debezium"}
    ingested = warehouse.execute(
        f"select distinct ingested_at from {change_table('product')} union select distinct ingested_at "
        f"from {change_table('crm')}"
    ).fetchall()
    assert ingested == [(NOW,)]
    assert calls[-1][1] == calls[-1][2]  # progress ends at its total


def test_debezium_export_is_the_envelope(exports, source_con) -> None:
    lines = (exports["debezium"] / "crm_changes.jsonl").read_text().splitlines()
    (count,) = source_con.execute(f"select count(*) from {change_table('crm')}").fetchone()
    assert len(lines) == count
    event = json.loads(lines[0])
    assert set(event) >= {"before", "after", "op", "ts_ms", "source"}
    assert event["source"]["sequence"] == 1
    assert event["source"]["table"] in {t.name for t in SOURCE_TABLES if t.system == "crm"}
    first = source_con.execute(
        f"select epoch_ms(source_ts) from {change_table('crm')} where seq = 1"
    ).fetchone()
    assert event["ts_ms"] == first[0]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_file_round_trip_reproduces_the_current_state(
    fmt, exports, source_con, warehouse, current_state
) -> None:
    report = load_path(warehouse, exports[fmt], now=NOW)

    for table in SOURCE_TABLES:
        assert current_state(warehouse, table.name) == current_state(source_con, table.name), table.name
    assert report.rows_quarantined == 0
    assert report.rows_read == report.rows_loaded
    # Payment-failure history survives a current-state extract: failed versions come back.
    failed = (
        f"select count(distinct key) from {change_table('crm')} "
        "where source_table = 'invoices' and after ->> 'status' = 'failed'"
    )
    assert warehouse.execute(failed).fetchone() == source_con.execute(failed).fetchone()
    assert warehouse.execute(failed).fetchone()[0] > 0
    retried = (
        f"select count(*) from {change_table('crm')} where source_table = 'invoices' and op = 'u' "
        "and before ->> 'status' = 'failed'"
    )
    assert warehouse.execute(retried).fetchone()[0] > 0
    # The data clock and the start of history come from the facts, as with the simulator.
    span = " union all ".join(f"select source_ts from {change_table(s)}" for s in SOURCE_SYSTEMS)
    dates = f"select cast(min(source_ts) as date), cast(max(source_ts) as date) from ({span})"
    assert warehouse.execute(dates).fetchone() == source_con.execute(dates).fetchone()
    assert warehouse.execute(dates).fetchone()[0] == START
    # Dimensions are snapshots at the start of the data; facts keep their own time.
    ops = dict(
        warehouse.execute(
            f"select source_table, string_agg(distinct op, '' order by op) from {change_table('crm')} group by all"
        ).fetchall()
    )
    assert ops["accounts"] == ops["contacts"] == ops["team"] == "r"
    assert ops["invoices"] == "cu"


def test_export_invoices_every_version_and_others_current(exports, source_con) -> None:
    con = duckdb.connect()
    invoices = con.execute(
        f"select count(*), count(distinct invoice_id) from read_csv('{exports['csv'] / 'invoices.csv'}')"
    ).fetchone()
    versions = source_con.execute(
        f"select count(*), count(distinct key) from {change_table('crm')} where source_table = 'invoices'"
    ).fetchone()
    assert invoices == versions
    contracts = con.execute(f"select count(*) from read_csv('{exports['csv'] / 'contracts.csv'}')").fetchone()
    current = source_con.execute(
        f"select count(distinct key) from {change_table('crm')} where source_table = 'contracts'"
    ).fetchone()
    assert contracts == current


def test_reloading_a_folder_keeps_the_current_state(
    exports, source_con, warehouse, current_state, change_counts, tmp_path: Path
) -> None:
    folder = tmp_path / "extracts"
    shutil.copytree(exports["csv"], folder)
    first = load_path(warehouse, folder, now=NOW)
    after_first = {t.name: current_state(warehouse, t.name) for t in SOURCE_TABLES}
    (max_seq,) = warehouse.execute(f"select max(seq) from {change_table('product')}").fetchone()

    second = load_path(warehouse, folder, now=NOW)

    assert second.change_rows == first.change_rows
    (next_seq,) = warehouse.execute(
        f"select min(seq) from {change_table('product')} where seq > ?", [max_seq]
    ).fetchone()
    assert next_seq == max_seq + 1  # new seqs continue the table
    for table in SOURCE_TABLES:
        state = current_state(warehouse, table.name)
        assert state == after_first[table.name] == current_state(source_con, table.name), table.name


def test_export_of_a_loaded_warehouse_round_trips_again(exports, warehouse, current_state, tmp_path) -> None:
    load_path(warehouse, exports["parquet"], now=NOW)
    again = tmp_path / "again"
    written = export_extracts(warehouse, again, fmt="csv")
    assert written["events.csv"] > 0
    with duckdb.connect(str(tmp_path / "third.duckdb")) as third:
        load_path(third, again, now=NOW)
        for table in SOURCE_TABLES:
            assert current_state(third, table.name) == current_state(warehouse, table.name), table.name
