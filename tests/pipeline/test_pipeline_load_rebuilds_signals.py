"""Data loaded with `healthwatch load` rebuilds the signals the simulator's own warehouse gives."""

import duckdb
import pytest

from healthwatch.loader import export_extracts, load_path

from dbt_runner import build_signals
from tests_support import rounded_rows, settings_at, simulate_into

# A current-state extract (CSV / Parquet) has each account as it is now: what changed over time
# (ARR, seats, and what derives from them) can only come through a change log.
ACCOUNT_HISTORY = {"arr", "seats_purchased", "seat_utilisation", "logins_per_seat_28d", "segment", "csm_id"}


def _signals(warehouse, skip: set[str] = frozenset()) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = [
            name
            for (name,) in con.execute(
                "select column_name from information_schema.columns where table_schema = 'signals' "
                "and table_name = 'account_signals_daily' order by ordinal_position"
            ).fetchall()
            if name not in skip
        ]
        return rounded_rows(
            con.execute(
                f"select {', '.join(columns)} from signals.account_signals_daily order by all"
            ).fetchall()
        )


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    settings = settings_at(tmp_path_factory.mktemp("simulated") / "warehouse.duckdb")
    simulate_into(settings, accounts=40, days=80, seed=9)
    build_signals(settings, settings.data_dir / "target", full_refresh=True)
    return settings


@pytest.mark.parametrize(("fmt", "skip"), [("debezium", set()), ("csv", ACCOUNT_HISTORY)])
def test_loaded_extracts_rebuild_the_same_signals(simulated, tmp_path, fmt, skip) -> None:
    with duckdb.connect(str(simulated.warehouse), read_only=True) as con:
        export_extracts(con, tmp_path / "extracts", fmt=fmt)
    loaded = settings_at(tmp_path / "loaded" / "warehouse.duckdb")
    loaded.data_dir.mkdir()
    with duckdb.connect(str(loaded.warehouse)) as con:
        report = load_path(con, tmp_path / "extracts")
    assert report.rows_quarantined == 0
    build_signals(loaded, tmp_path / "target", full_refresh=True)
    assert _signals(loaded.warehouse, skip) == _signals(simulated.warehouse, skip)
