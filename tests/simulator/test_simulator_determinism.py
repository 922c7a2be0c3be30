"""Same arguments, same bytes; streaming continues a world exactly as a longer simulation would."""

from pathlib import Path

import duckdb
import pytest

from healthwatch.errors import HealthwatchError
from healthwatch.simulator import simulate, stream

from sim_helpers import CHANGE_TABLES, CORE_FEATURES, SIM_STATE, START, build, cdc_hashes, day, table_hash


def test_same_seed_gives_identical_change_tables(tmp_path: Path) -> None:
    build(tmp_path / "a.duckdb", accounts=30, days=30, seed=5)
    build(tmp_path / "b.duckdb", accounts=30, days=30, seed=5)
    assert cdc_hashes(tmp_path / "a.duckdb") == cdc_hashes(tmp_path / "b.duckdb")


def test_different_seed_gives_different_change_tables(tmp_path: Path) -> None:
    build(tmp_path / "a.duckdb", accounts=30, days=30, seed=5)
    build(tmp_path / "b.duckdb", accounts=30, days=30, seed=6)
    a, b = cdc_hashes(tmp_path / "a.duckdb"), cdc_hashes(tmp_path / "b.duckdb")
    assert all(a[t] != b[t] for t in CHANGE_TABLES)


def test_simulate_then_stream_equals_one_longer_simulation(tmp_path: Path) -> None:
    build(tmp_path / "whole.duckdb", accounts=40, days=50, seed=3)
    con = duckdb.connect(str(tmp_path / "parts.duckdb"))
    kwargs = {"seed": 3, "start_date": START, "core_features": CORE_FEATURES}
    simulate(con, accounts=40, days=25, **kwargs)
    first = stream(con, days=15)
    second = stream(con, days=10)
    con.close()

    assert (first.first_day, first.last_day) == (day(25), day(39))
    assert (second.first_day, second.last_day) == (day(40), day(49))
    assert cdc_hashes(tmp_path / "parts.duckdb") == cdc_hashes(tmp_path / "whole.duckdb")
    whole = duckdb.connect(str(tmp_path / "whole.duckdb"), read_only=True)
    parts = duckdb.connect(str(tmp_path / "parts.duckdb"), read_only=True)
    for table in SIM_STATE:
        query = f"select * from sim.{table} order by all"
        assert table_hash(whole, query) == table_hash(parts, query), table


def test_stream_appends_with_continuing_seq(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    simulate(con, accounts=20, days=10, seed=1, start_date=START, core_features=CORE_FEATURES)
    before = {t: con.execute(f"select max(seq), count(*) from {t}").fetchall()[0] for t in CHANGE_TABLES}
    summary = stream(con, days=3)
    for table in CHANGE_TABLES:
        max_seq, _ = before[table]
        new = con.execute(
            f"select min(seq), max(seq), count(*) from {table} where seq > ?", [max_seq]
        ).fetchall()[0]
        assert new[2] == summary.change_rows[table]
        if new[2]:
            assert new[0] == max_seq + 1 and new[1] == max_seq + new[2]
    assert con.execute("select last_day from sim.world").fetchall()[0][0] == day(12)


def test_progress_is_reported_per_day(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    calls: list[tuple[int, int]] = []
    simulate(
        con, accounts=10, days=4, seed=1, start_date=START, core_features=CORE_FEATURES,
        progress=lambda done, total: calls.append((done, total)),
    )  # fmt: skip
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_simulate_replaces_an_existing_world(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    simulate(con, accounts=30, days=5, seed=1, start_date=START, core_features=CORE_FEATURES)
    summary = simulate(con, accounts=12, days=3, seed=2, start_date=START, core_features=CORE_FEATURES)
    accounts = con.execute(
        "select count(*) from cdc.crm_changes where source_table = 'accounts' and op = 'r'"
    ).fetchall()[0][0]
    assert summary.accounts == accounts == 12
    assert con.execute("select min(seq) from cdc.product_changes").fetchall()[0][0] == 1


def test_stream_without_a_world_raises(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "empty.duckdb"))
    with pytest.raises(HealthwatchError, match="no simulated world"):
        stream(con, days=1)


def test_bad_arguments_raise(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    with pytest.raises(HealthwatchError):
        simulate(con, accounts=0, days=5, seed=1, start_date=START, core_features=CORE_FEATURES)
    with pytest.raises(HealthwatchError):
        simulate(con, accounts=5, days=5, seed=1, start_date=START, core_features=[])
