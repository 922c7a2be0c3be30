"""Runs are written in committed chunks of whole days: what a failure leaves behind, and event sampling."""

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from healthwatch.errors import HealthwatchError
from healthwatch.simulator import engine, product, simulate, stream

from sim_helpers import CHANGE_TABLES, CORE_FEATURES, START, build, cdc_hashes, sim_hashes

KWARGS = {"seed": 3, "start_date": START, "core_features": CORE_FEATURES}


class Stop(Exception):
    """Raised on purpose part-way through a run."""


def stop_at(day: int):
    def progress(done: int, total: int) -> None:
        if done == day:
            raise Stop

    return progress


@pytest.fixture
def chunk_per_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """Write and commit every day as a chunk of its own."""
    monkeypatch.setattr(engine, "FLUSH_ROWS", 1)


def newest_days(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """The world's last day and the newest day of each thing written day by day."""
    union = " union all ".join(f"select max(source_ts) as ts from {t}" for t in CHANGE_TABLES)
    return {
        "world": con.execute("select last_day from sim.world").fetchall()[0][0],
        "changes": con.execute(f"select max(ts)::date from ({union})").fetchall()[0][0],
        "health": con.execute("select max(day) from sim.account_health_daily").fetchall()[0][0],
    }


def test_chunk_size_does_not_change_the_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build(tmp_path / "whole.duckdb", accounts=30, days=20, seed=3)
    monkeypatch.setattr(engine, "FLUSH_ROWS", 1)
    build(tmp_path / "daily.duckdb", accounts=30, days=20, seed=3)
    assert cdc_hashes(tmp_path / "daily.duckdb") == cdc_hashes(tmp_path / "whole.duckdb")
    assert sim_hashes(tmp_path / "daily.duckdb") == sim_hashes(tmp_path / "whole.duckdb")


def test_stream_refuses_a_world_whose_simulate_did_not_finish(tmp_path: Path, chunk_per_day: None) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    with pytest.raises(Stop):
        simulate(con, accounts=20, days=10, progress=stop_at(4), **KWARGS)
    # days 0-3 are committed, but the world is marked incomplete
    assert con.execute("select complete from sim.world").fetchall()[0][0] is False
    assert con.execute("select count(*) from cdc.product_changes").fetchall()[0][0] > 0
    with pytest.raises(HealthwatchError, match="incomplete") as failure:
        stream(con, days=1)
    assert "simulate --replace" in str(failure.value)
    simulate(con, accounts=20, days=10, **KWARGS)  # starting again repairs it
    assert stream(con, days=1).last_day == START + timedelta(days=10)


def test_a_failed_simulate_before_any_commit_leaves_the_old_world(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    build(path, accounts=20, days=5, seed=3)
    before = cdc_hashes(path), sim_hashes(path)
    con = duckdb.connect(str(path))
    with pytest.raises(Stop):
        simulate(con, accounts=25, days=5, progress=stop_at(3), **KWARGS)
    con.close()
    assert (cdc_hashes(path), sim_hashes(path)) == before


def test_an_interrupted_stream_leaves_the_world_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    build(path, accounts=20, days=10, seed=3)
    before = cdc_hashes(path), sim_hashes(path)
    con = duckdb.connect(str(path))
    with pytest.raises(Stop):
        stream(con, days=5, progress=stop_at(3))
    con.close()
    assert (cdc_hashes(path), sim_hashes(path)) == before


def test_a_stream_failing_mid_day_keeps_its_committed_days_and_goes_on(
    tmp_path: Path, chunk_per_day: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure inside day 13 (after days 10-12 were committed): no row of day 13, state of day 12."""
    build(tmp_path / "whole.duckdb", accounts=20, days=20, seed=3)
    path = tmp_path / "parts.duckdb"
    build(path, accounts=20, days=10, seed=3)
    real_step = product.step

    def failing_step(world, day, log) -> None:
        real_step(world, day, log)  # the day's changes are buffered, then it fails
        if day.index == 13:
            raise Stop

    monkeypatch.setattr(product, "step", failing_step)
    con = duckdb.connect(str(path))
    with pytest.raises(Stop):
        stream(con, days=8)
    last = START + timedelta(days=12)
    assert newest_days(con) == {"world": last, "changes": last, "health": last}

    monkeypatch.setattr(product, "step", real_step)
    assert stream(con, days=7).first_day == START + timedelta(days=13)
    con.close()
    assert cdc_hashes(path) == cdc_hashes(tmp_path / "whole.duckdb")
    assert sim_hashes(path) == sim_hashes(tmp_path / "whole.duckdb")


def test_event_sample_thins_product_events_only(tmp_path: Path) -> None:
    build(tmp_path / "full.duckdb", accounts=30, days=20, seed=3)
    con = duckdb.connect(str(tmp_path / "sampled.duckdb"))
    simulate(con, accounts=30, days=12, event_sample=0.25, **KWARGS)
    stream(con, days=8)  # goes on with the world's sample
    con.close()
    con = duckdb.connect(str(tmp_path / "whole_sampled.duckdb"))
    simulate(con, accounts=30, days=20, event_sample=0.25, **KWARGS)
    con.close()

    full, sampled = cdc_hashes(tmp_path / "full.duckdb"), cdc_hashes(tmp_path / "sampled.duckdb")
    assert cdc_hashes(tmp_path / "whole_sampled.duckdb") == sampled
    assert {t: h for t, h in full.items() if t != "cdc.product_changes"} == {
        t: h for t, h in sampled.items() if t != "cdc.product_changes"
    }
    counts = [
        duckdb.connect(str(tmp_path / name), read_only=True)
        .execute("select count(*), count(distinct seq), max(seq) from cdc.product_changes")
        .fetchall()[0]
        for name in ("full.duckdb", "sampled.duckdb")
    ]
    (n_full, _, _), (n_sampled, distinct, max_seq) = counts
    assert n_sampled == distinct == max_seq and 0.2 < n_sampled / n_full < 0.3


def test_event_sample_is_checked(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    for bad in (0, -0.5, 1.5):
        with pytest.raises(HealthwatchError, match="event_sample"):
            simulate(con, accounts=5, days=2, event_sample=bad, **KWARGS)


def test_the_memory_limit_is_put_back(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    setting = "select current_setting('memory_limit')"
    for limit in (None, "3GiB", "500MiB"):
        if limit:
            con.execute(f"set memory_limit = '{limit}'")
        before = con.execute(setting).fetchall()[0][0]
        simulate(con, accounts=5, days=2, **KWARGS)
        stream(con, days=1)
        assert con.execute(setting).fetchall()[0][0] == before
