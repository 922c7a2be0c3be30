"""The change-envelope suite catches malformed CDC rows, and checks move on only past rows that pass."""

from datetime import datetime

import duckdb
import pandas as pd
import pytest

from data_quality.change_tables import MARKS_TABLE, validate_frame, validate_new_changes
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
        ({"seq": 1}, ("expect_column_values_to_be_unique", "seq")),
    ],
)
def test_malformed_rows_are_named(override: dict, expected: tuple[str, str]) -> None:
    frame = rows({}, override)
    assert expected in failed(frame)


def test_a_missing_column_fails_the_schema_expectation() -> None:
    frame = rows({}).drop(columns=["ingested_at"])
    assert ("expect_table_columns_to_match_set", None) in failed(frame)


def test_marks_advance_only_past_rows_that_pass(tmp_path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        ensure_change_tables(con)
        con.execute(
            "insert into cdc.crm_changes values (1, 'accounts', 'c', 'a1', null, '{}', ?, ?)", [AT, AT]
        )
        first = {o.table: o for o in validate_new_changes(con)}
        assert first["cdc.crm_changes"].passed and first["cdc.crm_changes"].rows_checked == 1

        con.execute(
            "insert into cdc.crm_changes values (2, 'accounts', 'zz', 'a1', null, '{}', ?, ?)", [AT, AT]
        )
        for _ in range(2):  # a failing range is checked again, never skipped
            outcome = {o.table: o for o in validate_new_changes(con)}["cdc.crm_changes"]
            assert not outcome.passed
            assert (outcome.first_seq, outcome.last_seq) == (2, 2)
            assert outcome.failures[0].examples == ["zz"]
        (mark,) = con.execute(
            f"select last_seq from {MARKS_TABLE} where change_table = 'cdc.crm_changes'"
        ).fetchall()[0]
        assert mark == 1
