"""A malformed change row stops the rescoring run before any table is rebuilt from it."""

import duckdb
import pytest

from healthwatch.errors import HealthwatchError
from pipelines.run import run_job


def test_bad_change_row_blocks_the_run(world_copy, dagster_instance) -> None:
    def signals_state() -> list:
        with duckdb.connect(str(world_copy.warehouse), read_only=True) as con:
            return con.execute(
                "select count(*), max(signal_date) from signals.account_signals_daily"
            ).fetchall()

    before = signals_state()
    with duckdb.connect(str(world_copy.warehouse)) as con:
        con.execute(
            "insert into cdc.crm_changes select max(seq) + 1, 'accounts', 'x', 'acc', null, null, "
            "max(source_ts) + interval 1 day, max(source_ts) + interval 1 day from cdc.crm_changes"
        )
    with pytest.raises(HealthwatchError, match="change_envelope"):
        run_job("rescore_job", world_copy, instance=dagster_instance)
    assert signals_state() == before
