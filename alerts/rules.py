"""alert_rules.yml: one entry per alert type, validated on load.

Each entry has `enabled`, a default `severity`, a `title` template, the `playbook` the CSM
follows, the type's `thresholds`, optional `escalations` (stricter thresholds that raise the
severity) and optional per-segment overrides (`segments: {enterprise: {severity, thresholds}}`,
partial: only what differs). The file also holds the routing table and the SLA hours per
severity. A bad file fails at load with the file, the key and what is allowed.
"""

import string
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from alerts.conditions import ALERT_TYPES, Thresholds
from alerts.routing import DEFAULT_ROUTING, RoutingPolicy
from alerts.sla import DEFAULT_SLA_HOURS, SlaHours
from alerts.types import SEGMENTS, SEVERITY_RANK, Segment, Severity
from healthwatch.yaml_config import load_yaml_model

T = TypeVar("T", bound=BaseModel)
P = TypeVar("P", bound=BaseModel)

# Placeholders a `title` template may use.
TITLE_FIELDS: frozenset[str] = frozenset(
    {
        "account_name",
        "segment",
        "severity",
        "alert_type",
        "metric",
        "current",
        "baseline",
        "change_pct",
        "window",
    }
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Escalation(_Strict, Generic[P]):
    """When the stricter thresholds in `when` also hold, the alert takes this severity."""

    when: P
    severity: Severity

    @field_validator("when")
    @classmethod
    def _not_empty(cls, when: BaseModel) -> BaseModel:
        if not when.model_fields_set:
            raise ValueError("name at least one threshold that makes the alert more severe")
        return when


class SegmentOverride(_Strict, Generic[P]):
    """What differs for one segment; anything left out comes from the rule."""

    enabled: bool | None = None
    severity: Severity | None = None
    thresholds: P | None = None


class RuleConfig(_Strict, Generic[T, P]):
    enabled: bool = True
    severity: Severity
    title: str = Field(min_length=1)
    playbook: str = Field(min_length=1)
    thresholds: T
    escalations: tuple[Escalation[P], ...] = ()
    segments: dict[Segment, SegmentOverride[P]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _default_thresholds(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("thresholds") is None:
            data = {**data, "thresholds": {}}
        return data

    @field_validator("title")
    @classmethod
    def _known_placeholders(cls, title: str) -> str:
        for _, name, spec, conversion in string.Formatter().parse(title):
            if name is None:
                continue
            if name not in TITLE_FIELDS or conversion:
                raise ValueError(
                    f"unknown placeholder {{{name}}}; use {', '.join('{' + f + '}' for f in sorted(TITLE_FIELDS))}"
                )
            if spec:
                raise ValueError(f"placeholder {{{name}}} takes no format spec; values come formatted")
        return title

    @model_validator(mode="after")
    def _consistent(self) -> "RuleConfig":
        for i, escalation in enumerate(self.escalations):
            if SEVERITY_RANK[escalation.severity] <= SEVERITY_RANK[self.severity]:
                raise ValueError(
                    f"escalations.{i}.severity {escalation.severity!r} must be above the rule's "
                    f"severity {self.severity!r}"
                )
        # Every merge the engine will make must itself be valid (cross-field checks included).
        for segment in (None, *self.segments):
            try:
                base = self.thresholds_for(segment)
            except ValidationError as exc:
                problems = "; ".join(e["msg"] for e in exc.errors())
                raise ValueError(
                    f"segments.{segment}.thresholds gives invalid thresholds: {problems}"
                ) from None
            for i, escalation in enumerate(self.escalations):
                try:
                    merge_thresholds(base, escalation.when)
                except ValidationError as exc:
                    where = f"escalations.{i}.when" + (f" (segment {segment})" if segment else "")
                    problems = "; ".join(e["msg"] for e in exc.errors())
                    raise ValueError(f"{where} gives invalid thresholds: {problems}") from None
        return self

    def thresholds_for(self, segment: str | None) -> Thresholds:
        override = self.segments.get(segment) if segment else None  # type: ignore[call-overload]
        if override is None or override.thresholds is None:
            return self.thresholds  # type: ignore[return-value]
        return merge_thresholds(self.thresholds, override.thresholds)  # type: ignore[arg-type]


def merge_thresholds(base: Thresholds, partial: BaseModel) -> Thresholds:
    """`base` with the keys set in `partial` replaced, validated again as a whole."""
    update = partial.model_dump(exclude_unset=True)
    return type(base).model_validate({**base.model_dump(), **update})


class _RulesBase(_Strict):
    @model_validator(mode="before")
    @classmethod
    def _known_types(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(str(k) for k in data if k not in ALERT_TYPES)
            if unknown:
                raise ValueError(
                    f"unknown alert type {', '.join(map(repr, unknown))}; "
                    f"known types: {', '.join(sorted(ALERT_TYPES))}"
                )
        return data


# One required field per registered alert type, typed with that type's thresholds, so a
# misspelt threshold is reported as rules.<type>.thresholds.<key>.
AlertRules = create_model(
    "AlertRules",
    __base__=_RulesBase,
    **{
        name: (RuleConfig[spec.thresholds, spec.partial_thresholds], ...)  # type: ignore[name-defined]
        for name, spec in ALERT_TYPES.items()
    },
)


@dataclass(frozen=True)
class EffectiveRule:
    """A rule as it applies to one segment: overrides merged, escalations resolved."""

    alert_type: str
    enabled: bool
    severity: str
    title: str
    playbook: str
    thresholds: Thresholds
    escalations: tuple[tuple[Thresholds, str], ...]


def resolve_rule(alert_type: str, rule: RuleConfig, segment: str | None) -> EffectiveRule:
    """Apply the segment's override (if any) to `rule`."""
    override = rule.segments.get(segment) if segment else None  # type: ignore[call-overload]
    thresholds = rule.thresholds_for(segment)
    enabled = rule.enabled if override is None or override.enabled is None else override.enabled
    severity = rule.severity if override is None or override.severity is None else override.severity
    return EffectiveRule(
        alert_type=alert_type,
        enabled=enabled,
        severity=severity,
        title=rule.title,
        playbook=rule.playbook.strip(),
        thresholds=thresholds,
        escalations=tuple((merge_thresholds(thresholds, e.when), e.severity) for e in rule.escalations),
    )


class AlertRulesFile(_Strict):
    """The whole of alert_rules.yml."""

    version: Literal[1] = 1
    routing: RoutingPolicy = DEFAULT_ROUTING
    sla_business_hours: SlaHours = DEFAULT_SLA_HOURS
    rules: AlertRules  # type: ignore[valid-type]

    def rule(self, alert_type: str) -> RuleConfig:
        return getattr(self.rules, alert_type)

    @cached_property
    def _effective(self) -> dict[tuple[str, str | None], EffectiveRule]:
        return {
            (name, segment): resolve_rule(name, self.rule(name), segment)
            for name in ALERT_TYPES
            for segment in (None, *SEGMENTS)
        }

    def effective(self, alert_type: str, segment: str | None) -> EffectiveRule:
        """The rule for `alert_type` on an account of `segment` (unknown segment: the base rule)."""
        key = (alert_type, segment if segment in SEGMENTS else None)
        return self._effective[key]

    def enabled_types(self) -> list[str]:
        """Types enabled for at least one segment."""
        return [
            name for name in ALERT_TYPES if any(self.effective(name, s).enabled for s in (None, *SEGMENTS))
        ]


def load_alert_rules(path: Path) -> AlertRulesFile:
    """Read and validate alert_rules.yml (HealthwatchError naming the file and key if bad)."""
    return load_yaml_model(path, AlertRulesFile)
