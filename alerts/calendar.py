"""calendar.yml: the company's own calendar — company holidays, maintenance windows, and which alert
types a holiday suppresses.

Public holidays come from the `holidays` library for the owner's country (healthwatch.yml
`calendar.country_by_timezone`); company holidays are added to them, for every office or for the
countries listed. Both are skipped by SLA clocks. A maintenance window suppresses the alerts its
matchers name while the signals still reflect it; a holiday suppresses the usage alerts whose
7-day window contains it (a quiet holiday week is not a usage drop).

The file is found through the setting `calendar.company_calendar_file` in healthwatch.yml
(relative to that file); without the setting, `calendar.yml` beside healthwatch.yml is used when
it exists, and an empty calendar otherwise.
"""

from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerts.conditions import ALERT_TYPES
from alerts.sla import public_holidays
from alerts.types import Segment
from healthwatch.config import Settings
from healthwatch.yaml_config import load_yaml_model

DEFAULT_CALENDAR_FILE = "calendar.yml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_types(types: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [t for t in types if t not in ALERT_TYPES]
    if unknown:
        raise ValueError(f"unknown alert type {unknown[0]!r}; known types: {', '.join(ALERT_TYPES)}")
    return types


class CompanyHoliday(_Strict):
    date: date
    name: str = Field(min_length=1)
    countries: tuple[str, ...] = Field((), description="ISO codes of the offices it applies to; empty: all")


class MaintenanceWindow(_Strict):
    """Planned work (an outage, a migration): matching alerts are held while signals reflect it."""

    name: str = Field(min_length=1)
    starts_at: datetime
    ends_at: datetime
    reason: str = Field(min_length=1)
    alert_types: tuple[str, ...] = ()
    segments: tuple[Segment, ...] = ()
    account_ids: tuple[str, ...] = ()
    lookback_days: int = Field(
        7, ge=1, le=28, description="a day judged this many days after the end still reflects it (7d windows)"
    )

    @field_validator("alert_types")
    @classmethod
    def _types(cls, types: tuple[str, ...]) -> tuple[str, ...]:
        return _known_types(types)

    @model_validator(mode="after")
    def _ordered(self) -> "MaintenanceWindow":
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self

    def matches(self, alert_type: str, segment: str | None, account_id: str) -> bool:
        return (
            (not self.alert_types or alert_type in self.alert_types)
            and (not self.segments or segment in self.segments)
            and (not self.account_ids or account_id in self.account_ids)
        )

    def covers(self, signal_date: date) -> bool:
        """Whether the signals of `signal_date` (7-day windows ending it) still include the window."""
        first = self.starts_at.date()
        last = self.ends_at.date() + timedelta(days=self.lookback_days - 1)
        return first <= signal_date <= last


class HolidaySuppression(_Strict):
    enabled: bool = True
    alert_types: tuple[str, ...] = ("usage_drop", "product_abandonment")
    window_days: int = Field(7, ge=1, le=28, description="the judged window: a holiday in it suppresses")
    public_holidays: bool = Field(True, description="public holidays of the owner's country count too")

    @field_validator("alert_types")
    @classmethod
    def _types(cls, types: tuple[str, ...]) -> tuple[str, ...]:
        return _known_types(types)


class CompanyCalendar(_Strict):
    """The whole of calendar.yml."""

    version: int = Field(1, ge=1, le=1)
    company_holidays: tuple[CompanyHoliday, ...] = ()
    maintenance_windows: tuple[MaintenanceWindow, ...] = ()
    holiday_suppression: HolidaySuppression = HolidaySuppression()

    @cached_property
    def _by_country(self) -> dict[str, dict[date, str]]:
        return {}

    def company_holidays_for(self, country: str) -> dict[date, str]:
        """Company holidays that apply to an office in `country`: date → name."""
        cache = self._by_country
        if country not in cache:
            cache[country] = {
                h.date: h.name for h in self.company_holidays if not h.countries or country in h.countries
            }
        return cache[country]

    def holiday_in_window(self, signal_date: date, country: str) -> tuple[date, str] | None:
        """The latest holiday (company, or public if enabled) in the judged window ending `signal_date`."""
        rule = self.holiday_suppression
        company = self.company_holidays_for(country)
        public = public_holidays(country) if rule.public_holidays else {}
        for back in range(rule.window_days):
            day = signal_date - timedelta(days=back)
            name = company.get(day) or public.get(day)
            if name:
                return day, name
        return None

    def maintenance_for(
        self, alert_type: str, segment: str | None, account_id: str, signal_date: date
    ) -> MaintenanceWindow | None:
        for window in self.maintenance_windows:
            if window.matches(alert_type, segment, account_id) and window.covers(signal_date):
                return window
        return None


EMPTY_CALENDAR = CompanyCalendar()


def company_calendar_path(settings: Settings) -> tuple[Path, bool]:
    """The calendar file and whether it must exist (it must when the setting names it)."""
    configured = getattr(settings.config.calendar, "company_calendar_file", None)
    base = settings.config_path.parent
    if configured:
        path = Path(configured)
        return (path if path.is_absolute() else base / path), True
    return base / DEFAULT_CALENDAR_FILE, False


def load_company_calendar(settings: Settings) -> CompanyCalendar:
    """Read and validate the company calendar (HealthwatchError naming the file and key if bad)."""
    path, required = company_calendar_path(settings)
    if not required and not path.is_file():
        return EMPTY_CALENDAR
    return load_yaml_model(path, CompanyCalendar)
