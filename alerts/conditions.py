"""Alert conditions: for each alert type, its thresholds (a pydantic model) and the pure function
that judges one evaluation row against them.

An evaluation row is a mapping with the account's latest `signals.account_signals_daily` row,
its `signals.account_baselines` row for that day, its current health score, and a few facts the
engine derives from recent signal history (listed in `DERIVED_COLUMNS`). Evaluators never touch
the warehouse, so each can be tested with a dict.

Adding an alert type: write its thresholds model and evaluator here, register it in
`ALERT_TYPES`, and give it an entry in alert_rules.yml (the file must configure every type).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator
from pydantic.fields import FieldInfo

from alerts.types import HEALTH_CLASS_RANK, HealthClass

Row = Mapping[str, Any]

# Facts the engine derives from signal history (not columns of any one table).
DERIVED_COLUMNS: dict[str, str] = {
    "payment_failure_days": "list of {date, count}: days with failed payments in the last 90 days",
    "cancellation_request_days": "list of {date, count}: days a cancellation request arrived (last 90 days)",
    "champion_active_days_14d_prior": "champion_active_days_14d as it was 14 days before signal_date",
}
# Event-recency windows cannot reach further back than the history the engine reads.
HISTORY_DAYS = 90


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


Evaluate = Callable[[Row, Any], Finding | None]
Holds = Callable[[Row, Any, Mapping[str, Any]], bool]


@dataclass(frozen=True)
class AlertTypeSpec:
    """One alert type: its thresholds model, its evaluator and the row keys it reads.

    `holds` (optional) keeps an open alert open on a run where the firing condition is not met
    again but the situation persists (e.g. an account that turned Critical and stays Critical).
    """

    name: str
    thresholds: type[Thresholds]
    evaluate: Evaluate
    needs: Callable[[Any], frozenset[str]]
    holds: Holds | None = None

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


# ---------------------------------------------------------------- formatting helpers


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 4)
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


def _day(day: date) -> str:
    return f"{day:%b} {day.day}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _recent_events(days: Any, as_of: date, window_days: int) -> list[Mapping[str, Any]]:
    """Entries of a `{date, count}` list that fall in the `window_days` days ending `as_of`."""
    return [d for d in (days or []) if 0 <= (as_of - d["date"]).days < window_days and d["count"] > 0]


# ---------------------------------------------------------------- payment_failure


class PaymentFailureThresholds(Thresholds):
    window_days: int = Field(7, ge=1, le=HISTORY_DAYS, description="look back this many days")
    min_failures: int = Field(1, ge=1, description="failed payments in the window to fire")


def payment_failure(row: Row, t: PaymentFailureThresholds) -> Finding | None:
    recent = _recent_events(row["payment_failure_days"], row["signal_date"], t.window_days)
    failures = sum(int(d["count"]) for d in recent)
    if failures < t.min_failures:
        return None
    latest = max(d["date"] for d in recent)
    days_ago = (row["signal_date"] - latest).days
    when = "today" if days_ago == 0 else f"{_plural(days_ago, 'day')} ago"
    return Finding(
        reason=(
            f"{_plural(failures, 'failed payment')} in the last {t.window_days} days, "
            f"the latest on {_day(latest)} ({when})"
        ),
        metric="payment_failures",
        current=failures,
        window=f"{t.window_days}d",
        details={"last_failure_date": latest, "payment_failures_30d": row.get("payment_failures_30d")},
    )


# ---------------------------------------------------------------- usage_drop

UsageMetric = Literal["logins_7d", "active_users_7d", "core_feature_uses_7d"]
USAGE_METRIC_LABELS: dict[str, str] = {
    "logins_7d": "Logins 7d",
    "active_users_7d": "Active users 7d",
    "core_feature_uses_7d": "Core-feature uses 7d",
}


class UsageDropThresholds(Thresholds):
    # 7-day sums against the same 7-day sums of the 4 prior weeks: a weekend is inside both,
    # so a small team's quiet Saturday is not a drop.
    metric: UsageMetric = "logins_7d"
    drop: float = Field(0.30, gt=0, lt=1, description="fraction below the account's own baseline")
    max_robust_z: float = Field(-2.0, le=0, description="robust z-score must be at or below this")
    min_baseline_days: int = Field(21, ge=7, description="days of history the baseline needs")
    min_baseline: float = Field(5, ge=0, description="ignore accounts whose normal is below this")


def usage_drop(row: Row, t: UsageDropThresholds) -> Finding | None:
    m = t.metric
    current, baseline = row[m], row[f"{m}_baseline"]
    baseline_days, z = row["baseline_days"], row[f"{m}_robust_z"]
    if current is None or baseline is None or baseline_days is None:
        return None
    if baseline_days < t.min_baseline_days or baseline <= 0 or baseline < t.min_baseline:
        return None
    change = row[f"{m}_change"]
    if change is None:
        change = current / baseline - 1
    if change > -t.drop + 1e-9:
        return None
    # A zero MAD leaves z undefined: the account's normal never varied, so any drop this size is unusual.
    if z is not None and z > t.max_robust_z:
        return None
    return Finding(
        reason=(
            f"{USAGE_METRIC_LABELS[m]} {abs(change):.0%} below this account's 4-week normal "
            f"({fmt_number(current)} vs {fmt_number(baseline)})"
        ),
        metric=m,
        current=current,
        baseline=baseline,
        change=change,
        window="7d vs median of 4 prior weeks",
        details={"robust_z": z, "baseline_days": baseline_days},
    )


# ---------------------------------------------------------------- health_class_change


class HealthClassChangeThresholds(Thresholds):
    to_classes: tuple[HealthClass, ...] = Field(("At-Risk", "Critical"), min_length=1)

    @field_validator("to_classes")
    @classmethod
    def _worse_only(cls, classes: tuple[str, ...]) -> tuple[str, ...]:
        if "Healthy" in classes:
            raise ValueError("a worsening cannot end in Healthy; use At-Risk and/or Critical")
        return classes


def health_class_change(row: Row, t: HealthClassChangeThresholds) -> Finding | None:
    previous, current = row["previous_health_class"], row["health_class"]
    if previous not in HEALTH_CLASS_RANK or current not in HEALTH_CLASS_RANK:
        return None
    if HEALTH_CLASS_RANK[current] <= HEALTH_CLASS_RANK[previous] or current not in t.to_classes:
        return None
    probability = row.get("churn_probability")
    odds = f" (churn probability {probability:.0%})" if probability is not None else ""
    return Finding(
        reason=f"Health class worsened from {previous} to {current}{odds}",
        metric="health_class",
        current=current,
        baseline=previous,
        window="since the previous scoring",
        details={"churn_probability": probability, "health_score": row.get("health_score")},
    )


def health_class_holds(row: Row, t: HealthClassChangeThresholds, evidence: Mapping[str, Any]) -> bool:
    """Stay open while the account is still at (or below) the class the alert fired for."""
    current, fired_at = row.get("health_class"), evidence.get("current")
    if current not in HEALTH_CLASS_RANK or fired_at not in HEALTH_CLASS_RANK:
        return True  # no score this run: unknown is not recovered
    return HEALTH_CLASS_RANK[current] >= HEALTH_CLASS_RANK[fired_at]


# ---------------------------------------------------------------- ticket_spike


class TicketSpikeThresholds(Thresholds):
    min_tickets_7d: int = Field(3, ge=1, description="tickets in 7 days, at least (article: 3 in a week)")
    baseline_multiple: float = Field(3.0, ge=1, description="and this many times the account's normal")
    min_baseline_days: int = Field(21, ge=7, description="history needed before the baseline is used")


def ticket_spike(row: Row, t: TicketSpikeThresholds) -> Finding | None:
    tickets, baseline, baseline_days = row["tickets_7d"], row["tickets_7d_baseline"], row["baseline_days"]
    if tickets is None or tickets < t.min_tickets_7d:
        return None
    has_baseline = baseline is not None and baseline_days is not None and baseline_days >= t.min_baseline_days
    if has_baseline and baseline > 0 and tickets < t.baseline_multiple * baseline:
        return None
    if has_baseline and baseline > 0:
        versus = f"{tickets / baseline:.1f}× this account's 4-week normal of {fmt_number(baseline)}"
    elif has_baseline:
        versus = "none in a normal week"
    else:
        versus = "not enough history yet for a normal"
    return Finding(
        reason=f"{_plural(int(tickets), 'support ticket')} in the last 7 days ({versus})",
        metric="tickets_7d",
        current=tickets,
        baseline=baseline if has_baseline else None,
        change=(tickets / baseline - 1) if has_baseline and baseline else None,
        window="7d vs median of 4 prior weeks",
        details={
            "tickets_negative_7d": row.get("tickets_negative_7d"),
            "tickets_escalated_28d": row.get("tickets_escalated_28d"),
        },
    )


# ---------------------------------------------------------------- cancellation_request


class CancellationRequestThresholds(Thresholds):
    window_days: int = Field(
        30, ge=1, le=HISTORY_DAYS, description="the alert stays live this long after a request"
    )


def cancellation_request(row: Row, t: CancellationRequestThresholds) -> Finding | None:
    recent = _recent_events(row["cancellation_request_days"], row["signal_date"], t.window_days)
    if not recent:
        return None
    latest = max(d["date"] for d in recent)
    requests = sum(int(d["count"]) for d in recent)
    return Finding(
        reason=(
            f"{_plural(requests, 'cancellation request')} in the last {t.window_days} days, "
            f"the latest on {_day(latest)}"
        ),
        metric="cancellation_requests",
        current=requests,
        window=f"{t.window_days}d",
        details={"last_request_date": latest, "days_to_renewal": row.get("days_to_renewal")},
    )


# ---------------------------------------------------------------- renewal_risk


class RenewalRiskThresholds(Thresholds):
    min_days_to_renewal: int = Field(0, ge=0, description="renewals already past are not a risk alert")
    max_days_to_renewal: int = Field(90, ge=1, le=365, description="article: the 60–90 day window")
    at_risk_classes: tuple[HealthClass, ...] = Field(("At-Risk", "Critical"), min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> "RenewalRiskThresholds":
        if self.min_days_to_renewal > self.max_days_to_renewal:
            raise ValueError("min_days_to_renewal must not exceed max_days_to_renewal")
        return self


def renewal_risk(row: Row, t: RenewalRiskThresholds) -> Finding | None:
    days, health_class = row["days_to_renewal"], row["health_class"]
    if days is None or health_class is None:
        return None
    if not t.min_days_to_renewal <= days <= t.max_days_to_renewal or health_class not in t.at_risk_classes:
        return None
    probability = row.get("churn_probability")
    odds = f", churn probability {probability:.0%}" if probability is not None else ""
    return Finding(
        reason=f"Renewal in {_plural(int(days), 'day')} and the account is {health_class}{odds}",
        metric="days_to_renewal",
        current=days,
        window=f"{t.min_days_to_renewal}–{t.max_days_to_renewal} days before renewal",
        details={"health_class": health_class, "churn_probability": probability},
    )


# ---------------------------------------------------------------- champion_dark


class ChampionDarkThresholds(Thresholds):
    max_active_days_14d: int = Field(0, ge=0, le=13, description="champion active days in 14, at most")
    min_prior_active_days_14d: int = Field(
        3, ge=1, le=14, description="active days in the 14 before that, at least (was engaged)"
    )
    require_team_active: bool = Field(True, description="only when the team still logs in (else usage_drop)")

    @model_validator(mode="after")
    def _ordered(self) -> "ChampionDarkThresholds":
        if self.max_active_days_14d >= self.min_prior_active_days_14d:
            raise ValueError("max_active_days_14d must be below min_prior_active_days_14d")
        return self


def champion_dark(row: Row, t: ChampionDarkThresholds) -> Finding | None:
    now, prior = row["champion_active_days_14d"], row["champion_active_days_14d_prior"]
    team_logins = row["logins_7d"]
    if now is None or prior is None:
        return None
    if now > t.max_active_days_14d or prior < t.min_prior_active_days_14d:
        return None
    if t.require_team_active and not team_logins:
        return None
    return Finding(
        reason=(
            f"The champion was active {_plural(int(now), 'day')} in the last 14 "
            f"(down from {int(prior)} in the 14 before) while the team logged in "
            f"{fmt_number(team_logins)} times this week"
        ),
        metric="champion_active_days_14d",
        current=now,
        baseline=prior,
        change=(now / prior - 1) if prior else None,
        window="14d vs the 14d before",
        details={"logins_7d": team_logins, "sponsor_active_days_28d": row.get("sponsor_active_days_28d")},
    )


def champion_dark_holds(row: Row, t: ChampionDarkThresholds, evidence: Mapping[str, Any]) -> bool:
    """Once fired, stay open while the champion stays dark (the "before" window moves on)."""
    now = row.get("champion_active_days_14d")
    return now is not None and now <= t.max_active_days_14d


# ---------------------------------------------------------------- registry


def _needs(*columns: str) -> Callable[[Any], frozenset[str]]:
    return lambda _t: frozenset(columns)


def _usage_needs(t: UsageDropThresholds) -> frozenset[str]:
    m = t.metric
    return frozenset({m, f"{m}_baseline", f"{m}_change", f"{m}_robust_z", "baseline_days"})


ALERT_TYPES: dict[str, AlertTypeSpec] = {
    spec.name: spec
    for spec in (
        AlertTypeSpec(
            "payment_failure", PaymentFailureThresholds, payment_failure, _needs("payment_failure_days")
        ),
        AlertTypeSpec("usage_drop", UsageDropThresholds, usage_drop, _usage_needs),
        AlertTypeSpec(
            "health_class_change",
            HealthClassChangeThresholds,
            health_class_change,
            _needs("health_class", "previous_health_class"),
            holds=health_class_holds,
        ),
        AlertTypeSpec(
            "ticket_spike",
            TicketSpikeThresholds,
            ticket_spike,
            _needs("tickets_7d", "tickets_7d_baseline", "baseline_days"),
        ),
        AlertTypeSpec(
            "cancellation_request",
            CancellationRequestThresholds,
            cancellation_request,
            _needs("cancellation_request_days"),
        ),
        AlertTypeSpec(
            "renewal_risk", RenewalRiskThresholds, renewal_risk, _needs("days_to_renewal", "health_class")
        ),
        AlertTypeSpec(
            "champion_dark",
            ChampionDarkThresholds,
            champion_dark,
            _needs("champion_active_days_14d", "champion_active_days_14d_prior", "logins_7d"),
            holds=champion_dark_holds,
        ),
    )
}
