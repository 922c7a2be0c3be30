"""A run's batch as seq ranges: gaps and repeated seqs, on a full refresh and after processed ranges."""

import duckdb
import pytest

from healthwatch.batches import commit_batch, pending_batch, pending_ranges
from healthwatch.warehouse import ensure_change_tables

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
