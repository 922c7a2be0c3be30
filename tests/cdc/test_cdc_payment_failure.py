"""End to end: an invoice that fails in the source PostgreSQL becomes a payment_failure alert,
through the reader, the change table, dbt, the model and the alert step of the rescoring run."""

import json
from datetime import UTC, datetime, timedelta

from cdc_support import query, source_sql, start_reader, stop_reader, wait_until

from healthwatch.simulator import simulate
from healthwatch.warehouse import connect
from pipelines.run import run_job

from tests_support import settings_at

# Smaller than tests_support.WORLD (this test builds its own world), large enough to train a model.
WORLD_SIZE = {"accounts": 100, "days": 150, "seed": 11}


def test_a_failed_invoice_in_postgres_becomes_an_alert(source_pg, tmp_path, dagster_instance) -> None:
    settings = settings_at(tmp_path / "data" / "warehouse.duckdb")
    # The reader stamps changes with their real commit time: the simulated world ends today.
    with connect(settings.warehouse) as con:
        simulate(
            con,
            accounts=WORLD_SIZE["accounts"],
            days=WORLD_SIZE["days"],
            seed=WORLD_SIZE["seed"],
            start_date=datetime.now(UTC).date() - timedelta(days=WORLD_SIZE["days"] - 1),
            core_features=settings.config.product.core_features,
        )
    run_job("healthwatch_job", settings, instance=dagster_instance)
    account_id, segment, csm_id = query(
        settings.warehouse,
        "select account_id, segment, csm_id from signals.accounts where not is_churned and account_id not in "
        "(select account_id from alerts.health_alerts where alert_type = 'payment_failure') "
        "order by arr desc limit 1",
    )[0]

    day = datetime.now(UTC).date()
    source_sql(
        source_pg,
        "create schema pay; create table pay.invoices (invoice_id text primary key, account_id text, "
        "due_date date, amount numeric(12, 2), status text, event_at timestamptz)",
        f"insert into pay.invoices values ('pg-inv-1', '{account_id}', '{day}', 4200, 'paid', now())",
    )
    log = tmp_path / "reader.log"
    args = ("--tables", "pay.invoices", "--slot", "payment_test", "--create-slot", "--replica-identity-full")
    reader = start_reader(settings.warehouse, source_pg, *args, log=log)
    try:
        wait_until(lambda: "streaming slot" in log.read_text(), "the reader to stream", reader)
        source_sql(
            source_pg,
            "update pay.invoices set status = 'failed', event_at = now() where invoice_id = 'pg-inv-1'",
        )
        wait_until(
            lambda: bool(
                query(settings.warehouse, "select 1 from cdc.crm_changes where key = 'pg-inv-1' and op = 'u'")
            ),
            "the failure's change row",
            reader,
        )
        assert stop_reader(reader) == 0
    finally:
        if reader.poll() is None:
            reader.kill()

    run_job("rescore_job", settings, instance=dagster_instance)

    rows = query(
        settings.warehouse,
        "select severity, priority, owner_id, status, evidence from alerts.health_alerts "
        "where account_id = ? and alert_type = 'payment_failure'",
        [account_id],
    )
    assert len(rows) == 1
    severity, priority, owner_id, status, evidence = rows[0]
    assert (severity, status, owner_id) == ("high", "open", csm_id)
    assert priority == {"enterprise": 1, "mid_market": 2, "smb": 4}[segment]
    assert json.loads(evidence)["metric"]
