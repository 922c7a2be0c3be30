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


def test_a_contract_violation_in_a_source_blocks_scores_and_alerts(world_copy, dagster_instance) -> None:
    def downstream_state() -> list:
        with duckdb.connect(str(world_copy.warehouse), read_only=True) as con:
            return [
                con.execute("select max(scored_at) from scoring.account_health_scores").fetchall(),
                con.execute("select count(*), max(updated_at) from alerts.health_alerts").fetchall(),
            ]

    before = downstream_state()
    with duckdb.connect(str(world_copy.warehouse)) as con:
        (account_id, contact_id) = con.execute(
            "select account_id, contact_id from staging.stg_crm__contacts limit 1"
        ).fetchall()[0]
        con.execute(
            """
            insert into cdc.engagement_changes
            select max(seq) + 1, 'nps_responses', 'op', 'bad-nps', null,
                json_object('response_id', 'bad-nps', 'survey_id', 's', 'account_id', ?, 'contact_id', ?,
                            'score', 11, 'comment', 'out of range', 'responded_at', strftime(max(source_ts), '%Y-%m-%dT%H:%M:%S')),
                max(source_ts), max(source_ts)
            from cdc.engagement_changes
            """.replace("'op'", "'c'"),
            [account_id, contact_id],
        )
    with pytest.raises(HealthwatchError, match="step source_contract_checks of rescore_job failed"):
        run_job("rescore_job", world_copy, instance=dagster_instance)
    assert downstream_state() == before
