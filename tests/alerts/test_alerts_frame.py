"""The live frame reads only the last LOOKBACK_DAYS days before the judged day; its rows must be
those of a replay whose period starts long before, on the same day."""

from datetime import timedelta

import duckdb

from alerts.conditions.base import DERIVED_COLUMNS
from alerts.frame import LOOKBACK_DAYS, FrameSource, frame_sql


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
