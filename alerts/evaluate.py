"""Judge one evaluation row against the rules: which alert types fire, at what severity, and why.

One mechanism for every type: resolve the rule for the account's segment, run the type's
condition, then raise the severity to the highest escalation whose stricter thresholds also hold.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alerts.conditions import ALERT_TYPES, Finding, Row, fmt_number
from alerts.rules import AlertRulesFile, EffectiveRule
from alerts.types import max_severity


@dataclass(frozen=True)
class RuleHit:
    """An alert type that fires on one account."""

    alert_type: str
    severity: str
    title: str
    reason: str
    evidence: dict[str, Any]
    playbook: str


def evaluate_rule(row: Row, rule: EffectiveRule) -> RuleHit | None:
    """Run one (segment-resolved) rule on one row; None when it is disabled or does not fire."""
    if not rule.enabled:
        return None
    spec = ALERT_TYPES[rule.alert_type]
    finding = spec.evaluate(row, rule.thresholds)
    if finding is None:
        return None
    severity = rule.severity
    for stricter, escalated in rule.escalations:
        if spec.evaluate(row, stricter) is not None:
            severity = max_severity(severity, escalated)
    return RuleHit(
        alert_type=rule.alert_type,
        severity=severity,
        title=render_title(rule.title, row, rule.alert_type, severity, finding),
        reason=finding.reason,
        evidence=finding.evidence(),
        playbook=rule.playbook,
    )


def evaluate_row(row: Row, rules: AlertRulesFile) -> list[RuleHit]:
    """Every alert type that fires on this row, in registry order."""
    segment = row.get("segment")
    hits = []
    for alert_type in ALERT_TYPES:
        hit = evaluate_rule(row, rules.effective(alert_type, segment))
        if hit is not None:
            hits.append(hit)
    return hits


def still_holds(row: Row, rules: AlertRulesFile, alert_type: str, evidence: Mapping[str, Any]) -> bool:
    """For an open alert that did not fire this run: does its type keep it open anyway?"""
    spec = ALERT_TYPES.get(alert_type)
    if spec is None or spec.holds is None:
        return False
    rule = rules.effective(alert_type, row.get("segment"))
    return rule.enabled and spec.holds(row, rule.thresholds, evidence)


def render_title(template: str, row: Row, alert_type: str, severity: str, finding: Finding) -> str:
    """Fill a title template (placeholders checked when the rules were loaded)."""
    change = f"{finding.change:+.0%}" if finding.change is not None else "n/a"

    def show(value: Any) -> str:
        if value is None:
            return "n/a"
        return value if isinstance(value, str) else fmt_number(value)

    return template.format(
        account_name=row.get("account_name") or row.get("account_id"),
        segment=row.get("segment") or "n/a",
        severity=severity,
        alert_type=alert_type,
        metric=finding.metric,
        current=show(finding.current),
        baseline=show(finding.baseline),
        change_pct=change,
        window=finding.window or "n/a",
    )
