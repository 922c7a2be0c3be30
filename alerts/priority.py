"""The article's priority matrix: severity band × segment → priority 1 (first) … 9 (last).

| band                  | enterprise | mid-market | SMB |
| --------------------- | ---------- | ---------- | --- |
| high (critical, high) | 1          | 2          | 4   |
| medium                | 3          | 5          | 7   |
| low                   | 6          | 8          | 9   |

Ties break by severity (critical before high), then by ARR (larger first).
"""

from collections.abc import Mapping
from typing import Any

from alerts.types import SEGMENTS, SEVERITIES, SEVERITY_RANK
from healthwatch.errors import HealthwatchError

# critical and high share the article's "High" band.
SEVERITY_BAND: dict[str, str] = {"critical": "high", "high": "high", "medium": "medium", "low": "low"}

PRIORITY_MATRIX: dict[tuple[str, str], int] = {
    ("high", "enterprise"): 1,
    ("high", "mid_market"): 2,
    ("high", "smb"): 4,
    ("medium", "enterprise"): 3,
    ("medium", "mid_market"): 5,
    ("medium", "smb"): 7,
    ("low", "enterprise"): 6,
    ("low", "mid_market"): 8,
    ("low", "smb"): 9,
}


def priority(severity: str, segment: str) -> int:
    """Priority 1–9 of an alert of `severity` on an account of `segment`."""
    if severity not in SEVERITY_BAND:
        raise HealthwatchError(f"unknown severity {severity!r}", f"use one of {', '.join(SEVERITIES)}")
    if segment not in SEGMENTS:
        raise HealthwatchError(
            f"unknown segment {segment!r}", f"accounts.segment must be one of {', '.join(SEGMENTS)}"
        )
    return PRIORITY_MATRIX[(SEVERITY_BAND[severity], segment)]


def priority_sort_key(priority_value: int, severity: str, arr: float | None) -> tuple[int, int, float]:
    """Sort ascending: priority first, then the more severe, then the larger ARR."""
    return (priority_value, -SEVERITY_RANK[severity], -(arr or 0.0))


def alert_sort_key(alert: Mapping[str, Any]) -> tuple[int, int, float, str]:
    """Sort key for alert rows (dicts with priority, severity, arr); dedup_key makes it total."""
    return (
        *priority_sort_key(alert["priority"], alert["severity"], alert.get("arr")),
        str(alert.get("dedup_key", "")),
    )


# The same order in SQL, for BI queries and digests that sort in the warehouse.
PRIORITY_ORDER_SQL = (
    "priority asc, case severity when 'critical' then 0 when 'high' then 1 when 'medium' then 2 "
    "else 3 end asc, arr desc nulls last, dedup_key asc"
)
