"""alert_rules.yml: one entry per alert type, validated on load.

Each entry has `enabled`, a default `severity`, a `title` template, the `playbook` it links to in
playbooks.yml (default: the type's name), the type's `thresholds`, optional `escalations`
(stricter thresholds that raise the severity), optional per-segment overrides (`segments:
{enterprise: {severity, thresholds}}`, partial: only what differs), its `model_gate` and
`auto_resolve_days` (both default to the file's `defaults`). The file also holds the routing
table, the SLA hours per severity, the re-notification intervals and the inhibition rules. A bad
file fails at load with the file, the key and what is allowed.
"""

import string
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from alerts.conditions import ALERT_TYPES, Thresholds
from alerts.playbooks import Playbook, PlaybooksFile, load_playbooks
from alerts.routing import DEFAULT_ROUTING, RoutingPolicy
from alerts.sla import DEFAULT_SLA_HOURS, SlaHours
from alerts.types import SEGMENTS, SEVERITY_RANK, HealthClass, Segment, Severity
from healthwatch.errors import HealthwatchError
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


GateAction = Literal["none", "downgrade", "hold"]


class ModelGate(_Strict):
    """What happens to a rule alert on an account the churn model scores low-risk.

    Low-risk: the account's health class is one of `low_risk_classes` and, when `max_probability`
    is set, its churn probability is below it. `downgrade` lowers the severity by
    `downgrade_steps`; `hold` keeps the alert suppressed until the model sees risk. An account
    without a score is never gated.
    """

    action: GateAction = "none"
    low_risk_classes: tuple[HealthClass, ...] = ("Healthy",)
    max_probability: float | None = Field(None, gt=0, le=1)
    downgrade_steps: int = Field(1, ge=1, le=3)

    @model_validator(mode="after")
    def _meaningful(self) -> "ModelGate":
        if "Critical" in self.low_risk_classes:
            raise ValueError("low_risk_classes cannot include Critical; use Healthy and/or At-Risk")
        if not self.low_risk_classes and self.max_probability is None:
            raise ValueError("name low_risk_classes or max_probability: what the model calls low-risk")
        return self


PartialModelGate = create_model(
    "PartialModelGate",
    __config__=ConfigDict(extra="forbid", frozen=True),
    **{
        name: (info.annotation | None, Field(None, description=info.description))
        for name, info in ModelGate.model_fields.items()
    },
)


class Defaults(_Strict):
    """What a rule that does not say otherwise uses."""

    auto_resolve_days: int = Field(
        2, ge=1, le=60, description="resolve once the condition has not held for this many days"
    )
    model_gate: ModelGate = ModelGate()


class RepeatIntervals(_Strict):
    """Hours after which a still-firing, unacknowledged alert is notified again, per severity."""

    critical: float = Field(24, gt=0)
    high: float = Field(72, gt=0)
    medium: float = Field(168, gt=0)
    low: float = Field(336, gt=0)

    def for_severity(self, severity: str) -> float:
        return getattr(self, severity)


class InhibitRule(_Strict):
    """Alertmanager's inhibition: a live source alert holds back target alerts on the same account."""

    source_severities: tuple[Severity, ...] = Field(("critical",), min_length=1)
    target_severities: tuple[Severity, ...] = Field(("high", "medium", "low"), min_length=1)
    equal: tuple[Literal["account_id"], ...] = ("account_id",)

    @model_validator(mode="after")
    def _disjoint(self) -> "InhibitRule":
        both = set(self.source_severities) & set(self.target_severities)
        if both:
            raise ValueError(f"a severity cannot be both source and target: {', '.join(sorted(both))}")
        return self


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
    playbook: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]*$", description="id in playbooks.yml")
    thresholds: T
    escalations: tuple[Escalation[P], ...] = ()
    segments: dict[Segment, SegmentOverride[P]] = Field(default_factory=dict)
    model_gate: PartialModelGate | None = None  # type: ignore[valid-type]
    auto_resolve_days: int | None = Field(None, ge=1, le=60)

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
    """A rule as it applies to one segment: overrides merged, escalations resolved, defaults applied."""

    alert_type: str
    enabled: bool
    severity: str
    title: str
    playbook: str
    thresholds: Thresholds
    escalations: tuple[tuple[Thresholds, str], ...]
    model_gate: ModelGate = field(default_factory=ModelGate)
    auto_resolve_days: int = 1
    playbook_id: str = ""
    playbook_steps: tuple[str, ...] = ()


def resolve_rule(
    alert_type: str,
    rule: RuleConfig,
    segment: str | None,
    defaults: Defaults | None = None,
    playbook: Playbook | None = None,
) -> EffectiveRule:
    """Apply the segment's override (if any) and the file's defaults to `rule`."""
    defaults = Defaults() if defaults is None else defaults
    override = rule.segments.get(segment) if segment else None  # type: ignore[call-overload]
    thresholds = rule.thresholds_for(segment)
    enabled = rule.enabled if override is None or override.enabled is None else override.enabled
    severity = rule.severity if override is None or override.severity is None else override.severity
    return EffectiveRule(
        alert_type=alert_type,
        enabled=enabled,
        severity=severity,
        title=rule.title,
        playbook=playbook.summary.strip() if playbook is not None else "",
        thresholds=thresholds,
        escalations=tuple((merge_thresholds(thresholds, e.when), e.severity) for e in rule.escalations),
        model_gate=effective_gate(defaults.model_gate, rule.model_gate),
        auto_resolve_days=rule.auto_resolve_days or defaults.auto_resolve_days,
        playbook_id=rule.playbook or alert_type,
        playbook_steps=playbook.steps if playbook is not None else (),
    )


def effective_gate(default: ModelGate, partial: BaseModel | None) -> ModelGate:
    if partial is None:
        return default
    return ModelGate.model_validate({**default.model_dump(), **partial.model_dump(exclude_unset=True)})


class AlertRulesFile(_Strict):
    """The whole of alert_rules.yml (and, once loaded, the playbooks it links to)."""

    version: Literal[1] = 1
    playbooks_file: str = Field("playbooks.yml", min_length=1, description="relative to this file")
    defaults: Defaults = Defaults()
    routing: RoutingPolicy = DEFAULT_ROUTING
    sla_business_hours: SlaHours = DEFAULT_SLA_HOURS
    repeat_interval_hours: RepeatIntervals = RepeatIntervals()
    inhibit_rules: tuple[InhibitRule, ...] = (InhibitRule(),)
    rules: AlertRules  # type: ignore[valid-type]

    _playbooks: PlaybooksFile | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _gates_with_defaults(self) -> "AlertRulesFile":
        for name in ALERT_TYPES:
            try:
                effective_gate(self.defaults.model_gate, self.rule(name).model_gate)
            except ValidationError as exc:
                problems = "; ".join(e["msg"] for e in exc.errors())
                raise ValueError(f"rules.{name}.model_gate with the defaults: {problems}") from None
        return self

    @property
    def playbooks(self) -> PlaybooksFile | None:
        return self._playbooks

    def rule(self, alert_type: str) -> RuleConfig:
        return getattr(self.rules, alert_type)

    def playbook_id(self, alert_type: str) -> str:
        return self.rule(alert_type).playbook or alert_type

    @cached_property
    def _effective(self) -> dict[tuple[str, str | None], EffectiveRule]:
        books = self._playbooks.playbooks if self._playbooks is not None else {}
        return {
            (name, segment): resolve_rule(
                name, self.rule(name), segment, self.defaults, books.get(self.playbook_id(name))
            )
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


def playbooks_path(rules_path: Path, rules: AlertRulesFile) -> Path:
    path = Path(rules.playbooks_file)
    return path if path.is_absolute() else rules_path.parent / path


def load_alert_rules(path: Path) -> AlertRulesFile:
    """Read and validate alert_rules.yml and the playbooks.yml it links to (HealthwatchError naming
    the file and key if either is bad, or a rule links to a playbook that does not exist)."""
    rules = load_yaml_model(path, AlertRulesFile)
    books_path = playbooks_path(path, rules)
    books = load_playbooks(books_path)
    for name in ALERT_TYPES:
        wanted = rules.playbook_id(name)
        if wanted not in books.playbooks:
            key = f"rules.{name}.playbook" if rules.rule(name).playbook else f"rules.{name}"
            raise HealthwatchError(
                f"{path}: {key}: no playbook {wanted!r} in {books_path}",
                f"add it to {books_path.name}, or link one of: {', '.join(sorted(books.playbooks))}",
            )
    rules._playbooks = books
    return rules
