"""One simulated day: its date, the accounts' health, and its random generators.

Each part of the world draws from its own generator seeded with (seed, day, part), so a day
comes out the same whether it is simulated in one run or streamed later.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from enum import IntEnum

import numpy as np

from healthwatch.simulator.calendar import segment_factors
from healthwatch.simulator.health import daily_health
from healthwatch.simulator.tables import DAY_SECONDS
from healthwatch.simulator.world import World, seed_entropy


class Part(IntEnum):
    HEALTH = 1
    RENEWALS = 2
    CRM_EVENTS = 3
    CONTACTS = 4
    INVOICES = 5
    TICKETS = 6
    SURVEYS = 7
    PRODUCT = 8
    EVENT_SAMPLE = 9
    TOUCHED = 10


@dataclass(frozen=True)
class Day:
    index: int
    date: date
    seed: int
    health: np.ndarray  # per account, today's noisy latent health
    calendar: np.ndarray  # per account, how busy today is for its segment
    # Per account, whether it acts today at all (None: all do); see make_day's touch_share.
    touched: np.ndarray | None = None

    @property
    def start_sec(self) -> int:
        return self.index * DAY_SECONDS

    @property
    def end_sec(self) -> int:
        """The last second of the day."""
        return self.start_sec + DAY_SECONDS - 1

    def rng(self, part: Part) -> np.random.Generator:
        return np.random.default_rng([seed_entropy(self.seed), self.index, int(part)])

    def in_today(self, seconds: np.ndarray) -> np.ndarray:
        return (seconds >= self.start_sec) & (seconds < self.start_sec + DAY_SECONDS)

    def business_time(self, rng: np.random.Generator, n: int, center_h: float = 14.5) -> np.ndarray:
        """Seconds of today (absolute), clustered in business hours (UTC, US and Europe overlapping)."""
        hours = np.clip(rng.normal(center_h, 2.6, n), 5.0, 23.0)
        return self.start_sec + np.minimum((hours * 3600).astype(np.int64), DAY_SECONDS - 1)


def make_day(world: World, index: int, touch_share: float = 1.0) -> Day:
    """Day `index` of the world. With `touch_share` below 1, only that share of the accounts
    (drawn at random) acts today: the others have a quiet day (no events, tickets, people or
    billing changes), as in a benchmark's "1% of accounts changed" day."""
    today = world.start_date + timedelta(days=index)
    rng = np.random.default_rng([seed_entropy(world.seed), index, int(Part.HEALTH)])
    touched = None
    if touch_share < 1.0:
        pick = np.random.default_rng([seed_entropy(world.seed), index, int(Part.TOUCHED)])
        touched = pick.random(len(world.accounts)) < touch_share
    return Day(
        index=index,
        date=today,
        seed=world.seed,
        health=daily_health(world.plans, index, rng),
        calendar=segment_factors(today)[world.accounts["seg_code"]],
        touched=touched,
    )


def active_accounts(world: World, day: Day) -> np.ndarray:
    """Accounts that have not churned (a churned account produces no activity from its churn day)
    and, on a day that touches only some accounts, are among those."""
    live = world.accounts["churn_day"] > day.index
    return live if day.touched is None else live & day.touched


def defer_untouched(day: Day, seconds: np.ndarray, account_idx: np.ndarray) -> None:
    """On a day that touches only some accounts, move what falls due today on the others (a ticket
    closing, an invoice retry, a survey answer) to the same time tomorrow, in place."""
    if day.touched is None:
        return
    late = day.in_today(seconds) & ~day.touched[account_idx]
    seconds[late] += DAY_SECONDS


def active_contacts(world: World, day: Day) -> np.ndarray:
    """Contacts on an active account who have joined and not left by the start of today."""
    contacts = world.contacts
    return (
        (contacts["joined_day"] <= day.index)
        & (contacts["left_sec"] > day.start_sec)
        & active_accounts(world, day)[contacts["account_idx"]]
    )
