"""Fuzzing `healthwatch load` with hypothesis: Debezium lines with arbitrary JSON in before/after,
wrong types, huge strings, unicode, nulls, future and ancient times, broken lines. The load never
crashes: either it refuses the file as schema drift (an event lacking contract columns) and writes
nothing, or every line is loaded or quarantined with a reason, and what it loads then passes the
change-row screen and casts to the contract types exactly as dbt staging does."""

import gzip
import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_quality.quarantine import screen_pending
from healthwatch.contract import SOURCE_TABLES
from healthwatch.errors import HealthwatchError
from healthwatch.loader import load_path
from healthwatch.warehouse import change_table, table_exists

from tests_support import assert_admitted_rows_stage

NOW = datetime(2026, 1, 15, 12, 0, 0)
ACCOUNT = {"account_id": "A1", "name": "Acme", "segment": "smb", "arr": 1200.0, "plan": "pro",
           "seats_purchased": 10, "csm_id": "M1", "created_at": "2025-01-01T00:00:00"}  # fmt: skip

values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=False),
    st.text(max_size=30), st.text(min_size=3000, max_size=12000, alphabet="zß😀\x00'\"\\\n"),
    st.just("A1"), st.just("2026-01-10"), st.just("2026-01-10T08:00:00"),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)  # fmt: skip


@st.composite
def event(draw) -> str:
    table = draw(st.sampled_from(SOURCE_TABLES))
    image = {c: draw(values) for c in draw(st.lists(st.sampled_from(list(table.columns)), unique=True))}
    if draw(st.booleans()):
        image[table.key] = draw(st.text(min_size=1, max_size=12))
        image.setdefault("account_id", "A1")
    change = {
        "before": draw(st.one_of(st.none(), st.just(image))),
        "after": draw(st.one_of(st.none(), st.just(image), values)),
        "op": draw(st.sampled_from(["c", "u", "d", "r", "x", None, 3])),
        "ts_ms": draw(
            st.one_of(st.none(), st.integers(min_value=-(10**14), max_value=10**14), st.text(max_size=5))
        ),
        "source": {"table": draw(st.one_of(st.just(table.name), st.text(max_size=8), st.none()))},
    }
    line = json.dumps(change)
    return draw(st.one_of(st.just(line), st.just(line[: len(line) // 2]), st.text(max_size=40)))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(lines=st.lists(event(), min_size=1, max_size=10))
def test_fuzzed_debezium_lines_are_loaded_or_quarantined_never_crash(lines, tmp_path_factory) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    warehouse = tmp_path_factory.mktemp("fuzz_warehouse") / "w.duckdb"
    account = {
        "before": None,
        "after": ACCOUNT,
        "op": "c",
        "ts_ms": 1767225600000,
        "source": {"table": "accounts"},
    }
    text = "\n".join([json.dumps(account), *lines]) + "\n"
    (folder / "changes.jsonl").write_text(text, encoding="utf-8")
    events = [line for line in text.split("\n") if line.strip()]  # blank lines are not events
    with duckdb.connect(str(warehouse)) as con:
        try:
            report = load_path(con, folder, now=NOW)
        except HealthwatchError as refused:
            # an event of a table carrying none of a contract column is schema drift: the load
            # stops naming the file, the line and the column, and writes nothing
            assert "contract" in str(refused) and "nothing was loaded" in str(refused)
            assert not table_exists(con, change_table("crm")) or con.execute(
                f"select count(*) from {change_table('crm')}"
            ).fetchone() == (0,)
            return
        assert report.rows_read == len(events) == report.rows_loaded + report.rows_quarantined
        for name in report.tables:
            (blank,) = con.execute(
                f"select count(*) from quarantine.{name} where coalesce(reason, '') = ''"
            ).fetchone()
            assert blank == 0  # every refused line says why

        screen_pending(con)  # what the load admits, the screen takes without crashing
        assert_admitted_rows_stage(con)


def test_lines_split_on_lf_only_and_unreadable_lines_keep_their_number(tmp_path) -> None:
    """A raw CR inside a line is data (it crashed DuckDB's CSV line reader), a CRLF ending is not,
    a line that is not UTF-8 or longer than 16 MiB is quarantined at its own number, and a gzip file reads the same."""
    account = json.dumps({"before": None, "after": ACCOUNT, "op": "c", "ts_ms": 1767225600000,
                          "source": {"table": "accounts"}})  # fmt: skip
    other = json.dumps({"before": None, "after": {**ACCOUNT, "account_id": "A2"}, "op": "c",
                        "ts_ms": 1767225600000, "source": {"table": "accounts"}})  # fmt: skip
    too_long = b'{"x": "' + b"a" * 2**24 + b'"}'
    data = b"\xef\xbb\xbf" + account.encode() + b"\r\n0\r0\n\xff\xfe not utf-8\n\n" + other.encode()
    data += b"\n" + too_long
    for name, write in (
        ("a.jsonl", Path.write_bytes),
        ("b.jsonl.gz", lambda f, d: f.write_bytes(gzip.compress(d))),
    ):
        folder = tmp_path / name
        folder.mkdir()
        write(folder / name, data)
        with duckdb.connect(str(tmp_path / f"{name}.duckdb")) as con:
            report = load_path(con, folder, now=NOW)
            assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (5, 2, 3)
            rows = con.execute(
                "select line_number, reason from quarantine.debezium_events order by 1"
            ).fetchall()
        assert [line for line, _ in rows] == [2, 3, 6]
        assert rows[0][1] == "the line is not valid JSON"
        assert rows[1][1].startswith("the line could not be read: not UTF-8")
        assert rows[2][1] == "the line could not be read: longer than 16,777,216 bytes"


def test_a_truncated_gzip_file_stops_the_load_naming_it(tmp_path) -> None:
    line = json.dumps({"before": None, "after": ACCOUNT, "op": "c", "ts_ms": 1767225600000,
                       "source": {"table": "accounts"}})  # fmt: skip
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "changes.jsonl.gz").write_bytes(gzip.compress((line + "\n").encode() * 50)[:-12])
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con, pytest.raises(HealthwatchError) as refused:
        load_path(con, folder, now=NOW)
    assert "changes.jsonl.gz" in str(refused.value) and "gzip" in str(refused.value)
