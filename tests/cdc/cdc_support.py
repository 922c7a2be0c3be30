"""Helpers of the CDC tests: a source PostgreSQL connection, the reader as a real subprocess, and
reads of the warehouse that wait out the reader's short write locks."""

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import psycopg2

from healthwatch.config import Settings

from tests_support import REPO_ROOT

PASSWORD = "not-to-be-logged"


def libpq(dsn: str) -> str:
    """The test server's DSN for psycopg2 (no SQLAlchemy driver suffix)."""
    return dsn.replace("postgresql+psycopg2://", "postgresql://")


def with_password(dsn: str) -> str:
    """The DSN with a password in it (the server trusts loopback, so any password works): the
    tests check that it never reaches the reader's output."""
    return libpq(dsn).replace("postgres@", f"postgres:{PASSWORD}@")


def source_sql(dsn: str, *statements: str, params: list[Any] | None = None) -> None:
    """Run statements on the source, each in its own transaction (commit order = call order)."""
    con = psycopg2.connect(libpq(dsn))
    con.autocommit = True
    try:
        with con.cursor() as cur:
            for statement in statements:
                cur.execute(statement, params)
    finally:
        con.close()


def source_rows(dsn: str, query: str) -> list[tuple]:
    con = psycopg2.connect(libpq(dsn), options="-c timezone=UTC")
    try:
        with con.cursor() as cur:
            cur.execute(query)
            return cur.fetchall()
    finally:
        con.close()


def healthwatch_executable() -> str:
    found = Path(sys.executable).with_name("healthwatch")
    return str(found) if found.exists() else (shutil.which("healthwatch") or "healthwatch")


def start_reader(warehouse: Path, dsn: str, *args: str, log: Path) -> subprocess.Popen:
    """`healthwatch cdc postgres ARGS` on `warehouse`, the DSN only in the environment."""
    env = {
        **os.environ,
        "HEALTHWATCH_WAREHOUSE": str(warehouse),
        "HEALTHWATCH_CONFIG": str(REPO_ROOT / "healthwatch.yml"),
        "HEALTHWATCH_CDC_PG_DSN": with_password(dsn),
    }
    out = log.open("ab")
    return subprocess.Popen(
        [healthwatch_executable(), "cdc", "postgres", *args],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=REPO_ROOT,
    )


def stop_reader(process: subprocess.Popen, timeout: float = 30) -> int:
    """SIGTERM, then the exit code (the reader must stop by itself)."""
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=timeout)


def query(warehouse: Path, sql: str, params: list[Any] | None = None) -> list[tuple]:
    """One read-only query, retried while the reader holds the write lock for a moment."""
    for _ in range(400):
        try:
            with duckdb.connect(str(warehouse), read_only=True) as con:
                return con.execute(sql, params or []).fetchall()
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            time.sleep(0.05)
    raise AssertionError(f"the warehouse {warehouse} stayed locked")


def wait_until(
    check: Callable[[], bool], what: str, process: subprocess.Popen | None = None, timeout: float = 60
) -> None:
    """Poll `check` until it holds; fail naming `what` (a deadline for a hang, not a timing test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the reader exited ({process.returncode}) before {what}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def dbt_build(settings: Settings, target: Path) -> None:
    """What the signals asset does (as tests/pipeline/dbt_runner.py): open the pending batch,
    `dbt build`, mark the batch processed."""
    from healthwatch.batches import commit_batch, open_batch
    from pipelines.project import DBT_EXECUTABLE, DBT_PROJECT_DIR, dbt_cli_args

    with duckdb.connect(str(settings.warehouse)) as con:
        batch = open_batch(con)
    args = [DBT_EXECUTABLE, *dbt_cli_args("build", settings, full_refresh=False)]
    args += ["--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target)]
    result = subprocess.run(args, cwd=DBT_PROJECT_DIR, capture_output=True, text=True, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    with duckdb.connect(str(settings.warehouse)) as con:
        commit_batch(con, batch)
