"""At-least-once CDC at the alert level: a streamed day delivered twice, in shuffled pieces with
the late ones last, or followed by a re-snapshot of the CRM, leaves exactly the alerts, tasks and
mails of one clean delivery — nothing lost, nothing doubled."""

import random

import duckdb
from fault_support import (
    alerts,
    append_rows,
    duplicate_live_keys,
    live_alerts,
    mails,
    new_change_rows,
    tasks,
    twin_of,
)

from healthwatch.simulator import stream
from healthwatch.warehouse import connect
from pipelines.run import run_job


def _streamed_day(world, tmp_path):
    """A clean twin that streams one day and processes it in one run, and the rows that day added."""
    clean = twin_of(world, tmp_path / "clean")
    with connect(clean.warehouse) as con:
        stream(con, days=1)
    rows = new_change_rows(world, clean)
    return clean, rows


def _pieces(rows: dict[str, list[tuple]], seed: int) -> list[tuple[str, list[tuple]]]:
    """Each change table's new rows in three pieces, shuffled, the lowest seqs last."""
    pieces = []
    for table, table_rows in rows.items():
        size = max(1, len(table_rows) // 3)
        pieces += [(table, table_rows[i : i + size]) for i in range(0, len(table_rows), size)]
    random.Random(seed).shuffle(pieces)
    return sorted(pieces, key=lambda piece: piece[1][0][0], reverse=True)


def test_shuffled_and_duplicated_batches_equal_one_clean_delivery(
    world_copy, dagster_instance, tmp_path
) -> None:
    clean, rows = _streamed_day(world_copy, tmp_path)
    run_job("rescore_job", clean, instance=dagster_instance)

    for table, piece in _pieces(rows, seed=7):  # out of order, before one run
        append_rows(world_copy, table, piece)
    run_job("rescore_job", world_copy, instance=dagster_instance)
    for table, table_rows in rows.items():  # the whole day again: at-least-once
        append_rows(world_copy, table, table_rows)
    run_job("rescore_job", world_copy, instance=dagster_instance)

    assert alerts(world_copy) == alerts(clean)
    assert tasks(world_copy) == tasks(clean)
    assert mails(world_copy) == mails(clean)


def test_late_pieces_lose_no_alert_and_double_none(world_copy, dagster_instance, tmp_path) -> None:
    """Runs between late pieces judge a day that is still arriving: they may raise an alert that a
    complete day would not (it then resolves on its own), or a more severe one (severity never
    drops while live) that inhibits a lower alert — suppressed, still on record — but they never
    lose or double one, and every account the complete day gives a CRM task still has one."""
    clean, rows = _streamed_day(world_copy, tmp_path)
    run_job("rescore_job", clean, instance=dagster_instance)

    for number, (table, piece) in enumerate(_pieces(rows, seed=11)):
        append_rows(world_copy, table, piece)
        if number % 2 == 1:
            run_job("rescore_job", world_copy, instance=dagster_instance)
    run_job("rescore_job", world_copy, instance=dagster_instance)

    def keys(settings) -> set[tuple]:
        return {(account, kind) for account, kind, *_ in live_alerts(settings)}

    def kept(settings) -> set[tuple]:
        with duckdb.connect(str(settings.warehouse), read_only=True) as con:
            return set(
                con.execute(
                    "select account_id, alert_type from alerts.health_alerts "
                    "where status in ('open', 'acknowledged', 'suppressed')"
                ).fetchall()
            )

    def task_accounts(settings) -> set[str]:
        with duckdb.connect(str(settings.warehouse), read_only=True) as con:
            return {
                account
                for (account,) in con.execute(
                    "select distinct h.account_id from alerts.crm_tasks t join alerts.health_alerts h using (alert_id)"
                ).fetchall()
            }

    assert keys(clean) <= kept(world_copy)
    assert duplicate_live_keys(world_copy) == []
    assert task_accounts(clean) <= task_accounts(world_copy)


def test_a_resnapshot_of_the_crm_changes_nothing(world_copy, dagster_instance) -> None:
    before = (alerts(world_copy), tasks(world_copy), mails(world_copy))
    with duckdb.connect(str(world_copy.warehouse)) as con:
        # the connector re-reads every current CRM row as op 'r', at new positions
        con.execute(
            """
            insert into cdc.crm_changes
            with latest as (
                select * from cdc.crm_changes
                qualify row_number() over (partition by source_table, key order by seq desc) = 1
            )
            select (select max(seq) from cdc.crm_changes) + row_number() over (order by seq), source_table, 'r',
                   key, null, after, source_ts, ingested_at + interval 1 hour
            from latest where op <> 'd' and after is not null
            """
        )
    run_job("rescore_job", world_copy, instance=dagster_instance)
    assert (alerts(world_copy), tasks(world_copy), mails(world_copy)) == before
