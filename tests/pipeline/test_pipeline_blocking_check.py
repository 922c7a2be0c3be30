"""Checks that block: a change table whose shape drifted stops the rescoring run before any
table — dbt model or Python asset — is rebuilt from it."""

import duckdb
import pytest

from healthwatch.errors import HealthwatchError
from pipelines.run import run_job


def downstream_state(warehouse) -> list:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return [
            con.execute("select count(*), max(signal_date) from signals.account_signals_daily").fetchall(),
            con.execute("select max(scored_at) from scoring.account_health_scores").fetchall(),
            con.execute("select count(*), max(updated_at) from alerts.health_alerts").fetchall(),
        ]


def test_a_drifted_change_table_blocks_signals_scores_and_alerts(world_copy, dagster_instance) -> None:
    before = downstream_state(world_copy.warehouse)
    with duckdb.connect(str(world_copy.warehouse)) as con:
        con.execute("alter table cdc.crm_changes add column tenant varchar")
        con.execute(
            "insert into cdc.crm_changes select max(seq) + 1, 'crm_events', 'c', 'ev-x', null, "
            "json_object('crm_event_id', 'ev-x', 'account_id', 'a', 'kind', 'procurement_freeze', "
            "'event_at', strftime(max(source_ts), '%Y-%m-%dT%H:%M:%S')), max(source_ts), max(source_ts), 't1' "
            "from cdc.crm_changes"
        )
    with pytest.raises(HealthwatchError, match="step change_envelope_checks of rescore_job failed"):
        run_job("rescore_job", world_copy, instance=dagster_instance)
    assert downstream_state(world_copy.warehouse) == before
