"""Drivers: the features that push an account's churn risk up, in sentences a CSM understands.

Contributions are LightGBM's own SHAP values (`pred_contrib=True`), in log-odds of the booster's
raw score; computed only for the rows being scored, since they cost ~0.35 ms per row.
"""

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ml.model import ChurnModel

TOP_DRIVERS = 3
# Who the account is (size, age, segment) moves the score but is nothing a CSM can act on:
# such features count in the probability and are never shown as drivers.
CONTEXT_FEATURES = frozenset({"arr", "seats_purchased", "tenure_days", "segment"})
# Contributions below this (log-odds) are noise next to the ones worth a sentence.
MIN_CONTRIBUTION = 0.05

Render = Callable[[float, Mapping[str, Any]], str]


def _n(value: float) -> str:
    return f"{round(value):,}"


def _change(what: str, versus: str = "vs 4-week normal") -> Render:
    def render(value: float, row: Mapping[str, Any]) -> str:
        pct = round(abs(value) * 100)
        if pct == 0:
            return f"{what} in line with {versus.removeprefix('vs ')}"
        return f"{what} {'down' if value < 0 else 'up'} {pct}% {versus}"

    return render


def _count(zero: str, one: str, many: str) -> Render:
    def render(value: float, row: Mapping[str, Any]) -> str:
        n = round(value)
        return zero if n == 0 else one if n == 1 else many.format(n=_n(value))

    return render


def _days_active(who: str, window: int) -> Render:
    def render(value: float, row: Mapping[str, Any]) -> str:
        n = round(value)
        if n == 0:
            return f"{who} inactive for {window} days"
        return f"{who} active on only {n} of the last {window} days"

    return render


def _nps_change(value: float, row: Mapping[str, Any]) -> str:
    score = row.get("nps_score_last")
    known = not _missing(score)
    points = round(abs(value))
    if points == 0:
        return f"NPS unchanged at {round(score)}" if known else "NPS unchanged"
    to = f" to {round(score)}" if known else ""
    return f"NPS {'fell' if value < 0 else 'rose'} {points} point{'s' if points != 1 else ''}{to}"


def _renewal(value: float, row: Mapping[str, Any]) -> str:
    n = round(value)
    if n < 0:
        return f"renewal date passed {-n} days ago"
    return "renewal today" if n == 0 else f"renewal in {n} day{'s' if n != 1 else ''}"


def _days_since_login(value: float, row: Mapping[str, Any]) -> str:
    n = round(value)
    return "last login today" if n == 0 else f"no login for {n} day{'s' if n != 1 else ''}"


def _sentiment(value: float, row: Mapping[str, Any]) -> str:
    tone = "negative" if value < -0.05 else "positive" if value > 0.05 else "neutral"
    return f"ticket sentiment {tone} ({value:+.2f}) over 28 days"


_TWO_MONTHS = "vs the 2 months before"
_SEGMENT_NAMES = {"enterprise": "enterprise", "mid_market": "mid-market", "smb": "SMB"}

# feature -> (what the feature is, for "no data" sentences; how to say its value)
TEMPLATES: dict[str, tuple[str, Render]] = {
    "logins_7d": (
        "logins in the last 7 days",
        _count("no logins in the last 7 days", "1 login in the last 7 days", "{n} logins in the last 7 days"),
    ),
    "logins_wow_change": ("week-over-week logins", _change("logins", "vs last week")),
    "logins_7d_change": ("logins vs normal", _change("logins")),
    "logins_7d_robust_z": (
        "logins vs the account's usual level",
        lambda v, row: (
            f"logins {'below' if v < 0 else 'above'} this account's usual level (robust z {v:+.1f})"
        ),
    ),
    "active_users_7d": (
        "active users",
        _count(
            "no active users in the last 7 days",
            "1 active user in the last 7 days",
            "{n} active users in the last 7 days",
        ),
    ),
    "active_users_7d_change": ("active users vs normal", _change("active users")),
    "seat_utilisation": (
        "seat utilisation",
        lambda v, row: f"{round(v * 100)}% of seats used in the last 7 days",
    ),
    "logins_per_seat_28d": (
        "logins per seat",
        lambda v, row: f"{v:.1f} logins per seat in the last 28 days",
    ),
    "logins_28d_vs_prior_62d": ("logins over two months", _change("4-week logins", _TWO_MONTHS)),
    "session_minutes_28d_vs_prior_62d": (
        "session time over two months",
        _change("4-week session time", _TWO_MONTHS),
    ),
    "core_feature_uses_28d_vs_prior_62d": (
        "core-feature use over two months",
        _change("4-week core-feature use", _TWO_MONTHS),
    ),
    "team_active_users_28d_vs_prior_62d": (
        "team activity over two months",
        _change("4-week team activity", _TWO_MONTHS),
    ),
    "core_feature_uses_7d_change": ("core-feature use vs normal", _change("core-feature use")),
    "core_features_used_28d": (
        "core features used",
        _count(
            "no core features used in 28 days",
            "only 1 core feature used in 28 days",
            "{n} core features used in 28 days",
        ),
    ),
    "core_features_abandoned_28d": (
        "core features abandoned",
        _count(
            "no core feature abandoned",
            "1 core feature used last month and not since",
            "{n} core features used last month and not since",
        ),
    ),
    "session_minutes_7d_change": ("session time vs normal", _change("session time")),
    "days_since_last_login": ("last login", _days_since_login),
    "api_error_rate_7d": ("API error rate", lambda v, row: f"API error rate {v * 100:.1f}% over 7 days"),
    "api_latency_p95_ms_7d": ("API latency", lambda v, row: f"API p95 latency {_n(v)} ms over 7 days"),
    "champion_active_days_14d": ("champion activity", _days_active("champion", 14)),
    "sponsor_active_days_28d": ("executive sponsor activity", _days_active("executive sponsor", 28)),
    "tickets_7d": (
        "tickets this week",
        _count(
            "no tickets in the last 7 days", "1 ticket in the last 7 days", "{n} tickets in the last 7 days"
        ),
    ),
    "tickets_28d": (
        "tickets this month",
        _count(
            "no tickets in the last 28 days",
            "1 ticket in the last 28 days",
            "{n} tickets in the last 28 days",
        ),
    ),
    "tickets_escalated_28d": (
        "escalated tickets",
        _count(
            "no escalated tickets in 28 days",
            "1 escalated ticket in 28 days",
            "{n} escalated tickets in 28 days",
        ),
    ),
    "tickets_negative_28d": (
        "negative tickets",
        _count(
            "no negative-sentiment tickets in 28 days",
            "1 negative-sentiment ticket in 28 days",
            "{n} negative-sentiment tickets in 28 days",
        ),
    ),
    "tickets_repeat_28d": (
        "repeat issues",
        _count(
            "no repeat issues in 28 days",
            "1 repeat issue in 28 days",
            "{n} repeat issues in 28 days",
        ),
    ),
    "ticket_sentiment_avg_28d": ("ticket sentiment", _sentiment),
    "nps_score_last": ("NPS", lambda v, row: f"last NPS score {round(v)}"),
    "nps_change": ("NPS change", _nps_change),
    "survey_response_rate_90d": (
        "survey responses",
        lambda v, row: f"answered {round(v * 100)}% of surveys in 90 days",
    ),
    "payment_failures_30d": (
        "payments",
        _count(
            "no failed payments in 30 days",
            "payment failed once in 30 days",
            "payment failed {n} times in 30 days",
        ),
    ),
    "cancellation_requests_90d": (
        "cancellation requests",
        _count(
            "no cancellation requests in 90 days",
            "cancellation requested in the last 90 days",
            "{n} cancellation requests in 90 days",
        ),
    ),
    "procurement_freezes_90d": (
        "procurement freezes",
        _count(
            "no procurement freeze in 90 days",
            "procurement freeze in the last 90 days",
            "{n} procurement freezes in 90 days",
        ),
    ),
    "budget_owner_changes_90d": (
        "budget owner changes",
        _count(
            "no budget owner change in 90 days",
            "budget owner changed in the last 90 days",
            "budget owner changed {n} times in 90 days",
        ),
    ),
    "champion_departures_90d": (
        "champion departures",
        _count(
            "no champion departures in 90 days",
            "champion left in the last 90 days",
            "{n} champions left in the last 90 days",
        ),
    ),
    "days_to_renewal": ("renewal date", _renewal),
    "arr": ("ARR", lambda v, row: f"ARR ${_n(v)}"),
    "seats_purchased": ("seats", _count("no seats purchased", "1 seat purchased", "{n} seats purchased")),
    "tenure_days": ("tenure", lambda v, row: f"customer for {_n(v)} days"),
    "segment": ("segment", lambda v, row: f"{_SEGMENT_NAMES.get(str(v), str(v))} segment"),
}


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def sentence(feature: str, value: Any, row: Mapping[str, Any]) -> str:
    """One CSM-readable sentence for a feature's value (row gives context, e.g. the NPS score)."""
    what, render = TEMPLATES.get(
        feature, (feature.replace("_", " "), lambda v, r: f"{feature.replace('_', ' ')} {v}")
    )
    if _missing(value):
        return f"no data on {what}"
    return render(value, row)


def _plain(value: Any) -> Any:
    if _missing(value):
        return None
    if isinstance(value, (np.floating, float, np.integer, int)):
        return round(float(value), 4)
    return str(value)


class _Row(Mapping[str, Any]):
    """One row of the scored frame, read from its columns (no dict built per row)."""

    def __init__(self, columns: Mapping[str, np.ndarray], index: int) -> None:
        self._columns = columns
        self._index = index

    def __getitem__(self, key: str) -> Any:
        return self._columns[key][self._index]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)


def explain(model: ChurnModel, frame: pd.DataFrame, top_k: int = TOP_DRIVERS) -> list[list[dict[str, Any]]]:
    """Per row of `frame`: up to `top_k` drivers that push risk up by at least MIN_CONTRIBUTION,
    largest first, context features left out; each {feature, value, contribution, sentence}."""
    if frame.empty:
        return []
    features = model.features
    contributions = model.contributions(model.matrix(frame))[:, : len(features)]
    # The drivers of every row at once: what may not be one sorts last, then the top k are taken.
    eligible = (contributions >= MIN_CONTRIBUTION) & np.array([f not in CONTEXT_FEATURES for f in features])
    order = np.argsort(-np.where(eligible, contributions, -np.inf), axis=1, kind="stable")[:, :top_k]
    columns = {feature: frame[feature].to_numpy(dtype=object) for feature in features}
    out = []
    for r, picks in enumerate(order):
        row = _Row(columns, r)
        out.append(
            [
                {
                    "feature": features[i],
                    "value": _plain(row[features[i]]),
                    "contribution": round(float(contributions[r, i]), 4),
                    "sentence": sentence(features[i], row[features[i]], row),
                }
                for i in picks
                if eligible[r, i]
            ]
        )
    return out
