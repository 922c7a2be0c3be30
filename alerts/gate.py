"""The model gate: a rule alert on an account the churn model scores low-risk is downgraded or held.

Rules see one signal; the model sees the whole account. When the model calls the account low-risk
(alert_rules.yml `model_gate`), the rule's alert is lowered a tier or more (`downgrade`), or kept
out of people's queues until the model sees risk (`hold`), and the alert records why.
"""

from dataclasses import dataclass
from typing import Literal

from alerts.rules import ModelGate
from alerts.types import lower_severity

GateOutcome = Literal["none", "downgraded", "held"]


@dataclass(frozen=True)
class GateDecision:
    action: GateOutcome
    severity: str  # the severity after the gate
    reason: str | None = None


def is_low_risk(gate: ModelGate, health_class: str | None, probability: float | None) -> bool:
    """Whether the model's score makes this account low-risk for the gate (no score: never)."""
    if health_class is None and probability is None:
        return False
    if gate.low_risk_classes and health_class not in gate.low_risk_classes:
        return False
    return not (
        gate.max_probability is not None and (probability is None or probability >= gate.max_probability)
    )


def apply_gate(
    severity: str, gate: ModelGate, health_class: str | None, probability: float | None
) -> GateDecision:
    """The rule's severity after the gate, and the reason when the gate acted."""
    if gate.action == "none" or not is_low_risk(gate, health_class, probability):
        return GateDecision("none", severity)
    odds = f", churn probability {probability:.0%}" if probability is not None else ""
    scored = f"the model scores the account {health_class or 'low-risk'}{odds}"
    if gate.action == "hold":
        return GateDecision("held", severity, f"held: {scored}")
    lowered = lower_severity(severity, gate.downgrade_steps)
    if lowered == severity:
        return GateDecision("none", severity)
    return GateDecision("downgraded", lowered, f"{severity} → {lowered}: {scored}")
