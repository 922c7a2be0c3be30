"""The rescoring path: streamed days flow through signals, scores, alerts and tasks, without doubles."""

import dagster as dg
import duckdb

from bench.scale import deliver_held, hold_back
from healthwatch.batches import data_clock, scope_accounts
from healthwatch.simulator import stream
from healthwatch.warehouse import connect, max_seqs, signals_clock
from pipelines.assets.alerts import HEALTH_ALERTS
from pipelines.assets.ml import HEALTH_SCORES
from pipelines.project import DBT_PROJECT_DIR
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
    # dbt parses the whole project again when its vars (this warehouse) differ from the parse it
    # finds; the first run's parse is handed back, so the second run's dbt reuses it.
    logs = sorted(
        (
            log
            for log in (DBT_PROJECT_DIR / "target").glob("*/dbt.log")
            if str(world_copy.warehouse) in log.read_text()
        ),
        key=lambda log: log.stat().st_mtime,
    )
    assert ["Unable to do partial parsing" in log.read_text() for log in logs] == [True, False]

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


def _latest_metadata(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict:
    event = instance.get_latest_materialization_event(key)
    assert event is not None and event.asset_materialization is not None
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_a_batch_within_the_day_rescores_and_judges_only_its_accounts(world_copy, dagster_instance) -> None:
    with connect(world_copy.warehouse) as con:
        before = max_seqs(con)
        stream(con, days=1, touch_share=0.1)
        streamed, held = hold_back(con, before)  # the day's rows from 06:00 wait
    assert 0 < held < streamed
    run_job("rescore_job", world_copy, instance=dagster_instance)  # the day's first rows: every account rolls
    with connect(world_copy.warehouse) as con:
        rolled_clock = data_clock(con)
        everyone = scope_accounts(con)
        assert deliver_held(con) == held
    run_job("rescore_job", world_copy, instance=dagster_instance)  # the rest of the day

    with duckdb.connect(str(world_copy.warehouse), read_only=True) as con:
        clock = data_clock(con)
        batch = scope_accounts(con)
        rescored = {
            account
            for (account,) in con.execute(
                "select account_id from scoring.account_health_scores where scored_at = ?", [clock]
            ).fetchall()
        }
        kept = con.execute(
            "select count(*) from scoring.account_health_scores where scored_at = ?", [rolled_clock]
        ).fetchall()[0][0]
    assert clock.date() == rolled_clock.date() and clock > rolled_clock
    assert batch and len(batch) < len(everyone) / 2
    scores = _latest_metadata(dagster_instance, HEALTH_SCORES)
    assert scores["scope"] == f"{len(batch)} accounts rebuilt by this run"
    assert rescored and rescored <= set(batch)
    assert kept > 0  # the others keep the scores of the day's first run
    alerts = _latest_metadata(dagster_instance, HEALTH_ALERTS)
    assert alerts["accounts_rescored"] == len(rescored)


def test_steps_after_dbt_take_the_clock_the_signals_were_built_to(world_copy, dagster_instance) -> None:
    # A streamed day moves the change tables' clock; until a run builds signals for it, a digest
    # run dates its mails by the signals it reads, not by changes it cannot see yet.
    with connect(world_copy.warehouse) as con:
        stream(con, days=1)
        con.execute("delete from alerts.email_outbox")
        built, latest = signals_clock(con), data_clock(con)
    assert built.date() < latest.date()
    run_job("digest_job", world_copy, instance=dagster_instance)
    with duckdb.connect(str(world_copy.warehouse), read_only=True) as con:
        periods = {p for (p,) in con.execute("select distinct period from alerts.email_outbox").fetchall()}
    assert periods == {built.date().isoformat()}
