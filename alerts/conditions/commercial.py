"""CRM-triggered alerts: payment failures, cancellation requests, renewal risk, procurement freezes.

The article: these "don't predict churn, they create the moment when churn decisions are made".
"""

from pydantic import Field, model_validator

from alerts.conditions.base import (
    HISTORY_DAYS,
    AlertTypeSpec,
    Finding,
    Row,
    Thresholds,
    TuningKnob,
    day_label,
    lit,
    needs,
    plural,
    recent_events,
    sql_recent_count,
)
from alerts.types import HealthClass

# ---------------------------------------------------------------- payment_failure


class PaymentFailureThresholds(Thresholds):
    window_days: int = Field(7, ge=1, le=HISTORY_DAYS, description="look back this many days")
    min_failures: int = Field(1, ge=1, description="failed payments in the window to fire")


def payment_failure(row: Row, t: PaymentFailureThresholds) -> Finding | None:
    recent = recent_events(row.get("payment_failure_days"), row["signal_date"], t.window_days)
    failures = sum(int(d["count"]) for d in recent)
    if failures < t.min_failures:
        return None
    latest = max(d["date"] for d in recent)
    days_ago = (row["signal_date"] - latest).days
    when = "today" if days_ago == 0 else f"{plural(days_ago, 'day')} ago"
    return Finding(
        reason=(
            f"{plural(failures, 'failed payment')} in the last {t.window_days} days, "
            f"the latest on {day_label(latest)} ({when})"
        ),
        metric="payment_failures",
        current=failures,
        window=f"{t.window_days}d",
        details={"last_failure_date": latest, "payment_failures_30d": row.get("payment_failures_30d")},
    )


def payment_failure_sql(t: PaymentFailureThresholds) -> str:
    return f"{sql_recent_count('payment_failure_days', t.window_days)} >= {t.min_failures}"


PAYMENT_FAILURE = AlertTypeSpec(
    "payment_failure",
    "commercial",
    PaymentFailureThresholds,
    payment_failure,
    needs("payment_failure_days"),
    payment_failure_sql,
    tuning=TuningKnob("min_failures", "current", "higher", integer=True),
)


# ---------------------------------------------------------------- cancellation_request


class CancellationRequestThresholds(Thresholds):
    window_days: int = Field(
        30, ge=1, le=HISTORY_DAYS, description="the alert stays live this long after a request"
    )


def cancellation_request(row: Row, t: CancellationRequestThresholds) -> Finding | None:
    recent = recent_events(row.get("cancellation_request_days"), row["signal_date"], t.window_days)
    if not recent:
        return None
    latest = max(d["date"] for d in recent)
    requests = sum(int(d["count"]) for d in recent)
    return Finding(
        reason=(
            f"{plural(requests, 'cancellation request')} in the last {t.window_days} days, "
            f"the latest on {day_label(latest)}"
        ),
        metric="cancellation_requests",
        current=requests,
        window=f"{t.window_days}d",
        details={"last_request_date": latest, "days_to_renewal": row.get("days_to_renewal")},
    )


def cancellation_request_sql(t: CancellationRequestThresholds) -> str:
    return f"{sql_recent_count('cancellation_request_days', t.window_days)} >= 1"


CANCELLATION_REQUEST = AlertTypeSpec(
    "cancellation_request",
    "commercial",
    CancellationRequestThresholds,
    cancellation_request,
    needs("cancellation_request_days"),
    cancellation_request_sql,
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
    days, health_class = row.get("days_to_renewal"), row.get("health_class")
    if days is None or health_class is None:
        return None
    if not t.min_days_to_renewal <= days <= t.max_days_to_renewal or health_class not in t.at_risk_classes:
        return None
    probability = row.get("churn_probability")
    odds = f", churn probability {probability:.0%}" if probability is not None else ""
    return Finding(
        reason=f"Renewal in {plural(int(days), 'day')} and the account is {health_class}{odds}",
        metric="days_to_renewal",
        current=days,
        window=f"{t.min_days_to_renewal}–{t.max_days_to_renewal} days before renewal",
        details={"health_class": health_class, "churn_probability": probability},
    )


def renewal_risk_sql(t: RenewalRiskThresholds) -> str:
    return (
        f"days_to_renewal between {t.min_days_to_renewal} and {t.max_days_to_renewal} "
        f"and list_contains({lit(t.at_risk_classes)}, health_class)"
    )


RENEWAL_RISK = AlertTypeSpec(
    "renewal_risk",
    "commercial",
    RenewalRiskThresholds,
    renewal_risk,
    needs("days_to_renewal", "health_class"),
    renewal_risk_sql,
    uses_model=True,
    tuning=TuningKnob("max_days_to_renewal", "current", "lower", integer=True),
)


# ---------------------------------------------------------------- procurement_freeze


class ProcurementFreezeThresholds(Thresholds):
    window_days: int = Field(
        30, ge=1, le=HISTORY_DAYS, description="the alert stays live this long after a freeze notice"
    )


def procurement_freeze(row: Row, t: ProcurementFreezeThresholds) -> Finding | None:
    recent = recent_events(row.get("procurement_freeze_days"), row["signal_date"], t.window_days)
    if not recent:
        return None
    latest = max(d["date"] for d in recent)
    renewal = row.get("days_to_renewal")
    tail = f"; renewal in {plural(int(renewal), 'day')}" if renewal is not None and renewal >= 0 else ""
    return Finding(
        reason=f"Procurement freeze notified on {day_label(latest)}{tail}",
        metric="procurement_freezes",
        current=sum(int(d["count"]) for d in recent),
        window=f"{t.window_days}d",
        details={"last_freeze_date": latest, "days_to_renewal": renewal},
    )


def procurement_freeze_sql(t: ProcurementFreezeThresholds) -> str:
    return f"{sql_recent_count('procurement_freeze_days', t.window_days)} >= 1"


PROCUREMENT_FREEZE = AlertTypeSpec(
    "procurement_freeze",
    "commercial",
    ProcurementFreezeThresholds,
    procurement_freeze,
    needs("procurement_freeze_days"),
    procurement_freeze_sql,
)
