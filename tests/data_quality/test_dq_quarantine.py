"""The screen: bad change rows to quarantine with the expectation, column and value, the rest
through; a column missing from every row is schema drift and stops the run; fixed rows replay.
Fuzzed with hypothesis: whatever the JSON, the screen does not crash, and every row it lets
through casts to the contract types exactly as dbt staging casts them."""

import json
from datetime import datetime

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_quality.quarantine import SchemaDriftError, export_held, held_rows, replay, screen_pending
from healthwatch.batches import commit_batch, open_batch
from healthwatch.contract import SOURCE_TABLES, source_table
from healthwatch.warehouse import SOURCE_SYSTEMS, change_table, ensure_change_tables, quarantine_table

from tests_support import assert_admitted_rows_stage

AT = datetime(2026, 1, 5, 12, 0, 0)
NPS = {"response_id": "r1", "survey_id": "s1", "account_id": "a1", "contact_id": "c1", "score": 7,
       "comment": "fine", "responded_at": "2026-01-05T10:00:00"}  # fmt: skip


@pytest.fixture
def con():
    with duckdb.connect(":memory:") as connection:
        ensure_change_tables(connection)
        yield connection


def add(con, seq: int, after: dict | None, *, table="nps_responses", op="c", key=None, ts=AT) -> None:
    system = source_table(table).system if table in {t.name for t in SOURCE_TABLES} else "engagement"
    con.execute(
        f"insert into {change_table(system)} values (?, ?, ?, ?, null, ?, ?, ?)",
        [seq, table, op, key or (after or {}).get("response_id", f"k{seq}"),
         json.dumps(after) if after is not None else None, ts, AT],
    )  # fmt: skip


def test_bad_rows_are_quarantined_with_expectation_column_and_value(con) -> None:
    add(con, 1, NPS)
    add(con, 2, {**NPS, "response_id": "r2", "score": 11})
    add(con, 3, {**NPS, "response_id": "r3", "score": "ten"})
    add(con, 4, NPS, op="x")
    add(con, 5, {**NPS, "response_id": "r5"}, ts=datetime(2999, 1, 1))
    (outcome,) = [o for o in screen_pending(con) if o.table == "cdc.engagement_changes"]
    assert (outcome.rows_screened, outcome.rows_quarantined) == (5, 4)
    held = {(r.seq, r.expectation, r.column_name, r.value) for r in held_rows(con)}
    assert held == {
        (2, "expect_column_values_to_be_between", "score", "11"),
        (3, "expect_column_values_to_be_of_type:integer", "score", "ten"),
        (4, "expect_column_values_to_be_in_set", "op", "x"),
        (5, "expect_column_values_to_be_between", "source_ts", "2999-01-01 00:00:00"),
    }


def test_a_missing_column_is_quarantined_and_a_null_one_is_not(con) -> None:
    # The screen reads the JSON a second time only for null values, to tell these two apart.
    missing = {k: v for k, v in NPS.items() if k != "comment"}
    add(con, 1, {**NPS, "response_id": "r1", "comment": None})
    add(con, 2, {**missing, "response_id": "r2"})
    add(con, 3, {**missing, "response_id": "r3", "comment": None, "score": None})
    add(con, 4, {**missing, "response_id": "r4"}, op="d")  # a delete's image may lack columns
    screen_pending(con)
    held = {(r.seq, r.expectation, r.column_name) for r in held_rows(con)}
    assert held == {(2, "expect_column_to_exist", "comment")}


def test_a_retried_run_does_not_quarantine_twice(con) -> None:
    add(con, 1, NPS)
    add(con, 2, {**NPS, "response_id": "r2", "score": -1})
    for _ in range(3):  # the run failed after the screen and is retried
        screen_pending(con)
    assert len(held_rows(con)) == 1


def test_a_column_missing_from_every_row_is_schema_drift(con) -> None:
    renamed = {k: v for k, v in NPS.items() if k != "score"} | {"nps": 7}
    add(con, 1, renamed)
    add(con, 2, {**renamed, "response_id": "r2"})
    with pytest.raises(SchemaDriftError) as drift:
        screen_pending(con)
    message = str(drift.value)
    assert "cdc.engagement_changes" in message and "nps_responses" in message
    assert "'score'" in message and "nps" in message and "contract" in message
    assert held_rows(con) == []  # nothing quarantined: the whole batch waits for the fix


def test_a_column_retyped_in_every_row_is_schema_drift(con) -> None:
    add(con, 1, {**NPS, "score": "seven"})
    add(con, 2, {**NPS, "response_id": "r2", "score": "eight"})
    with pytest.raises(SchemaDriftError, match="no longer integer"):
        screen_pending(con)


def test_fixed_rows_replay_as_new_change_rows(con, tmp_path) -> None:
    add(con, 1, NPS)
    add(con, 2, {**NPS, "response_id": "r2", "score": 11})
    screen_pending(con)
    commit_batch(con, open_batch(con))
    out = tmp_path / "held.jsonl"
    assert export_held(con, out) == 1
    (line,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert "expect_column_values_to_be_between on score (value 11)" in line["reason"]
    line["after"]["score"] = 9
    outcome = replay(con, [line])
    assert (outcome.readmitted, outcome.refused) == (1, [])
    assert replay(con, [line]).refused  # a row is replayed once
    (seq, after) = con.execute(
        "select seq, after from cdc.engagement_changes order by seq desc limit 1"
    ).fetchone()
    assert seq == 3 and json.loads(after)["score"] == 9
    (outcome,) = [o for o in screen_pending(con) if o.table == "cdc.engagement_changes"]
    assert (outcome.rows_screened, outcome.rows_quarantined) == (1, 0)
    assert held_rows(con) == [] and len(held_rows(con, include_replayed=True)) == 1


def test_a_replay_is_refused_when_the_key_changed_since(con) -> None:
    add(con, 1, {**NPS, "score": 11})
    add(con, 2, NPS)  # a later, good image of the same key
    screen_pending(con)
    out_rows = con.execute(
        f"select seq, cast(ingested_at as varchar) from {quarantine_table('engagement')}"
    ).fetchall()
    (seq, ingested_at) = out_rows[0]
    line = {"change_table": "cdc.engagement_changes", "seq": seq, "ingested_at": ingested_at,
            "source_table": "nps_responses", "op": "c", "key": "r1", "after": {**NPS, "score": 9},
            "source_ts": str(AT)}  # fmt: skip
    outcome = replay(con, [line])
    assert outcome.readmitted == 0 and "changed since (seq 2)" in outcome.refused[0]


# ---- fuzzing -------------------------------------------------------------------------------


def _value() -> st.SearchStrategy:
    return st.one_of(
        st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False), st.text(max_size=40),
        st.text(min_size=5000, max_size=20000, alphabet="aé😀\x00'\"\\"),
        st.dates(min_value=datetime(1, 1, 1).date()).map(str),
        st.datetimes(min_value=datetime(1, 1, 1)).map(lambda d: d.isoformat()),
        st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    )  # fmt: skip


@st.composite
def change_rows(draw) -> list[tuple]:
    """A batch of change rows: one well-formed row per contract table (so a broken column is a bad
    row, not drift) and fuzzed ones."""
    rows = []
    for table in SOURCE_TABLES:
        good = {c: ("7" if kind in ("integer", "double") else "true" if kind == "boolean"
                    else "2026-01-01" if kind in ("date", "timestamp") else {} if kind == "json" else "x")
                for c, kind in table.columns.items()}  # fmt: skip
        rows.append((table.system, table.name, "c", "good", good, AT))
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        table = draw(st.sampled_from(SOURCE_TABLES))
        columns = draw(
            st.lists(st.sampled_from([*table.columns, "extra", ""]), max_size=len(table.columns) + 2)
        )
        after = {c: draw(_value()) for c in columns}
        after = draw(
            st.one_of(st.just(after), st.lists(st.integers(), max_size=2), st.text(max_size=5), st.none())
        )
        name = draw(st.one_of(st.just(table.name), st.text(max_size=8)))
        op = draw(st.sampled_from(["c", "u", "d", "r", "x", ""]))
        ts = draw(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2300, 1, 1)))
        rows.append((table.system, name, op, draw(st.text(min_size=1, max_size=20)), after, ts))
    return rows


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(batch=change_rows())
def test_fuzzed_change_rows_never_crash_the_screen_and_what_passes_stages(batch) -> None:
    with duckdb.connect(":memory:") as con:
        ensure_change_tables(con)
        for seq, (system, name, op, key, after, ts) in enumerate(batch, start=1):
            con.execute(
                f"insert into {change_table(system)} values (?, ?, ?, ?, null, ?, ?, ?)",
                [seq, name, op, key, json.dumps(after) if after is not None else None, ts, AT],
            )
        outcomes = screen_pending(con)
        assert sum(o.rows_screened for o in outcomes) == len(batch)
        for system in SOURCE_SYSTEMS:
            held = con.execute(
                f"select count(*) filter (where reason = '') from {quarantine_table(system)}"
            ).fetchone()
            assert held[0] == 0  # every quarantined row says why
        assert_admitted_rows_stage(con)
