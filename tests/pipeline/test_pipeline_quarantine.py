"""Quarantine in a real run: bad change rows are held with their reason while the good rows of the
same batch go through; schema drift inside the rows stops the run; a fixed row replays."""

import json

import duckdb
import pytest

from data_quality.quarantine import export_held, held_rows, replay
from healthwatch.errors import HealthwatchError
from pipelines.run import run_job

NPS_SQL = """
    insert into cdc.engagement_changes
    select max(seq) + ?, 'nps_responses', ?, ?, null, ?, max(source_ts) + ?::interval, max(source_ts)
    from cdc.engagement_changes
"""


def _nps(con, account_id: str, contact_id: str, rows: list[tuple]) -> None:
    at = con.execute(
        "select strftime(max(source_ts), '%Y-%m-%dT%H:%M:%S') from cdc.engagement_changes"
    ).fetchone()[0]
    for offset, (op, response_id, fields, shift) in enumerate(rows, start=1):
        after = {"response_id": response_id, "survey_id": "s", "account_id": account_id, "contact_id": contact_id,
                 "score": 8, "comment": "ok", "responded_at": at, **fields}  # fmt: skip
        con.execute(NPS_SQL, [offset, op, response_id, json.dumps(after), shift])


def _contact(warehouse) -> tuple[str, str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute("select account_id, contact_id from staging.stg_crm__contacts limit 1").fetchone()


def _staged(warehouse, *keys: str) -> dict:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            f"select response_id, score from staging.stg_engagement__nps_responses "
            f"where response_id in ({', '.join('?' * len(keys))})",
            list(keys),
        ).fetchall()
    return dict(rows)


def test_bad_rows_are_held_and_the_rest_of_the_batch_goes_through(
    world_copy, dagster_instance, tmp_path
) -> None:
    account_id, contact_id = _contact(world_copy.warehouse)
    with duckdb.connect(str(world_copy.warehouse)) as con:
        (clock_before,) = con.execute("select as_of_at from staging.stg_cdc__clock").fetchone()
        _nps(con, account_id, contact_id, [
            ("c", "q-good", {}, "0 seconds"),
            ("c", "q-range", {"score": 11}, "0 seconds"),
            ("c", "q-type", {"score": "ten"}, "0 seconds"),
            ("x", "q-op", {}, "0 seconds"),
            ("c", "q-future", {}, "400 years"),
        ])  # fmt: skip
    run_job("rescore_job", world_copy, instance=dagster_instance)

    assert _staged(world_copy.warehouse, "q-good", "q-range", "q-type", "q-op", "q-future") == {"q-good": 8}
    with duckdb.connect(str(world_copy.warehouse)) as con:
        held = {r.key: (r.expectation, r.column_name, r.value) for r in held_rows(con)}
        (clock_after,) = con.execute("select as_of_at from staging.stg_cdc__clock").fetchone()
        (pending,) = con.execute("select count(*) from ops.change_batch").fetchone()
    assert held == {
        "q-range": ("expect_column_values_to_be_between", "score", "11"),
        "q-type": ("expect_column_values_to_be_of_type:integer", "score", "ten"),
        "q-op": ("expect_column_values_to_be_in_set", "op", "x"),
        "q-future": ("expect_column_values_to_be_between", "source_ts", held["q-future"][2]),
    }
    assert clock_after == clock_before  # the row dated 400 years ahead did not move the data clock
    assert pending == 0  # the batch, held rows included, is processed: clean + quarantined = input

    # the engineer fixes the out-of-range score and replays it; the next run admits it
    with duckdb.connect(str(world_copy.warehouse)) as con:
        export_held(con, tmp_path / "held.jsonl")
        lines = [json.loads(x) for x in (tmp_path / "held.jsonl").read_text().splitlines()]
        (fix,) = [line for line in lines if line["key"] == "q-range"]
        fix["after"]["score"] = 9
        assert replay(con, [fix]).readmitted == 1
    run_job("rescore_job", world_copy, instance=dagster_instance)
    assert _staged(world_copy.warehouse, "q-good", "q-range") == {"q-good": 8, "q-range": 9}


def test_a_column_renamed_upstream_stops_the_run_and_builds_nothing(world_copy, dagster_instance) -> None:
    account_id, contact_id = _contact(world_copy.warehouse)
    with duckdb.connect(str(world_copy.warehouse)) as con:
        before = con.execute("select count(*), max(updated_at) from alerts.health_alerts").fetchall()
        renamed = [("c", f"drift-{i}", {"nps_score": 3}, "0 seconds") for i in range(3)]
        _nps(con, account_id, contact_id, renamed)
        con.execute(
            "update cdc.engagement_changes set after = json(json_remove(after, '$.score')) "
            "where key like 'drift-%'"
        )
    with pytest.raises(
        HealthwatchError, match=r"schema drift in cdc\.engagement_changes.*'score'.*nps_score"
    ):
        run_job("rescore_job", world_copy, instance=dagster_instance)
    with duckdb.connect(str(world_copy.warehouse)) as con:
        assert con.execute("select count(*), max(updated_at) from alerts.health_alerts").fetchall() == before
        assert held_rows(con) == []
    assert _staged(world_copy.warehouse, "drift-0") == {}
