"""The small vocabularies every alert module shares: severities, segments, health classes, statuses."""

from typing import Literal, get_args

Severity = Literal["critical", "high", "medium", "low"]
Segment = Literal["enterprise", "mid_market", "smb"]
HealthClass = Literal["Healthy", "At-Risk", "Critical"]
AlertStatus = Literal["open", "acknowledged", "resolved", "suppressed"]

SEVERITIES: tuple[str, ...] = get_args(Severity)
SEGMENTS: tuple[str, ...] = get_args(Segment)
HEALTH_CLASSES: tuple[str, ...] = get_args(HealthClass)
ALERT_STATUSES: tuple[str, ...] = get_args(AlertStatus)

# Higher is more severe / worse health.
SEVERITY_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}
HEALTH_CLASS_RANK: dict[str, int] = {"Healthy": 0, "At-Risk": 1, "Critical": 2}

# An alert in one of these states is in front of people (digests, CRM tasks).
ACTIVE_STATUSES: tuple[str, ...] = ("open", "acknowledged")


def max_severity(*severities: str) -> str:
    """The most severe of the given severities."""
    return max(severities, key=SEVERITY_RANK.__getitem__)


# An alert in one of these states still belongs to its dedup key: a new firing updates it.
LIVE_STATUSES: tuple[str, ...] = ("open", "acknowledged", "suppressed")


def raise_severity(severity: str, steps: int = 1) -> str:
    """`steps` tiers more severe, at most critical."""
    return SEVERITIES[max(0, SEVERITIES.index(severity) - steps)]


def lower_severity(severity: str, steps: int = 1) -> str:
    """`steps` tiers less severe, at least low."""
    return SEVERITIES[min(len(SEVERITIES) - 1, SEVERITIES.index(severity) + steps)]
