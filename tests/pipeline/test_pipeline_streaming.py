"""The rescoring path: streamed days flow through signals, scores, alerts and tasks, without doubles."""

import duckdb

from healthwatch.simulator import stream
from healthwatch.warehouse import connect, data_clock
from pipelines.run import run_job

from tests_support import rounded_rows


def test_streamed_days_are_rescored_without_duplicates(world_copy, dagster_instance) -> None:
    with connect(world_copy.warehouse) as con:
        clock_before = data_clock(con)
        (alerts_before,) = con.execute("select count(*) from alerts.health_alerts").fetchall()[0]
    for _ in range(2):
        with connect(world_copy.warehouse) as con:
            stream(con, days=1)
        run_job("rescore_job", world_copy, instance=dagster_instance)

    with duckdb.connect(str(world_copy.warehouse), read_only=True) as con:
        clock_after = data_clock(con)
        (signal_day,) = con.execute("select max(signal_date) from signals.account_signals_daily").fetchall()[
            0
        ]
        (score_day,) = con.execute("select max(as_of_date) from scoring.account_health_scores").fetchall()[0]
        scored_at = con.execute(
            "select count(distinct scored_at) from scoring.account_health_score_history"
        ).fetchall()[0][0]
        duplicate_live = con.execute(
            "select dedup_key from alerts.health_alerts where status in ('open', 'acknowledged') "
            "group by dedup_key having count(*) > 1"
        ).fetchall()
        duplicate_tasks = con.execute(
            "select task_id from alerts.crm_tasks group by task_id having count(*) > 1"
        ).fetchall()
        (alerts_after,) = con.execute("select count(*) from alerts.health_alerts").fetchall()[0]
    assert (clock_after.date() - clock_before.date()).days == 2
    assert signal_day == score_day == clock_after.date()
    assert scored_at == 3  # the build, then one scoring per streamed day
    assert duplicate_live == [] and duplicate_tasks == []
    assert alerts_after >= alerts_before


def test_rescoring_twice_on_the_same_changes_changes_nothing(world_copy, dagster_instance) -> None:
    tables = ["alerts.health_alerts", "alerts.crm_tasks", "scoring.account_health_scores"]

    def snapshot() -> list:
        with duckdb.connect(str(world_copy.warehouse), read_only=True) as con:
            return [rounded_rows(con.execute(f"select * from {t} order by all").fetchall()) for t in tables]

    run_job("rescore_job", world_copy, instance=dagster_instance)
    first = snapshot()
    run_job("rescore_job", world_copy, instance=dagster_instance)
    assert snapshot() == first
