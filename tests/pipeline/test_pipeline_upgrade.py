"""A warehouse built by an earlier version: a signal mart or staged table whose columns are not the
ones its model now declares stops an incremental run before anything is built, naming the table
and the fix."""

import duckdb
import pytest

from healthwatch.batches import pending_batch
from healthwatch.errors import HealthwatchError
from pipelines.project import dbt_project, tables_built_by_an_earlier_version
from pipelines.run import run_job


def test_a_mart_of_an_earlier_version_stops_an_incremental_run(world_copy, dagster_instance) -> None:
    with duckdb.connect(str(world_copy.warehouse)) as con:
        assert tables_built_by_an_earlier_version(con, dbt_project.manifest_path) == []
        # as an earlier version built it: without a column this one adds
        con.execute("alter table signals.account_signals_daily drop column procurement_freezes")
        con.execute("alter table signals.account_baselines add column dropped_since integer")
        # staged events as they were before their properties were typed: one JSON column
        con.execute("alter table staging.stg_product__events add column properties json")
        for typed in ("feature", "duration_seconds", "api_status", "api_latency_ms"):
            con.execute(f"alter table staging.stg_product__events drop column {typed}")
        con.execute(
            "insert into cdc.crm_changes select seq + 1000000, source_table, op, key, before, after, "
            "source_ts, ingested_at from cdc.crm_changes where seq = (select max(seq) from cdc.crm_changes)"
        )
        pending = pending_batch(con).total_rows
    assert pending > 0

    with pytest.raises(HealthwatchError) as failed:
        run_job("rescore_job", world_copy, instance=dagster_instance)
    message = str(failed.value)
    assert (
        "signals.account_baselines, signals.account_signals_daily, staging.stg_product__events "
        "were built by an earlier version" in message
    )
    assert "healthwatch run --full-refresh" in message
    with duckdb.connect(str(world_copy.warehouse), read_only=True) as con:
        assert pending_batch(con).total_rows == pending  # nothing was processed: the rows wait
