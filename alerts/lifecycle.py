"""The lifecycle of one alert row, as pure functions on dicts (first cut).

- a hit with no live alert for its dedup key opens one;
- a hit on a live (open/acknowledged) alert refreshes it: last_seen_at, evidence, owner; when the
  severity rises, it records the escalation, takes the new routing and score, and the SLA can only
  get earlier;
- a live alert whose condition no longer holds is resolved, with the reason in `resolution`.

Timestamps are the pipeline clock (naive UTC), so the same inputs give the same rows.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from alerts.keys import alert_id
from alerts.types import SEVERITY_RANK

# Refreshed from the latest firing every time the alert is seen.
CURRENT_FIELDS: tuple[str, ...] = (
    "account_name",
    "segment",
    "arr",
    "priority",
    "title",
    "reason",
    "evidence",
    "playbook",
    "owner_id",
    "owner_name",
    "owner_email",
    "owner_timezone",
    "notify_member_ids",
    "manager_id",
    "in_manager_digest",
    "needs_exec_outreach",
    "signal_date",
)
# Kept from the firing that opened the alert, or from its latest escalation.
SCORE_FIELDS: tuple[str, ...] = (
    "churn_probability",
    "health_score",
    "health_class",
    "drivers",
    "model_version",
    "scored_at",
)

RESOLUTIONS = ("condition_cleared", "rule_disabled", "account_churned")


def open_alert(candidate: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A new alert row from a candidate (every non-lifecycle column filled by the engine)."""
    return {
        **candidate,
        "alert_id": alert_id(candidate["dedup_key"], now),
        "status": "open",
        "opened_at": now,
        "last_seen_at": now,
        "acknowledged_at": None,
        "escalated_at": None,
        "escalated_from": None,
        "resolved_at": None,
        "resolution": None,
        "updated_at": now,
    }


def refresh_alert(existing: Mapping[str, Any], candidate: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A live alert fired again. `candidate.severity` is never below the existing severity."""
    row = dict(existing)
    for name in CURRENT_FIELDS:
        row[name] = candidate[name]
    if SEVERITY_RANK[candidate["severity"]] > SEVERITY_RANK[existing["severity"]]:
        row["escalated_from"] = existing["severity"]
        row["escalated_at"] = now
        row["severity"] = candidate["severity"]
        for name in SCORE_FIELDS:
            row[name] = candidate[name]
        due = [d for d in (existing["sla_due_at"], candidate["sla_due_at"]) if d is not None]
        row["sla_due_at"] = min(due) if due else None
    row["last_seen_at"] = now
    row["updated_at"] = now
    return row


def hold_alert(existing: Mapping[str, Any], now: datetime, signal_date: Any) -> dict[str, Any]:
    """A live alert that did not fire again but whose situation persists (its type's `holds`)."""
    return {**existing, "signal_date": signal_date, "last_seen_at": now, "updated_at": now}


def resolve_alert(existing: Mapping[str, Any], now: datetime, resolution: str) -> dict[str, Any]:
    if resolution not in RESOLUTIONS:
        raise ValueError(f"unknown resolution {resolution!r}; use one of {', '.join(RESOLUTIONS)}")
    return {**existing, "status": "resolved", "resolved_at": now, "resolution": resolution, "updated_at": now}
