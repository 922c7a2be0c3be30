"""What every fault test compares: a faulted warehouse against a twin that ran cleanly."""

import shutil
from pathlib import Path

import duckdb

from healthwatch.config import Settings
from healthwatch.warehouse import SOURCE_SYSTEMS, change_table

from tests_support import rounded_rows, settings_at


def twin_of(settings: Settings, where: Path) -> Settings:
    """A copy of a world's data folder (warehouse, models, outbox), to run cleanly beside the faulted one."""
    twin = settings_at(where / "data" / settings.warehouse.name)
    shutil.copytree(settings.data_dir, twin.data_dir, ignore=shutil.ignore_patterns("dagster_home"))
    return twin


def alerts(settings: Settings) -> list[tuple]:
    """Every alert row as BI reads it (`updated_at` is wall time, the rest is decided by the data)."""
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return rounded_rows(
            con.execute(
                "select * exclude (updated_at) from alerts.health_alerts order by alert_id"
            ).fetchall()
        )


def live_alerts(settings: Settings) -> list[tuple]:
    """The open / acknowledged alerts: account, type, severity, priority."""
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(
            "select account_id, alert_type, severity, priority from alerts.health_alerts "
            "where status in ('open', 'acknowledged') order by all"
        ).fetchall()


def duplicate_live_keys(settings: Settings) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(
            "select dedup_key, count(*) from alerts.health_alerts where status in ('open', 'acknowledged') "
            "group by 1 having count(*) > 1"
        ).fetchall()


def tasks(settings: Settings) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute("select alert_id, owner_id, subject from alerts.crm_tasks order by all").fetchall()


def mails(settings: Settings) -> list[tuple]:
    """The outbox as a set of (mail id, kind, recipient): each mail at most once."""
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(
            "select mail_id, kind, recipient_id from alerts.email_outbox order by all"
        ).fetchall()


def new_change_rows(before: Settings, after: Settings) -> dict[str, list[tuple]]:
    """The change rows `after` has beyond `before`'s highest seq, per change table."""
    out = {}
    with (
        duckdb.connect(str(before.warehouse), read_only=True) as old,
        duckdb.connect(str(after.warehouse), read_only=True) as new,
    ):
        for system in SOURCE_SYSTEMS:
            table = change_table(system)
            (top,) = old.execute(f"select coalesce(max(seq), 0) from {table}").fetchone()
            out[table] = new.execute(f"select * from {table} where seq > ? order by seq", [top]).fetchall()
    return out


def append_rows(settings: Settings, table: str, rows: list[tuple]) -> None:
    if rows:
        with duckdb.connect(str(settings.warehouse)) as con:
            con.executemany(f"insert into {table} values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
