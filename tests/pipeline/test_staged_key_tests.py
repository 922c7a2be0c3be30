"""dbt's key test on the staged current-state tables reads the keys the pending batch touched."""

import json
import subprocess

import duckdb

from healthwatch.config import Settings
from pipelines.project import DBT_EXECUTABLE, DBT_PROJECT_DIR, dbt_cli_args


def _key_tests(settings: Settings, target, model: str) -> dict[str, tuple[str, int]]:
    """`dbt test` on one staged model: (status, failing rows) per test."""
    args = [DBT_EXECUTABLE, *dbt_cli_args("test", settings), "--profiles-dir", str(DBT_PROJECT_DIR)]
    args += ["--target-path", str(target), "-s", model]
    subprocess.run(args, cwd=DBT_PROJECT_DIR, capture_output=True, text=True, check=False)
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2].split("_stg_")[0]: (r["status"], r["failures"]) for r in results}


def test_a_copy_left_beside_a_key_the_batch_changed_fails_the_key_test(world_copy, tmp_path) -> None:
    with duckdb.connect(str(world_copy.warehouse)) as con:
        (newest,) = con.execute("select max(seq) from cdc.crm_changes").fetchone()
        touched, untouched = [
            key for (key,) in con.execute(
                "select contact_id from staging.base_crm__contacts where not is_deleted order by 1 limit 2"
            ).fetchall()
        ]  # fmt: skip
        # the batch brought a new image of one contact, and its old row was left beside it; the
        # other contact has an old copy that no batch touches now
        con.execute(
            "insert into staging.base_crm__contacts select * replace (? as cdc_seq) "
            "from staging.base_crm__contacts where contact_id = ?",
            [newest + 1, touched],
        )
        con.execute(
            "insert into staging.base_crm__contacts select * from staging.base_crm__contacts where contact_id = ?",
            [untouched],
        )
        con.execute("delete from ops.change_batch")
        con.execute("insert into ops.change_batch values ('cdc.crm_changes', ?, ?)", [newest + 1, newest + 1])

    assert _key_tests(world_copy, tmp_path / "batch", "stg_crm__contacts") == {
        "not_null": ("pass", 0),
        "unique_in_batch": ("fail", 1),  # the touched key only
    }

    # Nothing of the CRM in the batch: no key changed, nothing to compare (the untouched copy was
    # the business of the run that wrote it).
    with duckdb.connect(str(world_copy.warehouse)) as con:
        con.execute("delete from ops.change_batch")
    assert _key_tests(world_copy, tmp_path / "none", "stg_crm__contacts") == {
        "not_null": ("pass", 0),
        "unique_in_batch": ("pass", 0),
    }

    # A batch of every row (a full refresh): every key compared
    with duckdb.connect(str(world_copy.warehouse)) as con:
        con.execute("insert into ops.change_batch values ('cdc.crm_changes', 1, ?)", [newest + 1])
    assert _key_tests(world_copy, tmp_path / "all", "stg_crm__contacts") == {
        "not_null": ("pass", 0),
        "unique_in_batch": ("fail", 2),
    }


def test_a_repeated_event_of_the_batch_fails_the_unique_test(world_copy, tmp_path) -> None:
    # dbt's `unique`, as DuckDB runs it here (macros/portable.sql: by hash first, then by value)
    with duckdb.connect(str(world_copy.warehouse)) as con:
        (newest,) = con.execute("select max(cdc_seq) from staging.stg_product__events").fetchone()
        con.execute(
            "insert into staging.stg_product__events select * replace (cdc_seq + 1 as cdc_seq) "
            "from staging.stg_product__events where cdc_seq = ?",
            [newest],
        )
        con.execute("delete from ops.change_batch")
        con.execute("insert into ops.change_batch values ('cdc.product_changes', ?, ?)", [newest, newest + 1])

    assert _key_tests(world_copy, tmp_path / "events", "stg_product__events") == {
        "not_null": ("pass", 0),
        "unique": ("fail", 1),
    }


def test_an_invoice_version_of_the_batch_without_its_id_fails_the_not_null_test(world_copy, tmp_path) -> None:
    with duckdb.connect(str(world_copy.warehouse)) as con:
        (newest,) = con.execute("select max(seq) from cdc.crm_changes").fetchone()
        # an invoice change without the invoice's id, delivered after everything else
        con.execute(
            "insert into cdc.crm_changes (seq, source_table, op, key, after, source_ts, ingested_at) "
            "select ?, 'invoices', 'u', key, json_object('account_id', after->>'account_id', 'amount', 10, "
            "'status', 'failed', 'due_date', '2026-01-01', 'event_at', source_ts), source_ts, ingested_at "
            "from cdc.crm_changes where source_table = 'invoices' order by seq desc limit 1",
            [newest + 1],
        )
        con.execute("delete from ops.change_batch")
        con.execute("insert into ops.change_batch values ('cdc.crm_changes', ?, ?)", [newest + 1, newest + 1])
    assert _key_tests(world_copy, tmp_path / "batch", "stg_crm__invoice_versions") == {
        "not_null_in_batch": ("fail", 1)
    }

    # a batch after it: that version was the business of the run that read it
    with duckdb.connect(str(world_copy.warehouse)) as con:
        con.execute("update ops.change_batch set first_seq = ?, last_seq = ?", [newest + 2, newest + 2])
    assert _key_tests(world_copy, tmp_path / "after", "stg_crm__invoice_versions") == {
        "not_null_in_batch": ("pass", 0)
    }
