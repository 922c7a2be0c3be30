"""Response deadlines counted in business hours of the owner's timezone.

Weekends and the public holidays of the owner's country (`holidays`) do not count. An alert
opened outside business hours starts its clock at the next business-hours start. Hours are
counted as elapsed time, so a day that changes daylight-saving time still has its full length.
"""

from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import BaseModel, ConfigDict, Field

from alerts.types import SEVERITIES
from healthwatch.config import BusinessHours
from healthwatch.errors import HealthwatchError


class SlaHours(BaseModel):
    """Business hours to respond, per severity (article: 4 h, 24 h, 48 h, weekly review)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    critical: float = Field(4, gt=0)
    high: float = Field(24, gt=0)
    medium: float = Field(48, gt=0)
    # "Low → weekly review": one working week of business hours (5 × 8 h).
    low: float = Field(40, gt=0)

    def for_severity(self, severity: str) -> float:
        if severity not in SEVERITIES:
            raise HealthwatchError(f"unknown severity {severity!r}", f"use one of {', '.join(SEVERITIES)}")
        return getattr(self, severity)


DEFAULT_SLA_HOURS = SlaHours()


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise HealthwatchError(
            f"unknown timezone {name!r}", "use an IANA name such as America/New_York"
        ) from exc


@lru_cache(maxsize=64)
def _holidays(country: str) -> holidays.HolidayBase:
    if country not in holidays.list_supported_countries():
        raise HealthwatchError(
            f"no holiday calendar for country {country!r}",
            "use an ISO 3166 code the `holidays` library knows (US, GB, DE, AU, ...)",
        )
    return holidays.country_holidays(country)


def public_holidays(country: str) -> holidays.HolidayBase:
    """The public holidays of `country` (a mapping date → name, filled per year on demand)."""
    return _holidays(country)


def is_business_day(day: date, country: str, extra_holidays: Collection[date] = frozenset()) -> bool:
    """A weekday that is neither a public holiday of `country` nor one of `extra_holidays`."""
    return day.weekday() < 5 and day not in _holidays(country) and day not in extra_holidays


def _at(day: date, hour: int, zone: ZoneInfo) -> datetime:
    """Local wall-clock `hour` on `day` as an aware datetime (hour 24 is the next midnight)."""
    naive = datetime.combine(day, time()) + timedelta(hours=hour)
    return naive.replace(tzinfo=zone)


def sla_due_at(
    opened_at_utc: datetime,
    severity: str,
    timezone: str,
    country: str,
    business_hours: BusinessHours,
    hours: SlaHours = DEFAULT_SLA_HOURS,
    extra_holidays: Collection[date] = frozenset(),
) -> datetime:
    """When the response is due, as a naive UTC datetime.

    `opened_at_utc` is naive UTC (the pipeline's clock). `timezone` is the owner's IANA zone,
    `country` the public-holiday calendar to skip, `extra_holidays` the company's own days off.
    """
    return _due_at(
        opened_at_utc,
        hours.for_severity(severity),
        timezone,
        country,
        business_hours.start_hour,
        business_hours.end_hour,
        frozenset(extra_holidays),
    )


# One alert run asks for the same few answers tens of thousands of times (every candidate starts
# its clock at the run's clock; owners share a handful of timezones): 5 of 20 s at 100,000 accounts.
@lru_cache(maxsize=4096)
def _due_at(
    opened_at_utc: datetime,
    hours: float,
    timezone: str,
    country: str,
    start_hour: int,
    end_hour: int,
    extra_holidays: frozenset[date],
) -> datetime:
    zone = _zone(timezone)
    remaining = timedelta(hours=hours)
    cursor = opened_at_utc.replace(tzinfo=UTC)
    day = cursor.astimezone(zone).date()
    # Bounded: a year of consecutive non-working days would be a broken calendar.
    for _ in range(366 * 2):
        if is_business_day(day, country, extra_holidays):
            start = _at(day, start_hour, zone).astimezone(UTC)
            end = _at(day, end_hour, zone).astimezone(UTC)
            cursor = max(cursor, start)
            if cursor < end:
                available = end - cursor
                if remaining <= available:
                    return (cursor + remaining).replace(tzinfo=None)
                remaining -= available
        day += timedelta(days=1)
    raise HealthwatchError(
        f"no business hours found within two years for {timezone} / {country}",
        "check the calendar settings in healthwatch.yml",
    )


def country_for_timezone(timezone: str | None, country_by_timezone: dict[str, str], default: str) -> str:
    """The holiday country of an owner, from their timezone (calendar settings)."""
    if timezone is None:
        return default
    return country_by_timezone.get(timezone, default)
