"""Engagement alerts: NPS drops, survey non-response, the champion going dark, stakeholder turnover."""

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from alerts.conditions.base import (
    HISTORY_DAYS,
    AlertTypeSpec,
    Finding,
    Row,
    Thresholds,
    TuningKnob,
    day_label,
    fmt_number,
    lit,
    needs,
    plural,
    present,
    sql_recent_count,
)

# ---------------------------------------------------------------- nps_drop


class NpsDropThresholds(Thresholds):
    below_score: int = Field(7, ge=1, le=10, description="the latest answer is below this (article: below 7)")
    min_drop: int = Field(
        1, ge=0, le=10, description="and, if there was an earlier answer, at least this many points lower"
    )
    window_days: int = Field(30, ge=1, le=HISTORY_DAYS, description="the answer came in the last N days")


def nps_drop(row: Row, t: NpsDropThresholds) -> Finding | None:
    score, age = row.get("nps_score_last"), row.get("days_since_nps_response")
    if not present(score, age) or age >= t.window_days or score >= t.below_score:
        return None
    change = row.get("nps_change")
    if change is not None and change > -t.min_drop:
        return None
    previous = row.get("nps_score_previous")
    was = f", down from {previous}" if previous is not None else ""
    return Finding(
        reason=f"NPS answer of {score}{was} ({plural(int(age), 'day')} ago)",
        metric="nps_score_last",
        current=score,
        baseline=previous,
        change=change,
        window=f"answer in the last {t.window_days} days",
        details={"nps_change": change, "days_since_response": age},
    )


def nps_drop_sql(t: NpsDropThresholds) -> str:
    return (
        f"nps_score_last is not null and days_since_nps_response is not null "
        f"and days_since_nps_response < {t.window_days} and nps_score_last < {t.below_score} "
        f"and (nps_change is null or nps_change <= {-t.min_drop})"
    )


NPS_DROP = AlertTypeSpec(
    "nps_drop",
    "engagement",
    NpsDropThresholds,
    nps_drop,
    needs("nps_score_last", "nps_change", "days_since_nps_response"),
    nps_drop_sql,
    tuning=TuningKnob("below_score", "current", "lower", integer=True),
)


# ---------------------------------------------------------------- survey_nonresponse


class SurveyNonresponseThresholds(Thresholds):
    max_response_rate: float = Field(
        0.5, gt=0, le=1, description="response rate over 90 days below this (article: non-response above 50%)"
    )
    min_surveys_sent: int = Field(3, ge=1, description="surveys sent in 90 days, at least")


def survey_nonresponse(row: Row, t: SurveyNonresponseThresholds) -> Finding | None:
    rate, sent = row.get("survey_response_rate_90d"), row.get("surveys_sent_90d")
    if not present(rate, sent) or sent < t.min_surveys_sent or rate >= t.max_response_rate:
        return None
    return Finding(
        reason=(
            f"{1 - rate:.0%} of the {plural(int(sent), 'NPS survey')} sent in the last 90 days went unanswered"
        ),
        metric="survey_response_rate_90d",
        current=rate,
        baseline=t.max_response_rate,
        window="90d",
        details={"surveys_sent_90d": sent},
    )


def survey_nonresponse_sql(t: SurveyNonresponseThresholds) -> str:
    return (
        f"surveys_sent_90d >= {t.min_surveys_sent} "
        f"and survey_response_rate_90d < {lit(float(t.max_response_rate))}"
    )


SURVEY_NONRESPONSE = AlertTypeSpec(
    "survey_nonresponse",
    "engagement",
    SurveyNonresponseThresholds,
    survey_nonresponse,
    needs("survey_response_rate_90d", "surveys_sent_90d"),
    survey_nonresponse_sql,
    tuning=TuningKnob("max_response_rate", "current", "lower"),
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
    now, prior = row.get("champion_active_days_14d"), row.get("champion_active_days_14d_prior")
    team_logins = row.get("logins_7d")
    if now is None or prior is None:
        return None
    if now > t.max_active_days_14d or prior < t.min_prior_active_days_14d:
        return None
    if t.require_team_active and not team_logins:
        return None
    return Finding(
        reason=(
            f"The champion was active {plural(int(now), 'day')} in the last 14 "
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


def champion_dark_sql(t: ChampionDarkThresholds) -> str:
    team = " and coalesce(logins_7d, 0) <> 0" if t.require_team_active else ""
    return (
        f"champion_active_days_14d <= {t.max_active_days_14d} "
        f"and champion_active_days_14d_prior >= {t.min_prior_active_days_14d}{team}"
    )


def champion_dark_holds(row: Row, t: ChampionDarkThresholds, evidence: Mapping[str, Any]) -> bool:
    """Once fired, stay open while the champion stays dark (the "before" window moves on)."""
    now = row.get("champion_active_days_14d")
    return now is not None and now <= t.max_active_days_14d


def champion_dark_holds_sql(t: ChampionDarkThresholds) -> str:
    return f"champion_active_days_14d <= {t.max_active_days_14d}"


CHAMPION_DARK = AlertTypeSpec(
    "champion_dark",
    "engagement",
    ChampionDarkThresholds,
    champion_dark,
    needs("champion_active_days_14d", "champion_active_days_14d_prior", "logins_7d"),
    champion_dark_sql,
    holds=champion_dark_holds,
    holds_sql=champion_dark_holds_sql,
    tuning=TuningKnob("min_prior_active_days_14d", "baseline", "higher", integer=True),
)


# ---------------------------------------------------------------- stakeholder_turnover

StakeholderChange = Literal["champion_departure", "sponsor_departure", "budget_owner_change"]
STAKEHOLDER_LABELS: dict[str, str] = {
    "champion_departure": "champion left",
    "sponsor_departure": "executive sponsor left",
    "budget_owner_change": "budget owner changed",
}


class StakeholderTurnoverThresholds(Thresholds):
    window_days: int = Field(30, ge=1, le=HISTORY_DAYS, description="the alert stays live this long after")
    kinds: tuple[StakeholderChange, ...] = Field(
        ("champion_departure", "sponsor_departure", "budget_owner_change"), min_length=1
    )


def stakeholder_turnover(row: Row, t: StakeholderTurnoverThresholds) -> Finding | None:
    recent = [
        d
        for d in (row.get("stakeholder_change_days") or [])
        if d["kind"] in t.kinds
        and d["count"] > 0
        and 0 <= (row["signal_date"] - d["date"]).days < t.window_days
    ]
    if not recent:
        return None
    recent.sort(key=lambda d: (d["date"], d["kind"]))
    what = "; ".join(f"{STAKEHOLDER_LABELS[d['kind']]} on {day_label(d['date'])}" for d in recent)
    return Finding(
        reason=what[0].upper() + what[1:],
        metric="stakeholder_changes",
        current=sum(int(d["count"]) for d in recent),
        window=f"{t.window_days}d",
        details={"kinds": sorted({d["kind"] for d in recent}), "last_change_date": recent[-1]["date"]},
    )


def stakeholder_turnover_sql(t: StakeholderTurnoverThresholds) -> str:
    return f"{sql_recent_count('stakeholder_change_days', t.window_days, kinds=t.kinds)} >= 1"


STAKEHOLDER_TURNOVER = AlertTypeSpec(
    "stakeholder_turnover",
    "engagement",
    StakeholderTurnoverThresholds,
    stakeholder_turnover,
    needs("stakeholder_change_days"),
    stakeholder_turnover_sql,
)
