"""The lifecycle of one alert row, as pure functions on dicts.

    open ──► acknowledged ──► resolved
      │  ▲         (CRM task in progress)     (condition cleared for `auto_resolve_days`, rule
      ▼  │                                     disabled, account churned, or the CSM closed the
    suppressed                                 task with an outcome)
      (silence, maintenance window, holiday, model gate hold, inhibition; back to open when it ends)

- a hit with no live alert for its dedup key opens one;
- a hit on a live alert refreshes it: last_seen_at, evidence, owner; when the severity rises (a
  stricter threshold, or the SLA passed unacknowledged) it records the escalation, takes the new
  routing and score; after a condition escalation the SLA can only get earlier, after an SLA
  breach it restarts at the higher tier;
- a live alert whose condition no longer holds is resolved once it has not held for the rule's
  `auto_resolve_days`, with the reason in `resolution`;
- every notification (opening, escalation, SLA breach, repeat, end of a suppression) moves
  `last_notified_at`, `notification_count` and `notification_key`.

Timestamps are the pipeline clock (naive UTC), so the same inputs give the same rows.
"""

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal

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
    "rule_severity",
    "gate_action",
    "gate_reason",
    "playbook_id",
    "playbook_steps",
    "email_subject",
    "email_body",
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

RESOLUTIONS = ("condition_cleared", "rule_disabled", "account_churned", "closed_by_owner")
OUTCOMES = ("false_positive", "true_positive_resolved", "escalated_to_churn")
SUPPRESSION_REASONS = ("silence", "maintenance", "holiday", "model_gate", "inhibited")
NOTIFY_REASONS = ("opened", "escalated", "sla_breach", "repeat", "unsuppressed")
EscalationReason = Literal["condition", "sla_breach"]

_FRESH: dict[str, Any] = {
    "status": "open",
    "acknowledged_at": None,
    "escalated_at": None,
    "escalated_from": None,
    "escalation_reason": None,
    "resolved_at": None,
    "resolution": None,
    "suppressed_reason": None,
    "suppressed_by": None,
    "suppressed_at": None,
    "last_notified_at": None,
    "notification_count": 0,
    "notify_reason": None,
    "notification_key": None,
    "outcome": None,
    "outcome_at": None,
}


def open_alert(candidate: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A new alert row from a candidate (every non-lifecycle column filled by the engine)."""
    return {
        **candidate,
        **_FRESH,
        "alert_id": alert_id(candidate["dedup_key"], now),
        "opened_at": now,
        "last_seen_at": now,
        "last_fired_date": candidate.get("signal_date"),
        "updated_at": now,
    }


def refresh_alert(
    existing: Mapping[str, Any],
    candidate: Mapping[str, Any],
    now: datetime,
    escalation_reason: EscalationReason = "condition",
) -> dict[str, Any]:
    """A live alert fired again. `candidate.severity` is never below the existing severity."""
    row = dict(existing)
    for name in CURRENT_FIELDS:
        if name in candidate:
            row[name] = candidate[name]
    if SEVERITY_RANK[candidate["severity"]] > SEVERITY_RANK[existing["severity"]]:
        row["escalated_from"] = existing["severity"]
        row["escalated_at"] = now
        row["escalation_reason"] = escalation_reason
        row["severity"] = candidate["severity"]
        for name in SCORE_FIELDS:
            row[name] = candidate[name]
        if escalation_reason == "sla_breach":
            row["sla_due_at"] = candidate["sla_due_at"]
        else:
            due = [d for d in (existing["sla_due_at"], candidate["sla_due_at"]) if d is not None]
            row["sla_due_at"] = min(due) if due else None
    row["last_seen_at"] = now
    row["last_fired_date"] = candidate.get("signal_date", existing.get("last_fired_date"))
    row["updated_at"] = now
    return row


def hold_alert(existing: Mapping[str, Any], now: datetime, signal_date: Any) -> dict[str, Any]:
    """A live alert that did not fire again but whose situation persists (its type's `holds`)."""
    return {
        **existing,
        "signal_date": signal_date,
        "last_fired_date": signal_date,
        "last_seen_at": now,
        "updated_at": now,
    }


def cleared_for(existing: Mapping[str, Any], signal_date: date) -> int:
    """Days the condition has not held, as of `signal_date`."""
    last = existing.get("last_fired_date") or existing.get("signal_date")
    if last is None or signal_date is None:
        return 0
    return (signal_date - last).days


def resolve_alert(existing: Mapping[str, Any], now: datetime, resolution: str) -> dict[str, Any]:
    if resolution not in RESOLUTIONS:
        raise ValueError(f"unknown resolution {resolution!r}; use one of {', '.join(RESOLUTIONS)}")
    return {
        **existing,
        "status": "resolved",
        "resolved_at": now,
        "resolution": resolution,
        "suppressed_reason": None,
        "suppressed_by": None,
        "updated_at": now,
    }


def suppress_alert(existing: Mapping[str, Any], now: datetime, reason: str, by: str) -> dict[str, Any]:
    """Hold an open alert back (or keep it held, with the current reason)."""
    if reason not in SUPPRESSION_REASONS:
        raise ValueError(f"unknown suppression {reason!r}; use one of {', '.join(SUPPRESSION_REASONS)}")
    row = dict(existing)
    if row["status"] != "suppressed":
        row["suppressed_at"] = now
    row.update(status="suppressed", suppressed_reason=reason, suppressed_by=by, updated_at=now)
    return row


def unsuppress_alert(
    existing: Mapping[str, Any], now: datetime, sla_due_at: datetime | None
) -> dict[str, Any]:
    """The suppression ended: the alert is open again and its SLA starts now."""
    return {
        **existing,
        "status": "acknowledged" if existing.get("acknowledged_at") else "open",
        "suppressed_reason": None,
        "suppressed_by": None,
        "suppressed_at": None,
        "sla_due_at": sla_due_at,
        "updated_at": now,
    }


def notify(existing: Mapping[str, Any], now: datetime, reason: str) -> dict[str, Any]:
    """Record a notification: delivery sends the alerts whose `last_notified_at` is its clock."""
    if reason not in NOTIFY_REASONS:
        raise ValueError(f"unknown notification {reason!r}; use one of {', '.join(NOTIFY_REASONS)}")
    count = int(existing.get("notification_count") or 0) + 1
    return {
        **existing,
        "last_notified_at": now,
        "notification_count": count,
        "notify_reason": reason,
        "notification_key": f"{count}-{reason}",
        "updated_at": now,
    }


def repeat_due(existing: Mapping[str, Any], now: datetime, interval_hours: float) -> bool:
    """An open (unacknowledged) alert last notified at least `interval_hours` ago."""
    last = existing.get("last_notified_at")
    if existing.get("status") != "open" or last is None:
        return False
    return (now - last).total_seconds() >= interval_hours * 3600
