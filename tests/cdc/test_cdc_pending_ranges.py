"""A run's batch as seq ranges: gaps and repeated seqs, on a full refresh and after processed ranges;
and the data clock kept with the processed ranges."""

from datetime import datetime, timedelta

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthwatch.batches import commit_batch, data_clock, pending_batch, pending_ranges
from healthwatch.warehouse import ensure_change_tables, quarantine_table

TABLE = "cdc.product_changes"


def _with_seqs(tmp_path, seqs: list[int]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_change_tables(con)
    if not seqs:
        return con
    con.executemany(
        f"insert into {TABLE} (seq, source_table, op, key, source_ts, ingested_at) "
        "values (?, 'events', 'c', ?, timestamp '2026-01-05 10:00', timestamp '2026-01-05 10:01')",
        [(seq, f"e{seq}") for seq in seqs],
    )
    return con


@pytest.mark.parametrize(
    ("seqs", "ranges"),
    [
        ([3, 4, 5, 6], [(3, 6)]),
        ([3, 3, 4, 5, 5, 6], [(3, 6)]),  # repeated deliveries, no gap
        ([1, 1, 1, 2, 4], [(1, 2), (4, 4)]),  # as many rows as the span, yet a gap
        ([1, 2, 3, 5, 5, 6, 9], [(1, 3), (5, 6), (9, 9)]),
        ([7], [(7, 7)]),
        ([], []),
    ],
)
def test_a_full_refresh_takes_every_seq_present_as_ranges(tmp_path, seqs, ranges) -> None:
    with _with_seqs(tmp_path, seqs) as con:
        assert pending_ranges(con, TABLE, full_refresh=True) == ranges


def test_after_processed_ranges_only_the_rest_is_pending(tmp_path) -> None:
    with _with_seqs(tmp_path, [1, 2, 3, 4, 5, 6]) as con:
        commit_batch(con, pending_batch(con))
        assert pending_ranges(con, TABLE) == []
        # a new tail, and a late row in a gap below it
        con.executemany(
            f"insert into {TABLE} (seq, source_table, op, key, source_ts, ingested_at) "
            "values (?, 'events', 'c', 'late', timestamp '2026-01-05 10:00', timestamp '2026-01-05 10:02')",
            [(seq,) for seq in (9, 10, 10, 11, 8)],
        )
        assert pending_ranges(con, TABLE) == [(8, 11)]
        commit_batch(con, pending_batch(con))
        con.execute(
            f"insert into {TABLE} (seq, source_table, op, key, source_ts, ingested_at) "
            "values (7, 'events', 'c', 'later', timestamp '2026-01-05 10:00', timestamp '2026-01-05 10:03')"
        )
        assert pending_ranges(con, TABLE) == [(7, 7)]
        assert pending_ranges(con, TABLE, full_refresh=True) == [(1, 11)]


START = datetime(2026, 1, 5)
# One delivery: rows at these seqs (repeats, gaps and seqs below earlier ones all happen). A seq is
# one change, however often delivered: its time (hours before or after START, so that seq order
# and time order differ) and the screen's verdict on it are the same each time.
DELIVERY = st.lists(st.integers(1, 40), min_size=1, max_size=8)


def _deliver(con: duckdb.DuckDBPyConnection, seqs: list[int], step: int) -> None:
    for seq in seqs:
        ingested = START + timedelta(days=10, seconds=step * 100 + seq)
        con.execute(
            f"insert into {TABLE} (seq, source_table, op, key, source_ts, ingested_at) "
            "values (?, 'events', 'c', 'k', ?, ?)",
            [seq, START + timedelta(hours=seq * 37 % 97 - 48), ingested],
        )
        if seq % 7 == 3:  # refused by the screen
            con.execute(
                f"insert into {quarantine_table('product')} (quarantined_at, seq, ingested_at, expectation, "
                "reason, status) values (?, ?, ?, 'x', 'x', 'held')",
                [ingested, seq, ingested],
            )


def _scanned_clock(con: duckdb.DuckDBPyConnection) -> datetime | None:
    return con.execute(
        f"""select max(source_ts) from {TABLE} c where not exists (select 1 from {quarantine_table("product")} q
        where q.seq = c.seq and q.ingested_at = c.ingested_at)"""
    ).fetchone()[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deliveries=st.lists(st.tuples(DELIVERY, st.sampled_from(["run", "full refresh", "none"])), max_size=6))
def test_the_clock_kept_with_the_processed_rows_is_the_newest_time_of_every_row(tmp_path_factory, deliveries):
    """Whatever order rows arrive in, and whichever runs process them, the clock (which reads
    only the rows not processed yet) is what a scan of every row not quarantined gives."""
    with duckdb.connect(str(tmp_path_factory.mktemp("w") / "w.duckdb")) as con:
        ensure_change_tables(con)
        _deliver(con, [1], 0)
        for step, (seqs, run) in enumerate(deliveries, start=1):
            _deliver(con, seqs, step)
            if run != "none":
                commit_batch(con, pending_batch(con, full_refresh=run == "full refresh"))
            assert data_clock(con) == _scanned_clock(con)
            assert pending_batch(con).as_of_date == _scanned_clock(con).date()


def test_a_warehouse_processed_before_the_times_were_kept_gets_them_from_its_rows(tmp_path) -> None:
    with _with_seqs(tmp_path, [1, 2, 3]) as con:
        con.execute(f"update {TABLE} set source_ts = source_ts + interval (seq) day")
        commit_batch(con, pending_batch(con))
        con.execute("drop table ops.processed_times")  # as a warehouse of an older version has it
        ensure_change_tables(con)
        assert con.execute("select * from ops.processed_times").fetchall() == [
            (TABLE, datetime(2026, 1, 6, 10), datetime(2026, 1, 8, 10))
        ]
        assert data_clock(con) == datetime(2026, 1, 8, 10)
