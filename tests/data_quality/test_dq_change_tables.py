"""The change tables' table-level checks: the envelope's shape blocks, volume and freshness warn."""

from datetime import datetime, timedelta

import duckdb
import pandas as pd

from data_quality.change_tables import validate_feeds, validate_frame, validate_pending_changes
from healthwatch.batches import commit_batch, open_batch
from healthwatch.warehouse import ensure_change_tables

AT = datetime(2026, 1, 5, 12, 0, 0)


def rows(*overrides: dict) -> pd.DataFrame:
    base = {"seq": 1, "source_table": "accounts", "op": "c", "key": "a1", "before": None,
            "after": '{"account_id": "a1"}', "source_ts": AT, "ingested_at": AT}  # fmt: skip
    return pd.DataFrame([{**base, "seq": i + 1, **o} for i, o in enumerate(overrides)])


def failed(frame: pd.DataFrame) -> set[tuple[str, str | None]]:
    return {(f.expectation, f.column) for f in validate_frame("crm", frame)}


def test_the_envelope_passes_rows_with_its_columns_whatever_their_values() -> None:
    # single bad values are the screen's business (quarantine), not a reason to block the run
    assert failed(rows({}, {"op": "x"}, {"op": "d", "after": None})) == set()


def test_a_missing_or_extra_envelope_column_fails_the_schema_expectation() -> None:
    assert ("expect_table_columns_to_match_set", None) in failed(rows({}).drop(columns=["ingested_at"]))
    assert ("expect_table_columns_to_match_set", None) in failed(rows({}).assign(extra=1))


def test_the_envelope_check_reports_the_pending_rows(tmp_path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        ensure_change_tables(con)
        for seq in (1, 1, 2):  # at-least-once: seq 1 delivered twice is legal
            con.execute(
                "insert into cdc.crm_changes values (?, 'accounts', 'c', 'a1', null, '{}', ?, ?)",
                [seq, AT, AT],
            )
        first = {o.table: o for o in validate_pending_changes(con)}["cdc.crm_changes"]
        assert first.passed and (first.first_seq, first.last_seq, first.rows_checked) == (1, 2, 3)
        commit_batch(con, open_batch(con))
        con.execute("alter table cdc.crm_changes add column extra varchar")
        drifted = {o.table: o for o in validate_pending_changes(con)}["cdc.crm_changes"]
        assert not drifted.passed and drifted.rows_checked == 0


def _daily_rows(con: duckdb.DuckDBPyConnection, counts: list[int], start_seq: int = 1) -> int:
    seq = start_seq
    for day, count in enumerate(counts):
        at = AT + timedelta(days=day)
        if not count:
            continue
        con.executemany(
            "insert into cdc.product_changes values (?, 'events', 'c', ?, null, '{}', ?, ?)",
            [(seq + i, f"e{seq + i}", at, at) for i in range(count)],
        )
        seq += count
    return seq


def test_a_flood_of_rows_warns_and_a_usual_day_does_not(tmp_path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        ensure_change_tables(con)
        seq = _daily_rows(con, [10] * 28)
        commit_batch(con, open_batch(con))
        seq = _daily_rows(con, [0] * 28 + [11, 1], start_seq=seq)  # a usual day, then today's first row
        usual = {o.table: o for o in validate_feeds(con)}["cdc.product_changes"]
        assert usual.passed and [d["rows"] for d in usual.days] == [11]
        commit_batch(con, open_batch(con))
        _daily_rows(con, [0] * 30 + [150, 1], start_seq=seq)  # a day with 15x the rows
        flood = {o.table: o for o in validate_feeds(con)}["cdc.product_changes"]
        assert not flood.passed
        assert flood.failures[0].column == "ratio_to_median" and flood.days[-1]["rows"] == 150


def test_a_feed_far_behind_the_data_clock_warns(tmp_path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        ensure_change_tables(con)
        con.execute(
            "insert into cdc.crm_changes values (1, 'accounts', 'c', 'a1', null, '{}', ?, ?)", [AT, AT]
        )
        later = AT + timedelta(days=4)
        con.execute(
            "insert into cdc.product_changes values (1, 'events', 'c', 'e1', null, '{}', ?, ?)",
            [later, later],
        )
        feeds = {o.table: o for o in validate_feeds(con)}
        assert feeds["cdc.product_changes"].passed
        assert not feeds["cdc.crm_changes"].passed and feeds["cdc.crm_changes"].hours_behind_clock == 96
