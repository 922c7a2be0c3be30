"""The change-envelope suite catches malformed CDC rows, and checks move on only past rows that pass."""

from datetime import datetime

import duckdb
import pandas as pd
import pytest

from data_quality.change_tables import validate_frame, validate_pending_changes
from healthwatch.batches import commit_batch, open_batch
from healthwatch.warehouse import ensure_change_tables

AT = datetime(2026, 1, 5, 12, 0, 0)


def rows(*overrides: dict) -> pd.DataFrame:
    base = {"seq": 1, "source_table": "accounts", "op": "c", "key": "a1", "before": None,
            "after": '{"account_id": "a1"}', "source_ts": AT, "ingested_at": AT}  # fmt: skip
    return pd.DataFrame([{**base, "seq": i + 1, **o} for i, o in enumerate(overrides)])


def failed(frame: pd.DataFrame) -> set[tuple[str, str | None]]:
    return {(f.expectation, f.column) for f in validate_frame("crm", frame)}


def test_well_formed_rows_pass() -> None:
    assert failed(rows({}, {"op": "u", "key": "a1"}, {"op": "d", "after": None})) == set()


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"op": "x"}, ("expect_column_values_to_be_in_set", "op")),
        ({"source_table": "tickets"}, ("expect_column_values_to_be_in_set", "source_table")),
        ({"key": None}, ("expect_column_values_to_not_be_null", "key")),
        ({"seq": None}, ("expect_column_values_to_not_be_null", "seq")),
    ],
)
def test_malformed_rows_are_named(override: dict, expected: tuple[str, str]) -> None:
    frame = rows({}, override)
    assert expected in failed(frame)


def test_a_missing_column_fails_the_schema_expectation() -> None:
    frame = rows({}).drop(columns=["ingested_at"])
    assert ("expect_table_columns_to_match_set", None) in failed(frame)


def test_duplicates_pass_and_only_pending_rows_are_checked(tmp_path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        ensure_change_tables(con)
        for seq in (1, 1, 2):  # at-least-once: seq 1 delivered twice is legal
            con.execute(
                "insert into cdc.crm_changes values (?, 'accounts', 'c', 'a1', null, '{}', ?, ?)",
                [seq, AT, AT],
            )
        first = {o.table: o for o in validate_pending_changes(con)}["cdc.crm_changes"]
        assert first.passed and first.rows_checked == 3
        commit_batch(con, open_batch(con))

        con.execute(
            "insert into cdc.crm_changes values (3, 'accounts', 'zz', 'a1', null, '{}', ?, ?)", [AT, AT]
        )
        for _ in range(2):  # a failing row stays pending: checked again, never skipped
            outcome = {o.table: o for o in validate_pending_changes(con)}["cdc.crm_changes"]
            assert not outcome.passed
            assert (outcome.first_seq, outcome.last_seq, outcome.rows_checked) == (3, 3, 1)
            assert outcome.failures[0].examples == ["zz"]
