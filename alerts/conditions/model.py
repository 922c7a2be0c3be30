"""The model's own alert: the health class worsened between two scorings."""

from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator

from alerts.conditions.base import AlertTypeSpec, Finding, Row, Thresholds, lit, needs
from alerts.types import HEALTH_CLASS_RANK, HealthClass


class HealthClassChangeThresholds(Thresholds):
    to_classes: tuple[HealthClass, ...] = Field(("At-Risk", "Critical"), min_length=1)

    @field_validator("to_classes")
    @classmethod
    def _worse_only(cls, classes: tuple[str, ...]) -> tuple[str, ...]:
        if "Healthy" in classes:
            raise ValueError("a worsening cannot end in Healthy; use At-Risk and/or Critical")
        return classes


def health_class_change(row: Row, t: HealthClassChangeThresholds) -> Finding | None:
    previous, current = row.get("previous_health_class"), row.get("health_class")
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


def _rank_sql(column: str) -> str:
    cases = " ".join(f"when {lit(name)} then {rank}" for name, rank in HEALTH_CLASS_RANK.items())
    return f"(case {column} {cases} end)"


def health_class_change_sql(t: HealthClassChangeThresholds) -> str:
    return (
        f"{_rank_sql('health_class')} > {_rank_sql('previous_health_class')} "
        f"and list_contains({lit(t.to_classes)}, health_class)"
    )


def health_class_holds(row: Row, t: HealthClassChangeThresholds, evidence: Mapping[str, Any]) -> bool:
    """Stay open while the account is still at (or below) the class the alert fired for."""
    current, fired_at = row.get("health_class"), evidence.get("current")
    if current not in HEALTH_CLASS_RANK or fired_at not in HEALTH_CLASS_RANK:
        return True  # no score this run: unknown is not recovered
    return HEALTH_CLASS_RANK[current] >= HEALTH_CLASS_RANK[fired_at]


HEALTH_CLASS_CHANGE = AlertTypeSpec(
    "health_class_change",
    "model",
    HealthClassChangeThresholds,
    health_class_change,
    needs("health_class", "previous_health_class"),
    health_class_change_sql,
    holds=health_class_holds,
    uses_model=True,
)
