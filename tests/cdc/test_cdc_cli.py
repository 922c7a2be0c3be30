"""The command's guards: a password on the command line is refused, a missing slot names the fix."""

import pytest
from cdc_support import libpq, source_sql
from typer.testing import CliRunner

from healthwatch.cdc.mapping import load_mapping
from healthwatch.cdc.reader import Reader, ReaderConfig
from healthwatch.cli import app
from healthwatch.errors import HealthwatchError


def test_a_password_on_the_command_line_is_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HEALTHWATCH_WAREHOUSE", str(tmp_path / "w.duckdb"))
    monkeypatch.delenv("HEALTHWATCH_CDC_PG_DSN", raising=False)
    result = CliRunner().invoke(
        app, ["cdc", "postgres", "--dsn", "postgresql://u:hunter2@127.0.0.1:1/db", "--tables", "s.invoices"]
    )
    assert isinstance(result.exception, HealthwatchError)
    assert "HEALTHWATCH_CDC_PG_DSN" in str(result.exception) and "hunter2" not in str(result.exception)


def test_a_missing_slot_is_created_only_when_asked(source_pg, tmp_path) -> None:
    source_sql(source_pg, "create schema guard; create table guard.invoices (invoice_id text primary key)")
    config = ReaderConfig(
        dsn=libpq(source_pg),
        warehouse=tmp_path / "w.duckdb",
        tables=load_mapping(None, ["guard.invoices"]),
        slot="never_created",
    )
    with pytest.raises(HealthwatchError, match="--create-slot"):
        Reader(config).run()
