"""The alert-storm guard: a run that opens far more alerts than the usual day is held for a person;
an ordinary run, or a first build with no history, is not; release and discard do what they say."""

from datetime import datetime, timedelta

import duckdb
import pytest

from alerts.schema import ALERTS_TABLE, COLUMNS, ensure_alerts_table
from alerts.storm import MIN_ALERTS, check_run, decide, held_storms, storms, usual_daily_opened
from healthwatch.errors import HealthwatchError

CLOCK = datetime(2026, 3, 2, 9, 0)
DEFAULTS = {"varchar": "x", "integer": 1, "double": 1.0, "boolean": False, "date": CLOCK.date(),
            "timestamp": CLOCK, "json": "{}"}  # fmt: skip


@pytest.fixture
def con():
    with duckdb.connect(":memory:") as connection:
        connection.execute("create schema alerts")
        ensure_alerts_table(connection)
        yield connection


def open_alerts(con, count: int, at: datetime, prefix: str) -> None:
    for i in range(count):
        row = {c.name: DEFAULTS[c.sql_type.split("(")[0]] for c in COLUMNS if c.not_null}
        row.update(alert_id=f"{prefix}-{i}", dedup_key=f"{prefix}-{i}", account_id=f"acc-{prefix}-{i}",
                   status="open", severity="high", opened_at=at)  # fmt: skip
        con.execute(
            f"insert into {ALERTS_TABLE} ({', '.join(row)}) values ({', '.join('?' * len(row))})",
            list(row.values()),
        )


def history(con, per_day: int, days: int = 20) -> None:
    for day in range(days, 0, -1):
        open_alerts(con, per_day, CLOCK - timedelta(days=day), f"h{day}")


def test_a_first_build_has_no_usual_and_no_storm(con) -> None:
    open_alerts(con, 500, CLOCK, "first")
    assert usual_daily_opened(con, CLOCK) is None
    assert check_run(con, CLOCK, 500, now=CLOCK) is None


def test_a_run_far_above_the_usual_day_is_held(con) -> None:
    history(con, per_day=3)
    open_alerts(con, 60, CLOCK, "storm")
    storm = check_run(con, CLOCK, 60, now=CLOCK)
    assert storm is not None and storm.usual == 3 and storm.threshold == max(MIN_ALERTS, 15)
    assert [s.storm_id for s in held_storms(con)] == [storm.storm_id]
    assert (
        check_run(con, CLOCK, 60, now=CLOCK) is not None and len(storms(con)) == 1
    )  # a retried run: one storm


def test_an_ordinary_or_small_run_is_not_a_storm(con) -> None:
    history(con, per_day=3)
    assert check_run(con, CLOCK, 12, now=CLOCK) is None  # 4x the usual
    assert check_run(con, CLOCK, MIN_ALERTS, now=CLOCK) is None  # never below the floor
    assert held_storms(con) == []


def test_release_keeps_the_alerts_and_discard_resolves_them_unsent(con) -> None:
    history(con, per_day=1)
    open_alerts(con, 30, CLOCK, "a")
    first = check_run(con, CLOCK, 30, now=CLOCK)
    assert decide(con, first.storm_id, "release", CLOCK) == 30
    assert held_storms(con) == []
    with pytest.raises(HealthwatchError, match="no held alert storm"):
        decide(con, first.storm_id, "discard", CLOCK)

    later = CLOCK + timedelta(days=1)
    open_alerts(con, 40, later, "b")
    second = check_run(con, later, 40, now=later)
    assert decide(con, second.storm_id, "discard", later, note="events feed broken") == 40
    (resolved, reason) = con.execute(
        f"select count(*), any_value(resolution) from {ALERTS_TABLE} where opened_at = ? and status = 'resolved'",
        [later],
    ).fetchone()
    assert resolved == 40 and reason == "alert storm discarded: events feed broken"
    assert con.execute(
        f"select count(*) from {ALERTS_TABLE} where opened_at = ? and status = 'open'", [CLOCK]
    ).fetchone() == (30,)
