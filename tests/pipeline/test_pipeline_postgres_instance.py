"""The production instance config: Dagster's storage on a real PostgreSQL server, with a
sensor-triggered rescoring run recorded there."""

import shutil

import dagster as dg
import duckdb

from healthwatch.simulator import stream
from pipelines.jobs import rescore_job
from pipelines.run import LOCAL_INSTANCE_CONFIG, run_job
from sensors.cdc import build_cdc_sensor

from postgres_support import running_postgres


def test_sensor_triggered_rescoring_on_a_postgres_instance(world_copy, tmp_path, monkeypatch) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(LOCAL_INSTANCE_CONFIG.with_name("dagster.postgres.yaml"), home / "dagster.yaml")
    with running_postgres("dagster") as dsn:
        monkeypatch.setenv("HEALTHWATCH_DAGSTER_PG_URL", dsn)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
            assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
            with duckdb.connect(str(world_copy.warehouse)) as con:
                stream(con, days=1)
            sensor = build_cdc_sensor(
                table="cdc.product_changes", job=rescore_job, warehouse=lambda: world_copy.warehouse
            )
            with duckdb.connect(str(world_copy.warehouse), read_only=True) as con:
                (cursor,) = con.execute(
                    "select max(last_seq) from ops.processed_changes where change_table = 'cdc.product_changes'"
                ).fetchall()[0]
            tick = sensor(dg.build_sensor_context(cursor=str(cursor), instance=instance))
            (request,) = tick.run_requests
            outcome = run_job("rescore_job", world_copy, tags=request.tags, instance=instance)

            (run,) = instance.get_runs(filters=dg.RunsFilter(run_ids=[outcome.run_id]))
            assert run.status == dg.DagsterRunStatus.SUCCESS
            assert (
                run.tags["healthwatch/seq_range/cdc.product_changes"]
                == request.tags["healthwatch/seq_range/cdc.product_changes"]
            )
            assert "alerts/health_alerts" in outcome.materialized
            materialization = instance.get_latest_materialization_event(
                dg.AssetKey(["alerts", "health_alerts"])
            )
            assert materialization is not None and materialization.run_id == outcome.run_id
    with duckdb.connect(str(world_copy.warehouse), read_only=True) as con:
        (pending,) = con.execute("select count(*) from ops.change_batch").fetchall()[0]
    assert pending == 0
