"""Business-hours SLAs in the owner's timezone: weekends, holidays, time zones and DST."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from alerts.sla import SlaHours, country_for_timezone, is_business_day, sla_due_at
from healthwatch.config import BusinessHours
from healthwatch.errors import HealthwatchError

HOURS = BusinessHours()  # 9–17


def utc(local: datetime, zone: str) -> datetime:
    """A local wall-clock time as naive UTC."""
    return local.replace(tzinfo=ZoneInfo(zone)).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def local(naive_utc: datetime, zone: str) -> datetime:
    return naive_utc.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(zone)).replace(tzinfo=None)


NY = "America/New_York"


def test_friday_afternoon_critical_is_due_monday_noon() -> None:
    opened = utc(datetime(2025, 11, 7, 16, 0), NY)  # Friday 16:00 New York
    due = sla_due_at(opened, "critical", NY, "US", HOURS)
    assert local(due, NY) == datetime(2025, 11, 10, 12, 0)  # Monday 12:00
    assert due == datetime(2025, 11, 10, 17, 0)  # naive UTC (EST = UTC−5)


def test_thanksgiving_is_skipped() -> None:
    opened = utc(datetime(2025, 11, 26, 16, 0), NY)  # Wednesday before Thanksgiving
    due = sla_due_at(opened, "critical", NY, "US", HOURS)
    assert local(due, NY) == datetime(2025, 11, 28, 12, 0)  # Friday, not Thursday


def test_a_holiday_in_the_middle_of_a_long_sla() -> None:
    # Veterans Day (Tue 11 Nov 2025) is a US federal holiday: 24 h from Monday 09:00 ends Thursday 17:00.
    opened = utc(datetime(2025, 11, 10, 9, 0), NY)
    assert local(sla_due_at(opened, "high", NY, "US", HOURS), NY) == datetime(2025, 11, 13, 17, 0)
    # The same hours for a UK owner do not skip it.
    london = "Europe/London"
    opened = utc(datetime(2025, 11, 10, 9, 0), london)
    assert local(sla_due_at(opened, "high", london, "GB", HOURS), london) == datetime(2025, 11, 12, 17, 0)


def test_opened_before_hours_starts_at_opening_time() -> None:
    opened = utc(datetime(2025, 11, 12, 6, 30), NY)  # Wednesday 06:30
    assert local(sla_due_at(opened, "critical", NY, "US", HOURS), NY) == datetime(2025, 11, 12, 13, 0)


def test_opened_after_hours_starts_next_business_morning() -> None:
    opened = utc(datetime(2025, 11, 12, 20, 0), NY)  # Wednesday 20:00
    assert local(sla_due_at(opened, "critical", NY, "US", HOURS), NY) == datetime(2025, 11, 13, 13, 0)


def test_opened_on_a_weekend_starts_monday() -> None:
    opened = utc(datetime(2025, 11, 15, 11, 0), NY)  # Saturday
    assert local(sla_due_at(opened, "critical", NY, "US", HOURS), NY) == datetime(2025, 11, 17, 13, 0)


def test_sydney_owner() -> None:
    sydney = "Australia/Sydney"
    # Monday 3 Nov 2025 22:00 UTC is Tuesday 09:00 in Sydney (AEDT, UTC+11).
    opened = datetime(2025, 11, 3, 22, 0)
    due = sla_due_at(opened, "critical", sydney, "AU", HOURS)
    assert local(due, sydney) == datetime(2025, 11, 4, 13, 0)
    assert due == datetime(2025, 11, 4, 2, 0)


def test_london_owner() -> None:
    london = "Europe/London"
    # Friday 15:00 BST (UTC+1) in June, 4 h → Monday 11:00 BST.
    opened = datetime(2025, 6, 13, 14, 0)
    due = sla_due_at(opened, "critical", london, "GB", HOURS)
    assert local(due, london) == datetime(2025, 6, 16, 11, 0)
    assert due == datetime(2025, 6, 16, 10, 0)


def test_dst_end_over_the_weekend() -> None:
    # US clocks go back on Sunday 2 Nov 2025: Friday is EDT (UTC−4), Monday is EST (UTC−5).
    opened = utc(datetime(2025, 10, 31, 16, 0), NY)
    assert opened == datetime(2025, 10, 31, 20, 0)
    due = sla_due_at(opened, "critical", NY, "US", HOURS)
    assert local(due, NY) == datetime(2025, 11, 3, 12, 0)
    assert due == datetime(2025, 11, 3, 17, 0)


def test_dst_start_in_europe() -> None:
    # UK clocks go forward on Sunday 30 Mar 2025: Friday GMT, Monday BST.
    london = "Europe/London"
    opened = datetime(2025, 3, 28, 16, 0)  # Friday 16:00 GMT
    due = sla_due_at(opened, "critical", london, "GB", HOURS)
    assert local(due, london) == datetime(2025, 3, 31, 12, 0)
    assert due == datetime(2025, 3, 31, 11, 0)


def test_severities_take_their_hours() -> None:
    opened = utc(datetime(2025, 11, 17, 9, 0), NY)  # Monday 09:00, a plain week
    due = {
        s: local(sla_due_at(opened, s, NY, "US", HOURS), NY) for s in ("critical", "high", "medium", "low")
    }
    assert due == {
        "critical": datetime(2025, 11, 17, 13, 0),
        "high": datetime(2025, 11, 19, 17, 0),  # three working days
        "medium": datetime(2025, 11, 24, 17, 0),  # six working days
        "low": datetime(2025, 11, 21, 17, 0),  # one working week: the weekly review
    }


def test_custom_business_hours_and_sla_hours() -> None:
    opened = utc(datetime(2025, 11, 17, 7, 0), NY)
    hours = BusinessHours(start_hour=8, end_hour=18)
    due = sla_due_at(opened, "critical", NY, "US", hours, SlaHours(critical=12))
    assert local(due, NY) == datetime(2025, 11, 18, 10, 0)


def test_bad_timezone_and_country_are_clear_errors() -> None:
    with pytest.raises(HealthwatchError, match="timezone"):
        sla_due_at(datetime(2025, 11, 17), "high", "Mars/Olympus", "US", HOURS)
    with pytest.raises(HealthwatchError, match="country"):
        sla_due_at(datetime(2025, 11, 17), "high", NY, "XX", HOURS)


def test_business_days_and_country_lookup() -> None:
    assert not is_business_day(datetime(2025, 12, 25).date(), "US")
    assert not is_business_day(datetime(2025, 11, 15).date(), "US")  # Saturday
    assert is_business_day(datetime(2025, 11, 28).date(), "US")  # day after Thanksgiving
    mapping = {"Europe/London": "GB"}
    assert country_for_timezone("Europe/London", mapping, "US") == "GB"
    assert country_for_timezone("Asia/Tokyo", mapping, "US") == "US"
    assert country_for_timezone(None, mapping, "US") == "US"
