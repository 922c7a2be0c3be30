"""The live frame reads only the last LOOKBACK_DAYS days before the judged day; its rows must be
those of a replay whose period starts long before, on the same day."""

from datetime import timedelta

import duckdb

from alerts.conditions.base import DERIVED_COLUMNS
from alerts.engine import evaluation_rows
from alerts.frame import LOOKBACK_DAYS, FrameSource, frame_sql
from ml.score import HISTORY_TABLE, ensure_scoring_tables

from alert_world import CLOCK


def test_the_live_frame_is_the_replay_frame_of_its_day(built_world) -> None:
    columns = ", ".join(["account_id", "signal_date", *DERIVED_COLUMNS])
    with duckdb.connect(str(built_world.settings.warehouse), read_only=True) as con:
        (as_of,) = con.execute("select max(signal_date) from signals.account_signals_daily").fetchone()
        live = con.execute(
            f"select {columns} from ({frame_sql(con, 'latest', FrameSource('none'))}) order by account_id",
            {"as_of": as_of},
        ).fetchall()
        replay = con.execute(
            f"select {columns} from ({frame_sql(con, 'range', FrameSource('none'))}) "
            "where signal_date = $as_of and not is_churned order by account_id",
            {"as_of": as_of, "start": as_of - timedelta(days=LOOKBACK_DAYS)},
        ).fetchall()
    assert len(live) > 100
    # the 90-day facts are there to compare: CRM events and NPS answers well before the day
    stakeholder_changes = [row[5] for row in live if row[5]]
    assert any(
        change["date"] < as_of - timedelta(days=60) for changes in stakeholder_changes for change in changes
    )
    assert any(row[10] is not None and row[10] > 60 for row in live)
    assert live == replay


def test_the_score_of_a_judged_day_is_the_latest_at_or_before_the_clock(warehouse) -> None:
    """The current score stands while it is not newer than the clock; otherwise (a replay at an
    earlier clock) the history gives the scoring the account had then."""
    now = CLOCK
    ensure_scoring_tables(warehouse)
    warehouse.execute(
        f"insert into {HISTORY_TABLE} select account_id, scored_at - interval 2 day, current_date, model_version, "
        "0.95, 5, 'Critical', null, drivers from scoring.account_health_scores"
    )
    live = {r["account_id"]: r for r in evaluation_rows(warehouse, now, None, True)}
    current = dict(
        warehouse.execute("select account_id, health_class from scoring.account_health_scores").fetchall()
    )
    assert live and all(live[a]["health_class"] == current[a] for a in live)
    # one account rescored after the clock: judged at the clock, it has its older scoring again
    (moved,) = sorted(live)[:1]
    warehouse.execute(
        "update scoring.account_health_scores set scored_at = ?, health_class = 'Healthy' where account_id = ?",
        [now + timedelta(hours=1), moved],
    )
    again = {r["account_id"]: r for r in evaluation_rows(warehouse, now, None, True)}
    assert again[moved]["health_class"] == "Critical" and again[moved]["churn_probability"] == 0.95
    assert all(again[a]["health_class"] == current[a] for a in again if a != moved)
