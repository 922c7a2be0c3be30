"""The DuckDB warehouse: connections, the change-table contract and the signals' clock.

DuckDB allows one writing process per file: writers retry briefly on a lock, readers open
read-only, run one query and close (STACK.md trap 5).
"""

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import duckdb

from healthwatch.errors import HealthwatchError

# The source systems and the tables each one lands (DESIGN.md, source contract).
SOURCE_SYSTEMS: dict[str, tuple[str, ...]] = {
    "crm": ("accounts", "contracts", "contacts", "invoices", "crm_events", "team", "tasks"),
    "support": ("tickets",),
    "product": ("events",),
    "engagement": ("survey_sends", "nps_responses"),
}

# Debezium-style envelope; `key` is the source primary key as text.
CHANGE_TABLE_COLUMNS = """
    seq bigint not null,
    source_table varchar not null,
    op varchar not null,
    key varchar not null,
    before json,
    after json,
    source_ts timestamp not null,
    ingested_at timestamp not null
"""


# A change row refused by the screen (data_quality/quarantine.py); staging skips these rows.
QUARANTINE_COLUMNS = """
    quarantined_at timestamp not null,
    seq bigint not null,
    ingested_at timestamp,
    source_table varchar,
    op varchar,
    key varchar,
    expectation varchar not null,
    column_name varchar,
    value varchar,
    reason varchar not null,
    before json,
    after json,
    source_ts timestamp,
    status varchar not null,
    replayed_seq bigint
"""

# The data clock dbt built the signals to (one row: first_date, as_of_date, as_of_at).
SIGNALS_CLOCK = "staging.stg_cdc__clock"
# The first and last source time of the processed change rows, per change table (healthwatch.batches).
PROCESSED_TIMES = "ops.processed_times"


def quarantine_table(system: str) -> str:
    """`quarantine.<system>_changes`: the refused change rows of one system."""
    return f"quarantine.{system}_changes"


def change_table(system: str) -> str:
    """Fully qualified name of a system's change table, e.g. `cdc.crm_changes`."""
    if system not in SOURCE_SYSTEMS:
        raise HealthwatchError(f"unknown source system {system!r}", f"use one of {', '.join(SOURCE_SYSTEMS)}")
    return f"cdc.{system}_changes"


@contextmanager
def connect(
    path: Path, read_only: bool = False, attempts: int = 20, settings: Mapping[str, str] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, retrying while another process holds the write lock.

    The DuckDB settings (memory limit, threads, spill folder) are `settings`, or else those of
    the config HEALTHWATCH_CONFIG names (`warehouse:` in healthwatch.yml, HEALTHWATCH_DUCKDB_*)."""
    if read_only and not path.exists():
        raise HealthwatchError(
            f"warehouse not found: {path}",
            "run `healthwatch simulate` (or `healthwatch demo`), or set HEALTHWATCH_WAREHOUSE to an existing file",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    delay = 0.05
    for attempt in range(attempts):
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or attempt == attempts - 1:
                raise HealthwatchError(
                    f"cannot open the warehouse {path}: {exc}",
                    "another process holds it; wait for it to finish or stop it",
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    try:
        apply_settings(con, _settings_for(path) if settings is None else settings)
        yield con
    finally:
        con.close()


def apply_settings(con: duckdb.DuckDBPyConnection, settings: Mapping[str, str]) -> None:
    """`SET` each DuckDB setting on an open connection (they apply to the whole database instance)."""
    for name, value in settings.items():
        if name == "temp_directory":
            (current,) = con.execute("select current_setting('temp_directory')").fetchone()
            if current == value:
                continue  # DuckDB refuses to move a spill folder it is using; unchanged is fine
        con.execute(f"set {name} = '{str(value).replace(chr(39), chr(39) * 2)}'")


def _settings_for(path: Path) -> dict[str, str]:
    from healthwatch.config import duckdb_settings, load_config

    _, config = load_config()
    return duckdb_settings(config.warehouse, path.resolve())


def ensure_change_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the `cdc` schema, one change table per source system, the `ops` tables that record
    which change rows were processed (see healthwatch.batches) and the change-row quarantine, if missing."""
    con.execute("create schema if not exists cdc")
    for system in SOURCE_SYSTEMS:
        con.execute(f"create table if not exists {change_table(system)} ({CHANGE_TABLE_COLUMNS})")
    con.execute("create schema if not exists ops")
    for table in ("ops.change_batch", "ops.processed_changes"):
        con.execute(
            f"create table if not exists {table} (change_table varchar, first_seq bigint, last_seq bigint)"
        )
    con.execute("create table if not exists ops.processed_clock (as_of_date date)")
    con.execute("create schema if not exists quarantine")
    for system in SOURCE_SYSTEMS:
        con.execute(f"create table if not exists {quarantine_table(system)} ({QUARANTINE_COLUMNS})")
    con.execute("create table if not exists ops.open_batch (as_of_date date, full_refresh boolean)")
    if not table_exists(con, PROCESSED_TIMES):
        # Created with what it must hold in one statement, so it is never there and wrong: on a
        # warehouse processed before it existed, the times of every processed row (read once).
        ranges: dict[str, list[tuple[int, int]]] = {}
        for table, first, last in con.execute("select * from ops.processed_changes").fetchall():
            ranges.setdefault(table, []).append((first, last))
        processed = " union all ".join(
            f"select '{change_table(s)}' as change_table, * from "
            f"({kept_times_sql(s, ranges.get(change_table(s), []))}) where first_ts is not null"
            for s in SOURCE_SYSTEMS
        )
        con.execute(f"create table {PROCESSED_TIMES} as {processed}")


def kept_times_sql(system: str, seq_ranges: list[tuple[int, int]]) -> str:
    """A select of the first and last source time (`first_ts`, `last_ts`; null when none) of the
    change rows of `system` in `seq_ranges` the screen did not refuse."""
    where = " or ".join(f"seq between {int(first)} and {int(last)}" for first, last in seq_ranges)
    return (
        "select min(source_ts) as first_ts, max(source_ts) as last_ts "
        f"from {kept_changes_sql(system)} where {where or 'false'}"
    )


def kept_changes_sql(system: str) -> str:
    """The change rows of `system` the screen did not refuse (data_quality/quarantine.py), as a
    `from` item aliased `c`.

    An anti join, not `not exists`: with any other condition on the rows beside it, DuckDB plans
    the correlated form as a join that first collects every row's (seq, ingested_at), and at 85 M
    product events the newest time of the rows with seq > 0 ran out of its 2.5 GB that way; as an
    anti join it took 0.65 s."""
    return (
        f"{change_table(system)} as c anti join {quarantine_table(system)} as q "
        "on q.seq = c.seq and q.ingested_at = c.ingested_at"
    )


def table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, name = qualified.split(".")
    (count,) = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchall()[0]
    return bool(count)


def require_tables(con: duckdb.DuckDBPyConnection, *tables: str, fix: str) -> None:
    """Fail with one clear line when a table the step reads is not there yet."""
    missing = [t for t in tables if not table_exists(con, t)]
    if missing:
        raise HealthwatchError(f"the warehouse has no {', '.join(missing)}", fix)


def signals_clock(con: duckdb.DuckDBPyConnection) -> datetime:
    """The data clock the signal tables were last built to (dbt's `staging.stg_cdc__clock`).

    The steps after dbt in a run take it as their "now", so one run's signals, scores, alerts and
    mails share one clock even when changes land meanwhile; and it is one row to read, where
    `healthwatch.batches.data_clock` reads the change rows not processed yet.
    """
    require_tables(con, SIGNALS_CLOCK, fix="build the signals first (`healthwatch run` or `dbt build`)")
    (clock,) = con.execute(f"select as_of_at from {SIGNALS_CLOCK}").fetchone()
    if clock is None:
        raise HealthwatchError(
            f"{SIGNALS_CLOCK} is empty: the signals were built from empty change tables",
            "run `healthwatch simulate` or `healthwatch load`, then `healthwatch run`",
        )
    return clock


def max_seqs(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The highest `seq` per change table (0 for an empty table)."""
    out = {}
    for system in SOURCE_SYSTEMS:
        (seq,) = con.execute(f"select coalesce(max(seq), 0) from {change_table(system)}").fetchall()[0]
        out[change_table(system)] = int(seq)
    return out
