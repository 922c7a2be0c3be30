"""Usage alerts, judged against each account's own normal (signals.account_baselines): usage drops,
core-feature abandonment, product abandonment, API degradation, and the expansion signal."""

from typing import Literal

from pydantic import Field

from alerts.conditions.base import (
    AlertTypeSpec,
    Finding,
    Row,
    Thresholds,
    TuningKnob,
    fmt_number,
    lit,
    needs,
    plural,
    present,
)

# ---------------------------------------------------------------- usage_drop

UsageMetric = Literal["logins_7d", "active_users_7d", "core_feature_uses_7d", "session_minutes_7d"]
USAGE_METRIC_LABELS: dict[str, str] = {
    "logins_7d": "Logins 7d",
    "active_users_7d": "Active users 7d",
    "core_feature_uses_7d": "Core-feature uses 7d",
    "session_minutes_7d": "Session minutes 7d",
}
# Float comparisons of a change against a threshold allow for the rounding of the division.
EPSILON = 1e-9


class UsageDropThresholds(Thresholds):
    # 7-day sums against the same 7-day sums of the 4 prior weeks: a weekend is inside both,
    # so a small team's quiet Saturday is not a drop.
    metric: UsageMetric = "logins_7d"
    drop: float = Field(0.30, gt=0, lt=1, description="fraction below the account's own baseline")
    max_robust_z: float = Field(-2.0, le=0, description="robust z-score must be at or below this")
    min_baseline_days: int = Field(21, ge=7, description="days of history the baseline needs")
    min_baseline: float = Field(5, ge=0, description="ignore accounts whose normal is below this")
    min_days_below: int = Field(
        0, ge=0, le=90, description="and logins_7d under its normal this many days running (0: any)"
    )


def usage_drop(row: Row, t: UsageDropThresholds) -> Finding | None:
    m = t.metric
    current, baseline = row.get(m), row.get(f"{m}_baseline")
    baseline_days, z = row.get("baseline_days"), row.get(f"{m}_robust_z")
    if not present(current, baseline, baseline_days):
        return None
    if baseline_days < t.min_baseline_days or baseline <= 0 or baseline < t.min_baseline:
        return None
    change = row.get(f"{m}_change")
    if change is None:
        change = current / baseline - 1
    if change > -t.drop + EPSILON:
        return None
    # A zero MAD leaves z undefined: the account's normal never varied, so any drop this size is unusual.
    if z is not None and z > t.max_robust_z:
        return None
    days_below = row.get("logins_7d_days_below_baseline")
    if t.min_days_below and (days_below is None or days_below < t.min_days_below):
        return None
    sustained = f", below normal {plural(int(days_below), 'day')} running" if t.min_days_below else ""
    return Finding(
        reason=(
            f"{USAGE_METRIC_LABELS[m]} {abs(change):.0%} below this account's 4-week normal "
            f"({fmt_number(current)} vs {fmt_number(baseline)}){sustained}"
        ),
        metric=m,
        current=current,
        baseline=baseline,
        change=change,
        window="7d vs median of 4 prior weeks",
        details={"robust_z": z, "baseline_days": baseline_days, "days_below_baseline": days_below},
    )


def usage_drop_sql(t: UsageDropThresholds) -> str:
    m = t.metric
    days = f" and logins_7d_days_below_baseline >= {t.min_days_below}" if t.min_days_below else ""
    return (
        f"{m} is not null and {m}_baseline is not null and baseline_days is not null "
        f"and baseline_days >= {t.min_baseline_days} and {m}_baseline > 0 "
        f"and {m}_baseline >= {lit(float(t.min_baseline))} "
        f"and coalesce({m}_change, {m} / {m}_baseline - 1) <= {lit(-t.drop + EPSILON)} "
        f"and ({m}_robust_z is null or {m}_robust_z <= {lit(float(t.max_robust_z))}){days}"
    )


def _usage_needs(t: UsageDropThresholds) -> frozenset[str]:
    m = t.metric
    extra = {"logins_7d_days_below_baseline"} if t.min_days_below else set()
    return frozenset({m, f"{m}_baseline", f"{m}_change", f"{m}_robust_z", "baseline_days", *extra})


USAGE_DROP = AlertTypeSpec(
    "usage_drop",
    "usage",
    UsageDropThresholds,
    usage_drop,
    _usage_needs,
    usage_drop_sql,
    tuning=TuningKnob("drop", "change", "higher", sign=-1.0),
)


# ---------------------------------------------------------------- feature_abandonment


class FeatureAbandonmentThresholds(Thresholds):
    min_abandoned: int = Field(
        1, ge=1, description="core features used in the prior 28 days but not in the last 28"
    )
    require_active: bool = Field(
        True, description="only while the team still logs in (else product_abandonment)"
    )


def feature_abandonment(row: Row, t: FeatureAbandonmentThresholds) -> Finding | None:
    abandoned, used = row.get("core_features_abandoned_28d"), row.get("core_features_used_28d")
    if abandoned is None or abandoned < t.min_abandoned:
        return None
    logins = row.get("logins_7d")
    if t.require_active and not logins:
        return None
    return Finding(
        reason=(
            f"{plural(int(abandoned), 'core feature')} used in the previous four weeks "
            f"went unused in the last four ({fmt_number(used)} still in use)"
        ),
        metric="core_features_abandoned_28d",
        current=abandoned,
        baseline=None if used is None else used + abandoned,
        window="28d vs the 28d before",
        details={"core_features_used_28d": used, "logins_7d": logins},
    )


def feature_abandonment_sql(t: FeatureAbandonmentThresholds) -> str:
    active = " and coalesce(logins_7d, 0) <> 0" if t.require_active else ""
    return f"core_features_abandoned_28d >= {t.min_abandoned}{active}"


FEATURE_ABANDONMENT = AlertTypeSpec(
    "feature_abandonment",
    "usage",
    FeatureAbandonmentThresholds,
    feature_abandonment,
    needs("core_features_abandoned_28d", "core_features_used_28d", "logins_7d"),
    feature_abandonment_sql,
    tuning=TuningKnob("min_abandoned", "current", "higher", integer=True),
)


# ---------------------------------------------------------------- product_abandonment


class ProductAbandonmentThresholds(Thresholds):
    min_days_without_login: int = Field(7, ge=2, le=90, description="days since the last login, at least")
    min_baseline_logins_7d: float = Field(
        5, ge=0, description="the account's normal week had at least this many logins (it was in use)"
    )


def product_abandonment(row: Row, t: ProductAbandonmentThresholds) -> Finding | None:
    days, baseline = row.get("days_since_last_login"), row.get("logins_7d_baseline")
    if not present(days, baseline):
        return None
    if days < t.min_days_without_login or baseline < t.min_baseline_logins_7d:
        return None
    last = row.get("last_login_date")
    return Finding(
        reason=(
            f"No login for {plural(int(days), 'day')}"
            + (f" (last on {last:%b} {last.day})" if last is not None else "")
            + f"; this account's normal is {fmt_number(baseline)} logins a week"
        ),
        metric="days_since_last_login",
        current=days,
        baseline=baseline,
        window="since the last login",
        details={"last_login_date": last},
    )


def product_abandonment_sql(t: ProductAbandonmentThresholds) -> str:
    return (
        f"days_since_last_login >= {t.min_days_without_login} "
        f"and logins_7d_baseline >= {lit(float(t.min_baseline_logins_7d))}"
    )


def product_abandonment_holds(row: Row, t: ProductAbandonmentThresholds, evidence) -> bool:
    """Stay open while the account stays dark (its normal decays to zero after four dark weeks)."""
    days = row.get("days_since_last_login")
    return days is not None and days >= t.min_days_without_login


def product_abandonment_holds_sql(t: ProductAbandonmentThresholds) -> str:
    return f"days_since_last_login >= {t.min_days_without_login}"


PRODUCT_ABANDONMENT = AlertTypeSpec(
    "product_abandonment",
    "usage",
    ProductAbandonmentThresholds,
    product_abandonment,
    needs("days_since_last_login", "logins_7d_baseline", "last_login_date"),
    product_abandonment_sql,
    holds=product_abandonment_holds,
    holds_sql=product_abandonment_holds_sql,
    tuning=TuningKnob("min_days_without_login", "current", "higher", integer=True),
)


# ---------------------------------------------------------------- api_degradation


class ApiDegradationThresholds(Thresholds):
    min_api_calls_7d: int = Field(
        100, ge=1, description="judge only integrations with this many calls a week"
    )
    min_error_rate: float = Field(0.05, gt=0, lt=1, description="error rate floor (share of calls ≥ 400)")
    error_multiple: float = Field(
        2.0, ge=1, description="and this many times the account's normal error rate"
    )
    min_latency_ms: float = Field(1000, gt=0, description="p95 latency floor")
    latency_multiple: float = Field(2.0, ge=1, description="and this many times the account's normal p95")


def _api_branches(row: Row, t: ApiDegradationThresholds) -> tuple[bool, bool]:
    calls = row.get("api_calls_7d")
    if calls is None or calls < t.min_api_calls_7d:
        return False, False
    rate, rate_base = row.get("api_error_rate_7d"), row.get("api_error_rate_7d_baseline")
    latency, latency_base = row.get("api_latency_p95_ms_7d"), row.get("api_latency_p95_ms_7d_baseline")
    errors = present(rate, rate_base) and rate >= t.min_error_rate and rate >= t.error_multiple * rate_base
    slow = (
        present(latency, latency_base)
        and latency >= t.min_latency_ms
        and latency >= t.latency_multiple * latency_base
    )
    return errors, slow


def api_degradation(row: Row, t: ApiDegradationThresholds) -> Finding | None:
    errors, slow = _api_branches(row, t)
    if not (errors or slow):
        return None
    rate, rate_base = row.get("api_error_rate_7d"), row.get("api_error_rate_7d_baseline")
    latency, latency_base = row.get("api_latency_p95_ms_7d"), row.get("api_latency_p95_ms_7d_baseline")
    parts = []
    if errors:
        parts.append(f"API error rate {rate:.1%} (normal {rate_base:.1%})")
    if slow:
        parts.append(f"p95 latency {fmt_number(latency)} ms (normal {fmt_number(latency_base)} ms)")
    error_ratio = rate / rate_base if present(rate, rate_base) and rate_base > 0 else None
    latency_ratio = latency / latency_base if present(latency, latency_base) and latency_base > 0 else None
    ratio = error_ratio if errors else latency_ratio
    return Finding(
        reason=" and ".join(parts) + f" over {fmt_number(row.get('api_calls_7d'))} calls this week",
        metric="api_error_rate_7d" if errors else "api_latency_p95_ms_7d",
        current=rate if errors else latency,
        baseline=rate_base if errors else latency_base,
        change=None if ratio is None else ratio - 1,
        window="7d vs median of 4 prior weeks",
        details={
            "error_ratio": error_ratio,
            "latency_ratio": latency_ratio,
            "api_calls_7d": row.get("api_calls_7d"),
        },
    )


def api_degradation_sql(t: ApiDegradationThresholds) -> str:
    errors = (
        f"(api_error_rate_7d is not null and api_error_rate_7d_baseline is not null "
        f"and api_error_rate_7d >= {lit(t.min_error_rate)} "
        f"and api_error_rate_7d >= {lit(t.error_multiple)} * api_error_rate_7d_baseline)"
    )
    slow = (
        f"(api_latency_p95_ms_7d is not null and api_latency_p95_ms_7d_baseline is not null "
        f"and api_latency_p95_ms_7d >= {lit(float(t.min_latency_ms))} "
        f"and api_latency_p95_ms_7d >= {lit(t.latency_multiple)} * api_latency_p95_ms_7d_baseline)"
    )
    return f"api_calls_7d >= {t.min_api_calls_7d} and (coalesce({errors}, false) or coalesce({slow}, false))"


API_DEGRADATION = AlertTypeSpec(
    "api_degradation",
    "usage",
    ApiDegradationThresholds,
    api_degradation,
    needs(
        "api_calls_7d",
        "api_error_rate_7d",
        "api_error_rate_7d_baseline",
        "api_latency_p95_ms_7d",
        "api_latency_p95_ms_7d_baseline",
    ),
    api_degradation_sql,
    tuning=TuningKnob("error_multiple", "error_ratio", "higher"),
)


# ---------------------------------------------------------------- expansion_signal


class ExpansionSignalThresholds(Thresholds):
    min_seat_utilisation: float = Field(0.9, gt=0, le=2, description="active users 7d / seats, at least")
    min_active_users_growth: float = Field(
        0.05, ge=-1, description="active users 7d vs the account's normal, at least (0.05 = +5%)"
    )
    min_baseline_days: int = Field(21, ge=7, description="history the growth needs")


def expansion_signal(row: Row, t: ExpansionSignalThresholds) -> Finding | None:
    utilisation, growth = row.get("seat_utilisation"), row.get("active_users_7d_change")
    baseline_days = row.get("baseline_days")
    if not present(utilisation, growth, baseline_days):
        return None
    if baseline_days < t.min_baseline_days:
        return None
    if utilisation < t.min_seat_utilisation or growth < t.min_active_users_growth - EPSILON:
        return None
    users, seats = row.get("active_users_7d"), row.get("seats_purchased")
    of_seats = f" of {fmt_number(seats)} seats" if seats is not None else ""
    return Finding(
        reason=(
            f"{fmt_number(users)} active users this week{of_seats} ({utilisation:.0%} utilisation), "
            f"{growth:+.0%} vs this account's normal: room to expand"
        ),
        metric="seat_utilisation",
        current=utilisation,
        change=growth,
        window="7d",
        details={"active_users_7d": users, "seats_purchased": seats},
    )


def expansion_signal_sql(t: ExpansionSignalThresholds) -> str:
    return (
        f"baseline_days >= {t.min_baseline_days} "
        f"and seat_utilisation >= {lit(float(t.min_seat_utilisation))} "
        f"and active_users_7d_change >= {lit(t.min_active_users_growth - EPSILON)}"
    )


EXPANSION_SIGNAL = AlertTypeSpec(
    "expansion_signal",
    "usage",
    ExpansionSignalThresholds,
    expansion_signal,
    needs("seat_utilisation", "active_users_7d_change", "baseline_days", "active_users_7d"),
    expansion_signal_sql,
    tuning=TuningKnob("min_seat_utilisation", "current", "higher"),
)
