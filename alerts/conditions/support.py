"""Support alerts: ticket spikes against the account's normal, escalations, negative sentiment."""

from pydantic import Field

from alerts.conditions.base import (
    AlertTypeSpec,
    Finding,
    Row,
    Thresholds,
    TuningKnob,
    fmt_number,
    lit,
    needs,
    plural,
    present,
)

# ---------------------------------------------------------------- ticket_spike


class TicketSpikeThresholds(Thresholds):
    min_tickets_7d: int = Field(3, ge=1, description="tickets in 7 days, at least (article: 3 in a week)")
    baseline_multiple: float = Field(3.0, ge=1, description="and this many times the account's normal")
    min_baseline_days: int = Field(21, ge=7, description="history needed before the baseline is used")


def ticket_spike(row: Row, t: TicketSpikeThresholds) -> Finding | None:
    tickets, baseline = row.get("tickets_7d"), row.get("tickets_7d_baseline")
    baseline_days = row.get("baseline_days")
    if tickets is None or tickets < t.min_tickets_7d:
        return None
    has_baseline = baseline is not None and baseline_days is not None and baseline_days >= t.min_baseline_days
    if has_baseline and baseline > 0 and tickets < t.baseline_multiple * baseline:
        return None
    if has_baseline and baseline > 0:
        versus = f"{tickets / baseline:.1f}× this account's 4-week normal of {fmt_number(baseline)}"
    elif has_baseline:
        versus = "none in a normal week"
    else:
        versus = "not enough history yet for a normal"
    return Finding(
        reason=f"{plural(int(tickets), 'support ticket')} in the last 7 days ({versus})",
        metric="tickets_7d",
        current=tickets,
        baseline=baseline if has_baseline else None,
        change=(tickets / baseline - 1) if has_baseline and baseline else None,
        window="7d vs median of 4 prior weeks",
        details={
            "tickets_negative_7d": row.get("tickets_negative_7d"),
            "tickets_escalated_28d": row.get("tickets_escalated_28d"),
            "tickets_repeat_28d": row.get("tickets_repeat_28d"),
        },
    )


def ticket_spike_sql(t: TicketSpikeThresholds) -> str:
    below_normal = (
        f"tickets_7d_baseline is not null and baseline_days is not null "
        f"and baseline_days >= {t.min_baseline_days} and tickets_7d_baseline > 0 "
        f"and tickets_7d < {lit(t.baseline_multiple)} * tickets_7d_baseline"
    )
    return f"tickets_7d >= {t.min_tickets_7d} and not coalesce({below_normal}, false)"


TICKET_SPIKE = AlertTypeSpec(
    "ticket_spike",
    "support",
    TicketSpikeThresholds,
    ticket_spike,
    needs("tickets_7d", "tickets_7d_baseline", "baseline_days"),
    ticket_spike_sql,
    tuning=TuningKnob("min_tickets_7d", "current", "higher", integer=True),
)


# ---------------------------------------------------------------- escalation


class EscalationThresholds(Thresholds):
    min_escalated_7d: int = Field(1, ge=1, description="escalated tickets opened in the last 7 days")


def escalation(row: Row, t: EscalationThresholds) -> Finding | None:
    escalated = row.get("tickets_escalated_7d")
    if escalated is None or escalated < t.min_escalated_7d:
        return None
    total = row.get("tickets_escalated_28d")
    return Finding(
        reason=(
            f"{plural(int(escalated), 'escalated support ticket')} in the last 7 days"
            + (f" ({fmt_number(total)} in 28 days)" if total is not None else "")
        ),
        metric="tickets_escalated_7d",
        current=escalated,
        window="7d",
        details={"tickets_escalated_28d": total, "tickets_7d": row.get("tickets_7d")},
    )


def escalation_sql(t: EscalationThresholds) -> str:
    return f"tickets_escalated_7d >= {t.min_escalated_7d}"


ESCALATION = AlertTypeSpec(
    "escalation",
    "support",
    EscalationThresholds,
    escalation,
    needs("tickets_escalated_7d"),
    escalation_sql,
    tuning=TuningKnob("min_escalated_7d", "current", "higher", integer=True),
)


# ---------------------------------------------------------------- negative_sentiment


class NegativeSentimentThresholds(Thresholds):
    min_negative_7d: int = Field(
        2, ge=1, description="negative tickets (VADER) in 7 days; article: one angry ticket is noise"
    )
    max_sentiment_avg_28d: float = Field(
        0.0, ge=-1, le=1, description="and the mean ticket sentiment over 28 days at most this"
    )


def negative_sentiment(row: Row, t: NegativeSentimentThresholds) -> Finding | None:
    negative, mean = row.get("tickets_negative_7d"), row.get("ticket_sentiment_avg_28d")
    if not present(negative, mean) or negative < t.min_negative_7d or mean > t.max_sentiment_avg_28d:
        return None
    return Finding(
        reason=(
            f"{plural(int(negative), 'negative support ticket')} in the last 7 days; "
            f"mean ticket sentiment {mean:+.2f} over 28 days"
        ),
        metric="tickets_negative_7d",
        current=negative,
        window="7d",
        details={"ticket_sentiment_avg_28d": mean, "tickets_7d": row.get("tickets_7d")},
    )


def negative_sentiment_sql(t: NegativeSentimentThresholds) -> str:
    return (
        f"tickets_negative_7d >= {t.min_negative_7d} "
        f"and ticket_sentiment_avg_28d <= {lit(float(t.max_sentiment_avg_28d))}"
    )


NEGATIVE_SENTIMENT = AlertTypeSpec(
    "negative_sentiment",
    "support",
    NegativeSentimentThresholds,
    negative_sentiment,
    needs("tickets_negative_7d", "ticket_sentiment_avg_28d"),
    negative_sentiment_sql,
    tuning=TuningKnob("min_negative_7d", "current", "higher", integer=True),
)
