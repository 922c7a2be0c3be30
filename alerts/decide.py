"""One account, one run: from its evaluation row and its live alerts to the rows to write.

Pure (no warehouse): the engine reads the inputs and writes the result. In order:

1. rules fire (alerts.evaluate); the model gate downgrades or holds what the model calls low-risk;
2. each hit opens an alert or refreshes the live one with its dedup key (account × type); a key the
   CSM just closed stays closed for its repeat interval unless the severity rises;
3. an open alert past its SLA, still firing and unacknowledged, escalates one tier;
4. live alerts that did not fire are held (their type's `holds`), or resolved once the condition
   has not held for `auto_resolve_days`;
5. noise control on what fired: silences, maintenance windows, holidays and the gate's hold
   suppress; then inhibition: a live critical alert holds back the account's lower ones;
6. notifications: opening, escalation, SLA breach, end of a suppression, or a repeat interval.
"""

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from alerts.calendar import CompanyCalendar
from alerts.conditions import ALERT_TYPES
from alerts.evaluate import RuleHit, evaluate_row, still_holds
from alerts.gate import GateDecision, apply_gate
from alerts.keys import dedup_key
from alerts.lifecycle import (
    cleared_for,
    hold_alert,
    notify,
    open_alert,
    refresh_alert,
    repeat_due,
    resolve_alert,
    suppress_alert,
    unsuppress_alert,
)
from alerts.priority import priority
from alerts.routing import OwnerChain, route
from alerts.rules import AlertRulesFile, EffectiveRule
from alerts.silences import Silence, first_match
from alerts.sla import country_for_timezone, sla_due_at
from alerts.types import SEVERITY_RANK, max_severity, raise_severity
from healthwatch.config import CalendarConfig

DEFAULT_TIMEZONE = "UTC"
Alert = dict[str, Any]


@dataclass(frozen=True)
class RunContext:
    """What every account of a run shares."""

    rules: AlertRulesFile
    calendar: CalendarConfig
    company: CompanyCalendar
    now: datetime
    silences: tuple[Silence, ...] = ()


@dataclass
class AccountPlan:
    inserts: list[Alert] = field(default_factory=list)
    updates: list[Alert] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    by_severity: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Owner:
    """The account's owner chain and where their clock runs."""

    chain: OwnerChain
    timezone: str
    country: str
    company_holidays: frozenset[date]


def owner_of(row: Mapping[str, Any], ctx: RunContext) -> Owner:
    chain = OwnerChain(
        csm_id=row.get("csm_id"),
        csm_name=row.get("csm_name"),
        csm_email=row.get("csm_email"),
        csm_timezone=row.get("csm_timezone"),
        manager_id=row.get("manager_id"),
        vp_id=row.get("vp_id"),
    )
    country = country_for_timezone(
        chain.csm_timezone, ctx.calendar.country_by_timezone, ctx.calendar.default_country
    )
    return Owner(
        chain=chain,
        timezone=chain.csm_timezone or DEFAULT_TIMEZONE,
        country=country,
        company_holidays=frozenset(ctx.company.company_holidays_for(country)),
    )


def routing_fields(
    severity: str, segment: str | None, owner: Owner, ctx: RunContext, start: datetime
) -> dict[str, Any]:
    """Priority, owner, recipients and SLA of an alert at `severity` whose clock starts at `start`."""
    routing = route(severity, owner.chain, ctx.rules.routing)
    return {
        "severity": severity,
        "priority": priority(severity, segment),
        "owner_id": routing.owner_id,
        "owner_name": routing.owner_name,
        "owner_email": routing.owner_email,
        "owner_timezone": routing.owner_timezone,
        "notify_member_ids": json.dumps(list(routing.notify_member_ids)),
        "manager_id": routing.manager_id,
        "in_manager_digest": routing.in_manager_digest,
        "needs_exec_outreach": routing.needs_exec_outreach,
        "sla_due_at": sla_due_at(
            start,
            severity,
            owner.timezone,
            owner.country,
            ctx.calendar.business_hours,
            ctx.rules.sla_business_hours,
            owner.company_holidays,
        ),
    }


def candidate(
    row: Mapping[str, Any],
    hit: RuleHit,
    rule: EffectiveRule,
    gate: GateDecision,
    severity: str,
    owner: Owner,
    ctx: RunContext,
) -> Alert:
    """Every non-lifecycle column of an alert row for this hit at `severity`."""
    books = ctx.rules.playbooks
    subject = body = None
    if books is not None and rule.playbook_id in books.playbooks:
        subject, body = books.render_email(
            rule.playbook_id,
            {
                "account_name": row.get("account_name") or row["account_id"],
                "csm_name": owner.chain.csm_name,
                "csm_email": owner.chain.csm_email,
                "reason": hit.reason,
                "title": hit.title,
                "severity": severity,
                "alert_type": hit.alert_type,
                "segment": row.get("segment"),
            },
        )
    return {
        "dedup_key": dedup_key(row["account_id"], hit.alert_type),
        "account_id": row["account_id"],
        "account_name": row.get("account_name"),
        "segment": row.get("segment"),
        "arr": row.get("arr"),
        "alert_type": hit.alert_type,
        "title": hit.title,
        "reason": hit.reason,
        "evidence": json.dumps(hit.evidence, ensure_ascii=False, default=str),
        "churn_probability": row.get("churn_probability"),
        "health_score": row.get("health_score"),
        "health_class": row.get("health_class"),
        "drivers": row.get("drivers"),
        "model_version": row.get("model_version"),
        "scored_at": row.get("scored_at"),
        "playbook": hit.playbook,
        "signal_date": row["signal_date"],
        "rule_severity": hit.severity,
        "gate_action": gate.action,
        "gate_reason": gate.reason,
        "playbook_id": rule.playbook_id,
        "playbook_steps": json.dumps(list(rule.playbook_steps), ensure_ascii=False),
        "email_subject": subject,
        "email_body": body,
        **routing_fields(severity, row.get("segment"), owner, ctx, ctx.now),
    }


def _sla_passed(alert: Mapping[str, Any], now: datetime) -> bool:
    due = alert.get("sla_due_at")
    return (
        alert.get("status") == "open" and due is not None and due <= now and alert["severity"] != "critical"
    )


def _reopen_blocked(closed: Mapping[str, Any] | None, severity: str, ctx: RunContext) -> bool:
    """The CSM closed this key recently: stay quiet for its repeat interval unless it got worse."""
    if closed is None or closed.get("resolved_at") is None:
        return False
    quiet = timedelta(hours=ctx.rules.repeat_interval_hours.for_severity(closed["severity"]))
    return (
        ctx.now - closed["resolved_at"] < quiet
        and SEVERITY_RANK[severity] <= SEVERITY_RANK[closed["severity"]]
    )


def own_suppression(
    alert: Mapping[str, Any], gate: GateDecision, owner: Owner, ctx: RunContext
) -> tuple[str, str] | None:
    """(reason, by) when something other than inhibition holds this alert back; silences first."""
    account, segment, alert_type = alert["account_id"], alert.get("segment"), alert["alert_type"]
    silence = first_match(list(ctx.silences), account, segment, alert_type, ctx.now)
    if silence is not None:
        return "silence", silence.silence_id
    signal_date = alert.get("signal_date")
    if signal_date is not None:
        window = ctx.company.maintenance_for(alert_type, segment, account, signal_date)
        if window is not None:
            return "maintenance", window.name
        rule = ctx.company.holiday_suppression
        if rule.enabled and alert_type in rule.alert_types:
            holiday = ctx.company.holiday_in_window(signal_date, owner.country)
            if holiday is not None:
                return "holiday", f"{holiday[1]} ({holiday[0].isoformat()})"
    if gate.action == "held":
        return "model_gate", "model_gate"
    return None


def inhibitor(
    alert: Mapping[str, Any], account_alerts: list[Mapping[str, Any]], ctx: RunContext
) -> str | None:
    """The dedup key of a live alert on the same account that inhibits `alert`, if any."""
    candidates = []
    for rule in ctx.rules.inhibit_rules:
        if alert["severity"] not in rule.target_severities:
            continue
        for source in account_alerts:
            if (
                source["dedup_key"] != alert["dedup_key"]
                and source["account_id"] == alert["account_id"]
                and source["status"] in ("open", "acknowledged")
                and source["severity"] in rule.source_severities
            ):
                candidates.append(source)
    if not candidates:
        return None
    best = min(candidates, key=lambda a: (-SEVERITY_RANK[a["severity"]], a["dedup_key"]))
    return best["dedup_key"]


def plan_account(
    row: Mapping[str, Any],
    live: Mapping[str, Alert],
    closed: Mapping[str, Alert],
    ctx: RunContext,
) -> AccountPlan:
    """The alert rows to insert and update for one account (`live`, `closed`: alert_type → row)."""
    plan = AccountPlan()
    rules, now = ctx.rules, ctx.now
    segment, signal_date = row.get("segment"), row["signal_date"]
    owner = owner_of(row, ctx)
    pending = dict(live)
    touched: dict[str, Alert] = {}
    new: set[str] = set()
    escalated: dict[str, str] = {}
    gates: dict[str, GateDecision] = {}

    # 1-3. what fires
    for hit in evaluate_row(row, rules):
        rule = rules.effective(hit.alert_type, segment)
        gate = apply_gate(
            hit.severity, rule.model_gate, row.get("health_class"), row.get("churn_probability")
        )
        existing = pending.pop(hit.alert_type, None)
        if existing is None:
            if _reopen_blocked(closed.get(hit.alert_type), gate.severity, ctx):
                plan.counts["held_after_close"] += 1
                continue
            alert = open_alert(candidate(row, hit, rule, gate, gate.severity, owner, ctx), now)
            new.add(alert["dedup_key"])
        else:
            severity, why = max_severity(existing["severity"], gate.severity), "condition"
            if severity == existing["severity"] and _sla_passed(existing, now):
                severity, why = raise_severity(existing["severity"]), "sla_breach"
            alert = refresh_alert(existing, candidate(row, hit, rule, gate, severity, owner, ctx), now, why)
            if alert["severity"] != existing["severity"]:
                escalated[alert["dedup_key"]] = why
        gates[alert["dedup_key"]] = gate
        touched[alert["dedup_key"]] = alert
        plan.by_severity[alert["severity"]] += 1
        plan.counts[f"gate_{gate.action}"] += gate.action != "none"

    # 4. live alerts that did not fire
    resolved: set[str] = set()
    for alert_type, existing in sorted(pending.items()):
        key = existing["dedup_key"]
        known = alert_type in ALERT_TYPES
        rule = rules.effective(alert_type, segment) if known else None
        if known and still_holds(row, rules, alert_type, json.loads(existing["evidence"] or "{}")):
            alert = hold_alert(existing, now, signal_date)
            base = existing.get("rule_severity") or existing["severity"]
            gates[key] = apply_gate(
                base, rule.model_gate, row.get("health_class"), row.get("churn_probability")
            )
            if _sla_passed(existing, now):
                raised = raise_severity(existing["severity"])
                alert = {
                    **alert,
                    **routing_fields(raised, segment, owner, ctx, now),
                    "escalated_from": existing["severity"],
                    "escalated_at": now,
                    "escalation_reason": "sla_breach",
                }
                escalated[key] = "sla_breach"
            touched[key] = alert
        elif rule is None or not rule.enabled:
            plan.updates.append(resolve_alert(existing, now, "rule_disabled"))
            resolved.add(key)
        elif cleared_for(existing, signal_date) >= rule.auto_resolve_days:
            plan.updates.append(resolve_alert(existing, now, "condition_cleared"))
            resolved.add(key)
        # else: cleared for fewer days than the rule waits; left as it is
    plan.counts["resolved"] += len(resolved)
    plan.counts["escalated"] += len(escalated)
    plan.counts["sla_escalated"] += sum(1 for why in escalated.values() if why == "sla_breach")

    # 5. noise control on what fired (acknowledged alerts are being worked: never held back)
    unsuppressed: set[str] = set()
    for key, alert in touched.items():
        if alert["status"] == "acknowledged":
            continue
        held = own_suppression(alert, gates[key], owner, ctx)
        if held is not None:
            touched[key] = suppress_alert(alert, now, *held)
        elif alert["status"] == "suppressed" and alert.get("suppressed_reason") != "inhibited":
            touched[key] = _reopen(alert, segment, owner, ctx)
            unsuppressed.add(key)
    account_alerts = [
        *touched.values(),
        *(a for a in pending.values() if a["dedup_key"] not in touched and a["dedup_key"] not in resolved),
    ]
    for key, alert in sorted(touched.items()):
        if alert["status"] == "open" or alert.get("suppressed_reason") == "inhibited":
            source = inhibitor(alert, account_alerts, ctx)
            if source is not None:
                touched[key] = suppress_alert(alert, now, "inhibited", source)
                plan.counts["inhibited"] += 1
            elif alert["status"] == "suppressed":
                touched[key] = _reopen(alert, segment, owner, ctx)
                unsuppressed.add(key)

    # 6. notifications: at most one per alert per run
    for key, alert in touched.items():
        if alert["status"] not in ("open", "acknowledged"):
            plan.counts["suppressed"] += 1
            continue
        reason = None
        if key in new:
            reason = "opened"
        elif key in escalated:
            reason = "escalated" if escalated[key] == "condition" else "sla_breach"
        elif key in unsuppressed:
            reason = "unsuppressed" if alert.get("notification_count") else "opened"
        elif repeat_due(alert, now, rules.repeat_interval_hours.for_severity(alert["severity"])):
            reason = "repeat"
        if reason is not None:
            touched[key] = notify(alert, now, reason)
            plan.counts["notified"] += 1

    for key, alert in touched.items():
        (plan.inserts if key in new else plan.updates).append(alert)
    return plan


def _reopen(alert: Alert, segment: str | None, owner: Owner, ctx: RunContext) -> Alert:
    due = routing_fields(alert["severity"], segment, owner, ctx, ctx.now)["sla_due_at"]
    return unsuppress_alert(alert, ctx.now, due)
