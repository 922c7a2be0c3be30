"""The alert-storm guard.

A run that opens far more alerts than usual is more likely a broken source (a feed that stopped,
making every account look dark) than a bad day for half the customers. Such a run's alerts are
still written (BI sees them), but delivery — CRM tasks, mails, Slack — is held, one operator alert
shows in Dagster, and a person decides: `healthwatch storm release` delivers them,
`healthwatch storm discard` resolves them unsent.

"Usual" is the median of alerts opened per day over the 28 days before the run (days with none
count as zero); a storm is more than `factor` times that and at least `min_alerts`. With less than
a week of alert history (the first build) there is no usual yet and no storm.
"""

from dataclasses import dataclass
from datetime import datetime

import duckdb

from alerts.schema import ALERTS_TABLE
from healthwatch.errors import HealthwatchError
from healthwatch.warehouse import table_exists

STORMS_TABLE = "alerts.alert_storms"
FACTOR = 5.0
MIN_ALERTS = 20
HISTORY_DAYS = 28
MIN_HISTORY_DAYS = 7

STORMS_DDL = f"""
create table if not exists {STORMS_TABLE} (
    storm_id varchar primary key,     -- the run clock, ISO
    run_clock timestamp not null,     -- alerts opened at this clock belong to the storm
    opened integer not null,
    usual double not null,
    threshold double not null,
    status varchar not null,          -- held | released | discarded
    detected_at timestamp not null,
    decided_at timestamp,
    note varchar
)
"""


@dataclass(frozen=True)
class Storm:
    storm_id: str
    run_clock: datetime
    opened: int
    usual: float
    threshold: float
    status: str
    note: str | None = None


def ensure_storms_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists alerts")
    con.execute(STORMS_DDL)


def usual_daily_opened(con: duckdb.DuckDBPyConnection, clock: datetime) -> float | None:
    """Median alerts opened per day over the 28 days before `clock`'s day; None with under a week of history."""
    if not table_exists(con, ALERTS_TABLE):
        return None
    day = clock.date()
    first = con.execute(f"select min(cast(opened_at as date)) from {ALERTS_TABLE}").fetchone()[0]
    if first is None or (day - first).days < MIN_HISTORY_DAYS:
        return None
    (usual,) = con.execute(
        f"""
        with days as (select unnest(generate_series(greatest(?::date - {HISTORY_DAYS}, ?::date), ?::date - 1,
                                                     interval 1 day))::date as day),
        opened as (select cast(opened_at as date) as day, count(*) as n from {ALERTS_TABLE} group by 1)
        select median(coalesce(opened.n, 0)) from days left join opened using (day)
        """,
        [day, first, day],
    ).fetchone()
    return float(usual or 0.0)


def check_run(con: duckdb.DuckDBPyConnection, clock: datetime, opened: int, now: datetime) -> Storm | None:
    """Record a storm when this run (alerts opened at `clock`) opened far more than usual."""
    usual = usual_daily_opened(con, clock)
    if usual is None:
        return None
    threshold = max(float(MIN_ALERTS), FACTOR * usual)
    if opened <= threshold:
        return None
    ensure_storms_table(con)
    storm = Storm(clock.isoformat(), clock, opened, usual, threshold, "held")
    con.execute(
        f"insert or ignore into {STORMS_TABLE} values (?, ?, ?, ?, ?, 'held', ?, null, null)",
        [storm.storm_id, clock, opened, usual, threshold, now],
    )
    return storm


def held_storms(con: duckdb.DuckDBPyConnection) -> list[Storm]:
    """Storms waiting for a person; while there is one, nothing is delivered."""
    return storms(con, status="held")


def storms(con: duckdb.DuckDBPyConnection, status: str | None = None) -> list[Storm]:
    if not table_exists(con, STORMS_TABLE):
        return []
    where = "where status = ?" if status else ""
    rows = con.execute(
        f"select storm_id, run_clock, opened, usual, threshold, status, note from {STORMS_TABLE} {where} "
        "order by run_clock",
        [status] if status else [],
    ).fetchall()
    return [Storm(*row) for row in rows]


def decide(
    con: duckdb.DuckDBPyConnection, storm_id: str, action: str, now: datetime, note: str | None = None
) -> int:
    """`release` a held storm (its alerts are delivered by the next run) or `discard` it (its alerts
    still live are resolved with the note as resolution; a condition that persists alerts again
    after its repeat interval). Returns the alerts affected."""
    held = {s.storm_id: s for s in held_storms(con)}
    if storm_id not in held:
        raise HealthwatchError(f"no held alert storm {storm_id!r}", "list them with `healthwatch storm list`")
    if action not in ("release", "discard"):
        raise HealthwatchError(f"unknown action {action!r}", "use release or discard")
    storm = held[storm_id]
    con.execute("begin")
    affected = con.execute(
        f"select count(*) from {ALERTS_TABLE} where opened_at = ? and status in ('open', 'acknowledged')",
        [storm.run_clock],
    ).fetchone()[0]
    if action == "discard":
        con.execute(
            f"""update {ALERTS_TABLE} set status = 'resolved', resolved_at = ?, resolution = ?, updated_at = ?
            where opened_at = ? and status in ('open', 'acknowledged')""",
            [now, f"alert storm discarded: {note or 'no reason given'}", now, storm.run_clock],
        )
    con.execute(
        f"update {STORMS_TABLE} set status = ?, decided_at = ?, note = ? where storm_id = ?",
        ["released" if action == "release" else "discarded", now, note, storm_id],
    )
    con.execute("commit")
    return int(affected)
