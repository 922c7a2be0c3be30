"""What every alert type is made of: thresholds (a pydantic model), the finding a CSM reads, and the
two forms of the same condition — a Python evaluator over one evaluation row (the live engine) and
a SQL predicate over account-day rows (the replay in `alerts.evaluation`). A property test keeps
the two forms in agreement.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, create_model
from pydantic.fields import FieldInfo

Row = Mapping[str, Any]

# Facts the engine derives from signal history (not columns of any one table); `alerts.frame` computes them.
DERIVED_COLUMNS: dict[str, str] = {
    "payment_failure_days": "list of {date, count}: days with failed payments in the last 90 days",
    "cancellation_request_days": "list of {date, count}: days a cancellation request arrived (last 90 days)",
    "procurement_freeze_days": "list of {date, count}: days a procurement freeze was recorded (last 90 days)",
    "stakeholder_change_days": (
        "list of {date, kind, count}: champion departures, sponsor departures and budget-owner changes "
        "(last 90 days)"
    ),
    "champion_active_days_14d_prior": "champion_active_days_14d as it was 14 days before signal_date",
    "logins_7d_days_below_baseline": (
        "consecutive days, up to signal_date, with logins_7d under the account's 4-week normal (at most 91)"
    ),
    "api_error_rate_7d_baseline": "median api_error_rate_7d of the four prior same weekdays",
    "api_latency_p95_ms_7d_baseline": "median api_latency_p95_ms_7d of the four prior same weekdays",
    "days_since_nps_response": "days since the latest NPS answer (null when none in the last 90 days)",
    "tickets_escalated_7d": "escalated tickets opened in the 7 days ending signal_date",
}
# Event-recency windows cannot reach further back than the history the engine reads.
HISTORY_DAYS = 90

Family = Literal["usage", "engagement", "support", "commercial", "model"]


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Finding:
    """What a condition found: the sentence a CSM reads and the evidence behind it."""

    reason: str
    metric: str
    current: Any
    baseline: Any = None
    change: float | None = None
    window: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def evidence(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "current": _jsonable(self.current),
            "baseline": _jsonable(self.baseline),
            "change": None if self.change is None else round(float(self.change), 4),
            "window": self.window,
            **{key: _jsonable(value) for key, value in self.details.items()},
        }


@dataclass(frozen=True)
class TuningKnob:
    """The threshold `healthwatch tune` tightens, and the evidence value it is judged on.

    An alert would still fire under a tighter value `v` when `evidence[evidence] >= v` (`stricter`
    = "higher") or `<= v` ("lower"); `sign` = -1 reads a negative change as a positive drop.
    """

    key: str
    evidence: str
    stricter: Literal["higher", "lower"]
    sign: float = 1.0
    integer: bool = False


Evaluate = Callable[[Row, Any], Finding | None]
Holds = Callable[[Row, Any, Mapping[str, Any]], bool]
Sql = Callable[[Any], str]


@dataclass(frozen=True)
class AlertTypeSpec:
    """One alert type: thresholds model, evaluator, the columns it reads, and its SQL form.

    `holds` (optional) keeps an open alert open on a run where the firing condition is not met
    again but the situation persists (e.g. an account that turned Critical and stays Critical);
    `holds_sql` is its SQL form when it does not depend on the evidence the alert fired with.
    `uses_model`: the condition reads the churn score (the model's own alerts, not rule alerts).
    """

    name: str
    family: Family
    thresholds: type[Thresholds]
    evaluate: Evaluate
    needs: Callable[[Any], frozenset[str]]
    sql: Sql
    holds: Holds | None = None
    holds_sql: Sql | None = None
    uses_model: bool = False
    tuning: TuningKnob | None = None

    @property
    def partial_thresholds(self) -> type[BaseModel]:
        return partial_model(self.thresholds)


_PARTIALS: dict[type[BaseModel], type[BaseModel]] = {}


def partial_model(model: type[BaseModel]) -> type[BaseModel]:
    """The same fields and constraints, all optional: for segment overrides and escalations."""
    if model not in _PARTIALS:
        fields: dict[str, Any] = {
            name: (info.annotation, FieldInfo.merge_field_infos(info, default=None))
            for name, info in model.model_fields.items()
        }
        _PARTIALS[model] = create_model(
            f"Partial{model.__name__}", __config__=ConfigDict(extra="forbid", frozen=True), **fields
        )
    return _PARTIALS[model]


def needs(*columns: str) -> Callable[[Any], frozenset[str]]:
    return lambda _t: frozenset(columns)


# ---------------------------------------------------------------- formatting helpers


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):  # numpy / decimal-like scalars
        return value.item()
    return value


def fmt_number(value: Any) -> str:
    """58 → "58", 97.5 → "98", 1.25 → "1.2": whole numbers unless the value is small."""
    if value is None:
        return "n/a"
    number = float(value)
    if abs(number) >= 10 or number.is_integer():
        return f"{number:,.0f}"
    return f"{number:.1f}"


def day_label(day: date) -> str:
    return f"{day:%b} {day.day}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def recent_events(days: Any, as_of: date, window_days: int) -> list[Mapping[str, Any]]:
    """Entries of a `{date, count}` list that fall in the `window_days` days ending `as_of`."""
    return [d for d in (days or []) if 0 <= (as_of - d["date"]).days < window_days and d["count"] > 0]


def present(*values: Any) -> bool:
    return all(v is not None for v in values)


# ---------------------------------------------------------------- SQL helpers


def lit(value: Any) -> str:
    """A Python threshold as a SQL literal that DuckDB reads as the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"cast({value!r} as double)"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(lit(v) for v in value) + "]"
    raise TypeError(f"no SQL literal for {value!r}")


def sql_recent_count(column: str, window_days: int, kinds: tuple[str, ...] | None = None) -> str:
    """Sum of `count` over a `{date, count}` list's entries in the `window_days` days ending signal_date."""
    kind = f" and list_contains({lit(kinds)}, x.kind)" if kinds is not None else ""
    return (
        f"coalesce(list_sum([x.count for x in {column} if x.count > 0{kind} "
        f"and signal_date - x.date >= 0 and signal_date - x.date < {int(window_days)}]), 0)"
    )
