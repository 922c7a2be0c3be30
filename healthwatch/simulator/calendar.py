"""How busy a day is for each segment: weekdays, weekends, US holidays, year end, seasons."""

import math
from datetime import date
from functools import lru_cache

import holidays
import numpy as np

SEGMENTS = ("enterprise", "mid_market", "smb")

# Share of a weekday's activity, per segment (enterprise, mid_market, smb).
_WEEKEND = np.array([0.15, 0.07, 0.015])
_HOLIDAY = np.array([0.25, 0.12, 0.05])
_YEAR_END = 0.35
_WEEKDAY = (1.0, 1.03, 1.0, 0.97, 0.85)


@lru_cache(maxsize=16)
def _us_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.US(years=year))


def is_holiday(day: date) -> bool:
    return day in _us_holidays(day.year)


def is_year_end(day: date) -> bool:
    return day.month == 12 and day.day >= 24


def segment_factors(day: date) -> np.ndarray:
    """Activity multiplier for (enterprise, mid_market, smb) on this date."""
    if day.weekday() >= 5:
        factors = _WEEKEND.copy()
    elif is_holiday(day):
        factors = _HOLIDAY.copy()
    else:
        factors = np.full(3, _WEEKDAY[day.weekday()])
    if is_year_end(day):
        factors = factors * _YEAR_END
    # Mild seasonality: busier in January, quieter in late summer.
    season = 1.0 + 0.05 * math.cos(2 * math.pi * (day.timetuple().tm_yday - 20) / 365.25)
    return factors * season


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and not is_holiday(day)
