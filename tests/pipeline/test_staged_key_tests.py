"""dbt's key tests on the staged tables read what the pending batch touched."""

import json
import subprocess

import duckdb

from healthwatch.config import Settings
from pipelines.project import DBT_EXECUTABLE, DBT_PROJECT_DIR, dbt_cli_args

MODELS = ("stg_crm__contacts", "stg_crm__invoice_versions", "stg_product__events")


def _key_tests(settings: Settings, target) -> dict[str, tuple[str, int]]:
    """`dbt test` on the staged models above: (status, failing rows) per test, by test name."""
    args = [DBT_EXECUTABLE, *dbt_cli_args("test", settings), "--profiles-dir", str(DBT_PROJECT_DIR)]
    args += ["--target-path", str(target), "-s", *MODELS]
    subprocess.run(args, cwd=DBT_PROJECT_DIR, capture_output=True, text=True, check=False)
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: (r["status"], r["failures"]) for r in results}


def _failing(results: dict[str, tuple[str, int]]) -> dict[str, int]:
    return {name: failures for name, (status, failures) in results.items() if status != "pass"}


def test_the_key_tests_read_the_rows_and_keys_of_the_batch(world_copy, tmp_path) -> None:
    with duckdb.connect(str(world_copy.warehouse)) as con:
        (crm,) = con.execute("select max(seq) from cdc.crm_changes").fetchone()
        (events,) = con.execute("select max(cdc_seq) from staging.stg_product__events").fetchone()
        touched, untouched = [
            key for (key,) in con.execute(
                "select contact_id from staging.base_crm__contacts where not is_deleted order by 1 limit 2"
            ).fetchall()
        ]  # fmt: skip
        # The batch brought a new image of one contact and its old row was left beside it; the
        # other contact has an old copy that no batch touches now.
        con.execute(
            "insert into staging.base_crm__contacts select * replace (? as cdc_seq) "
            "from staging.base_crm__contacts where contact_id = ?",
            [crm + 1, touched],
        )
        con.execute(
            "insert into staging.base_crm__contacts select * from staging.base_crm__contacts where contact_id = ?",
            [untouched],
        )
        # an invoice change of the batch without the invoice's id
        con.execute(
            "insert into cdc.crm_changes (seq, source_table, op, key, after, source_ts, ingested_at) "
            "select ?, 'invoices', 'u', key, json_object('account_id', after->>'account_id', 'amount', 10, "
            "'status', 'failed', 'due_date', '2026-01-01', 'event_at', source_ts), source_ts, ingested_at "
            "from cdc.crm_changes where source_table = 'invoices' order by seq desc limit 1",
            [crm + 2],
        )
        # an event of the batch staged twice (dbt's `unique`, as DuckDB runs it here: by hash first)
        con.execute(
            "insert into staging.stg_product__events select * replace (cdc_seq + 1 as cdc_seq) "
            "from staging.stg_product__events where cdc_seq = ?",
            [events],
        )
        con.execute("delete from ops.change_batch")
        con.execute(
            "insert into ops.change_batch values ('cdc.crm_changes', ?, ?), ('cdc.product_changes', ?, ?)",
            [crm + 1, crm + 2, events, events + 1],
        )

    assert _failing(_key_tests(world_copy, tmp_path / "batch")) == {
        "unique_in_batch_stg_crm__contacts_contact_id__crm": 1,  # the touched key only
        "not_null_in_batch_stg_crm__invoice_versions_invoice_id__crm": 1,
        "unique_stg_product__events_event_id": 1,
    }

    # Nothing of the CRM in the batch: no key changed, nothing to compare (the untouched copy and
    # the invoice were the business of the runs that read them).
    with duckdb.connect(str(world_copy.warehouse)) as con:
        con.execute("delete from ops.change_batch where change_table = 'cdc.crm_changes'")
    assert _failing(_key_tests(world_copy, tmp_path / "none")) == {"unique_stg_product__events_event_id": 1}

    # A batch of every row (a full refresh): every key compared
    with duckdb.connect(str(world_copy.warehouse)) as con:
        con.execute("insert into ops.change_batch values ('cdc.crm_changes', 1, ?)", [crm + 2])
    assert _failing(_key_tests(world_copy, tmp_path / "all")) == {
        "unique_in_batch_stg_crm__contacts_contact_id__crm": 2,
        "not_null_in_batch_stg_crm__invoice_versions_invoice_id__crm": 1,
        "unique_stg_product__events_event_id": 1,
    }
