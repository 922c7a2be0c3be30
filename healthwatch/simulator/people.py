"""Contacts over time: champions who leave, ordinary turnover, new people joining."""

import numpy as np

from healthwatch.simulator import images
from healthwatch.simulator.changes import ChangeLog
from healthwatch.simulator.day import Day, Part, active_accounts, active_contacts
from healthwatch.simulator.founding import new_contacts
from healthwatch.simulator.world import World

YEARLY_TURNOVER = 0.22
YEARLY_CHAMPION_TURNOVER = 0.06
YEARLY_SPONSOR_TURNOVER = 0.08


def step(world: World, day: Day, log: ChangeLog) -> None:
    rng = day.rng(Part.CONTACTS)
    _leave(world, day, rng, log)
    _join(world, day, rng, log)


def _leave(world: World, day: Day, rng: np.random.Generator, log: ChangeLog) -> None:
    c = world.contacts
    here = active_contacts(world, day) & ~c["protected"]
    yearly = np.select(
        [c["is_champion"], c["is_exec_sponsor"]], [YEARLY_CHAMPION_TURNOVER, YEARLY_SPONSOR_TURNOVER]
    )
    yearly = np.where(yearly == 0, YEARLY_TURNOVER, yearly)
    leaving = here & (rng.random(len(c)) < yearly / 365)
    leaving |= _departing_champions(world, day, here)
    idx = np.flatnonzero(leaving)
    ts = day.business_time(rng, len(idx))
    if not len(idx):
        return
    before = images.contacts(world, idx)
    c["left_sec"][idx] = ts
    log.add("contacts", "u", ts, day=day.index, before=before, after=images.contacts(world, idx))


def _departing_champions(world: World, day: Day, here: np.ndarray) -> np.ndarray:
    """The primary champion of each account whose plan has them leave today."""
    c = world.contacts
    leaving_today = world.plans["champion_leave_day"][c["account_idx"]] == day.index
    candidates = np.flatnonzero(here & c["is_champion"] & leaving_today)
    _, first = np.unique(c["account_idx"][candidates], return_index=True)
    out = np.zeros(len(c), dtype=bool)
    out[candidates[first]] = True
    return out


def _join(world: World, day: Day, rng: np.random.Generator, log: ChangeLog) -> None:
    """Replacements for turnover, and steady hiring on expanding accounts."""
    live = active_accounts(world, day)
    users = np.bincount(world.contacts["account_idx"][active_contacts(world, day)], minlength=len(live))
    expanding = world.plans["archetype"] == "expanding"
    rate = users * YEARLY_TURNOVER / 365 + np.where(expanding, 0.01 + 0.004 * users, 0.0)
    joins = rng.poisson(np.where(live, rate, 0.0))
    acc = np.repeat(np.arange(len(live)), joins)
    ts = day.business_time(rng, len(acc))
    if not len(acc):
        return
    joined = new_contacts(rng, world, acc, day.index + 1)
    world.contacts = world.contacts.append(joined)
    idx = np.arange(len(world.contacts) - len(acc), len(world.contacts))
    log.add("contacts", "c", ts, day=day.index, after=images.contacts(world, idx))
