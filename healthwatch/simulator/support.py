"""Support tickets: opened more often (and angrier) by unhealthy accounts, escalated, closed."""

import numpy as np

from healthwatch.simulator import images
from healthwatch.simulator.calendar import is_working_day
from healthwatch.simulator.changes import ChangeLog
from healthwatch.simulator.day import Day, Part, active_accounts, active_contacts, defer_untouched
from healthwatch.simulator.tables import DAY_SECONDS, NEVER_SEC, Table, pick_in_groups
from healthwatch.simulator.text import ANGRY, FRUSTRATED, NEUTRAL, POSITIVE, ticket_texts
from healthwatch.simulator.world import World

# Tickets per account per working day at full health (enterprise, mid_market, smb).
SEGMENT_RATE = np.array([0.15, 0.06, 0.025])
SPIKE_RATE = 0.7
HOUR = 3600


def step(world: World, day: Day, log: ChangeLog) -> None:
    rng = day.rng(Part.TICKETS)
    _open(world, day, rng, log)
    _escalate(world, day, log)
    _close(world, day, log)


def in_spike(world: World, day: Day) -> np.ndarray:
    """Accounts inside one of their ticket-spike episodes today."""
    start, length = world.plans["spike_start"], world.plans["spike_len"]
    return ((start <= day.index) & (day.index < start + length)).any(axis=1)


def _open(world: World, day: Day, rng: np.random.Generator, log: ChangeLog) -> None:
    health, spike = day.health, in_spike(world, day)
    rate = SEGMENT_RATE[world.accounts["seg_code"]] * (1 + 1.5 * (1 - health))
    rate = rate * (1.0 if is_working_day(day.date) else 0.12) + SPIKE_RATE * spike
    counts = rng.poisson(np.where(active_accounts(world, day), rate, 0.0))
    acc = np.repeat(np.arange(len(counts)), counts)
    tones = _tones(rng, health[acc], spike[acc])
    contact = _requesters(world, day, rng, acc)
    subjects, bodies = ticket_texts(rng, tones, world.features)
    created = day.business_time(rng, len(acc))
    escalate_after, close_after, csat = _lifecycle(rng, health[acc], tones, spike[acc])
    priority = _priorities(rng, tones)
    if not len(acc):
        return
    tickets = Table(
        {
            "ticket_id": world.new_ids("ticket", len(acc)),
            "account_idx": acc,
            "contact_id": world.contacts["contact_id"][contact],
            "created_sec": created,
            "priority": priority,
            "is_escalated": np.zeros(len(acc), dtype=bool),
            "subject": subjects,
            "body": bodies,
            "escalate_sec": np.where(escalate_after < NEVER_SEC, created + escalate_after, NEVER_SEC),
            "close_sec": created + close_after,
            "csat": csat,
        }
    )
    log.add("tickets", "c", created, day=day.index, after=images.tickets(world, tickets, closed=False))
    world.open_tickets = world.open_tickets.append(tickets)


def _lifecycle(
    rng: np.random.Generator, health: np.ndarray, tones: np.ndarray, spike: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seconds until escalation (NEVER_SEC if none) and until closing, and the CSAT given (-1: none)."""
    n = len(health)
    unhappiness = 1 - health + 0.25 * (tones == ANGRY) + 0.15 * spike
    escalated = rng.random(n) < 0.02 + 0.3 * unhappiness**2
    escalate_after = rng.integers(HOUR, 48 * HOUR, n)
    close_after = np.clip(rng.lognormal(np.log(30 * HOUR), 0.9, n), HOUR, 30 * DAY_SECONDS).astype(np.int64)
    after_escalation = escalate_after + rng.integers(HOUR, 72 * HOUR, n)
    close_after = np.where(escalated, np.maximum(close_after, after_escalation), close_after)
    mood = 1.5 + 3.5 * health - 0.8 * (tones == ANGRY) - 0.5 * escalated + rng.normal(0, 0.8, n)
    rated = rng.random(n) < 0.6
    csat = np.where(rated, np.clip(np.round(mood), 1, 5), -1).astype(np.int64)
    return np.where(escalated, escalate_after, NEVER_SEC), close_after, csat


def _tones(rng: np.random.Generator, health: np.ndarray, spike: np.ndarray) -> np.ndarray:
    """Healthy accounts write mostly neutral tickets, with some frustrated noise; unhealthy ones do not."""
    angry = 0.04 + 0.45 * (1 - health) ** 2 + 0.15 * spike
    frustrated = 0.15 + 0.35 * (1 - health) + 0.1 * spike
    positive = 0.22 * health
    u = rng.random(len(health))
    return np.select(
        [u < angry, u < angry + frustrated, u < angry + frustrated + positive],
        [ANGRY, FRUSTRATED, POSITIVE],
        NEUTRAL,
    )


def _priorities(rng: np.random.Generator, tones: np.ndarray) -> np.ndarray:
    levels = np.array(["low", "normal", "high", "urgent"], dtype=object)
    # cumulative chances of low, normal, high by tone (the rest is urgent)
    cumulative = np.array([[0.7, 0.97, 1.0], [0.3, 0.9, 0.99], [0.05, 0.55, 0.95], [0.0, 0.1, 0.6]])
    u = rng.random(len(tones))
    return levels[(u[:, None] >= cumulative[tones]).sum(axis=1)]


def _requesters(world: World, day: Day, rng: np.random.Generator, acc: np.ndarray) -> np.ndarray:
    """A random current contact of each ticket's account (the primary admin if nobody else is left)."""
    c = world.contacts
    here = np.flatnonzero(active_contacts(world, day))
    picked = pick_in_groups(rng, here, c["account_idx"][here], acc, len(world.accounts))
    admin = np.full(len(world.accounts), -1)
    protected = np.flatnonzero(c["protected"])
    admin[c["account_idx"][protected]] = protected
    return np.where(picked >= 0, picked, admin[acc])


def _escalate(world: World, day: Day, log: ChangeLog) -> None:
    t = world.open_tickets
    defer_untouched(day, t["escalate_sec"], t["account_idx"])
    idx = np.flatnonzero(day.in_today(t["escalate_sec"]))
    if not len(idx):
        return
    rows = t.take(idx)
    before = images.tickets(world, rows, closed=False)
    t["is_escalated"][idx] = True
    after = images.tickets(world, t.take(idx), closed=False)
    log.add("tickets", "u", rows["escalate_sec"], day=day.index, before=before, after=after)


def _close(world: World, day: Day, log: ChangeLog) -> None:
    t = world.open_tickets
    defer_untouched(day, t["close_sec"], t["account_idx"])
    closing = day.in_today(t["close_sec"])
    rows = t.take(closing)
    if not len(rows):
        return
    before = images.tickets(world, rows, closed=False)
    log.add(
        "tickets",
        "u",
        rows["close_sec"],
        day=day.index,
        before=before,
        after=images.tickets(world, rows, closed=True),
    )
    world.open_tickets = t.take(~closing)
