"""The model's Dagster side on a real simulated warehouse: the weekly retrain schedule runs the
training job through the promotion gate, both ml assets record their metadata, and the backtest
runs end to end on warehouse tables built by dbt."""

import json

import dagster as dg
import duckdb

from ml.backtest import CONTENDERS, run_backtest
from ml.registry import current_version, latest_promotion
from pipelines.assets.ml import CHURN_MODEL, HEALTH_SCORES, account_health_scores
from pipelines.definitions import defs
from pipelines.resources import HealthwatchResource
from pipelines.run import run_job


def _metadata(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict:
    event = instance.get_latest_materialization_event(key)
    assert event is not None and event.asset_materialization is not None
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_weekly_retrain_runs_the_training_job_through_the_gate(world_copy) -> None:
    schedule = defs.get_schedule_def("weekly_retrain")
    assert schedule.job_name == "train_job" and schedule.cron_schedule == "0 3 * * 0"
    with dg.DagsterInstance.ephemeral() as instance:
        requests = list(
            schedule.evaluate_tick(dg.build_schedule_context(instance=instance)).run_requests or []
        )
        assert len(requests) == 1
        before = current_version(world_copy.models_dir)
        outcome = run_job(schedule.job_name, world_copy, instance=instance)
        assert outcome.materialized == [CHURN_MODEL.to_user_string()]
        metadata = _metadata(instance, CHURN_MODEL)
    # Same data, deterministic LightGBM: the retrain reproduces the current model, which the gate keeps.
    version, decision = latest_promotion(world_copy.models_dir)
    assert metadata["model_version"] == version == before == current_version(world_copy.models_dir)
    assert decision["promoted"] and metadata["promoted"] is True
    saved = json.loads((world_copy.models_dir / version / "metadata.json").read_text())
    assert metadata["holdout_pr_auc"] == saved["metrics"]["pr_auc"]
    assert metadata["dagster/row_count"] == saved["rows"]["labelled"] > 0
    assert metadata["seconds"] > 0
    assert set(metadata["timings"]) >= {"load_s", "train_s", "gate_and_register_s", "total_s"}


def test_scores_materialization_records_rows_scope_model_and_timings(world_copy) -> None:
    resources = {
        "healthwatch": HealthwatchResource(
            warehouse=str(world_copy.warehouse), config_path=str(world_copy.config_path)
        )
    }
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([account_health_scores], instance=instance, resources=resources)
        assert result.success
        metadata = _metadata(instance, HEALTH_SCORES)
    with duckdb.connect(str(world_copy.warehouse), read_only=True) as con:
        (scored,) = con.execute(
            "select count(*) from scoring.account_health_scores "
            "where scored_at = (select max(scored_at) from scoring.account_health_scores)"
        ).fetchone()
        classes = dict(
            con.execute(
                "select health_class, count(*) from scoring.account_health_scores group by 1"
            ).fetchall()
        )
    # scores materialized alone (no signals step in the run): every active account is rescored
    assert metadata["scope"] == "every account"
    assert metadata["dagster/row_count"] == metadata["accounts_rescored"] == scored > 0
    assert metadata["model_version"] == current_version(world_copy.models_dir)
    assert metadata["accounts_critical"] == classes.get("Critical", 0)
    assert metadata["accounts_at_risk"] == classes.get("At-Risk", 0)
    assert metadata["accounts_healthy"] == classes.get("Healthy", 0)
    assert metadata["seconds"] > 0


def test_backtest_runs_end_to_end_on_the_simulated_warehouse(built_world, tmp_path) -> None:
    with duckdb.connect(str(built_world.settings.warehouse), read_only=True) as con:
        result = run_backtest(con, built_world.settings, tmp_path / "backtest", bootstrap=20)
    report = json.loads(result.json_path.read_text())
    assert result.html_path.stat().st_size > 10_000
    assert report["accounts"] > 0 and report["snapshots"] > 0
    assert report["evaluation_window"]["positives"] > 0
    for name in CONTENDERS:
        c = report[name]
        assert c["true_positives"] + c["false_positives"] == c["alerts"]
    # the rules read the ticket baseline from the dbt mart, not a fallback
    assert any("signals.account_baselines.tickets_7d_baseline" in note for note in report["notes"])
