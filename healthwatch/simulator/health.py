"""Hidden account health in [0, 1]: the truth the pipeline tries to recover from the signals."""

import numpy as np

from healthwatch.simulator.tables import Table

HEALTH_NOISE = 0.02


def expected_health(plans: Table, day: np.ndarray | int) -> np.ndarray:
    """Health without day-to-day noise, per account, on `day` (a scalar or one day per account)."""
    base = plans["base_health"]
    progress = decline_progress(plans, day)
    declined = base - (base - plans["floor_health"]) * progress**1.2
    r = np.clip((day - plans["recover_start"]) / plans["recover_len"], 0.0, 1.0)
    smooth = r * r * (3 - 2 * r)
    recovered = plans["recover_from"] + (plans["recover_to"] - plans["recover_from"]) * smooth
    archetype = plans["archetype"]
    return np.select([archetype == "decliner", archetype == "recovering"], [declined, recovered], base)


def decline_progress(plans: Table, day: np.ndarray | int) -> np.ndarray:
    """0 before the onset of a decliner's decline, 1 once it has run its course; 0 for others."""
    t = np.clip((day - plans["onset_day"]) / plans["decline_len"], 0.0, 1.0)
    return np.where(plans["archetype"] == "decliner", t, 0.0)


def daily_health(plans: Table, day: int, rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(0.0, HEALTH_NOISE, len(plans["base_health"]))
    return np.clip(expected_health(plans, day) + noise, 0.02, 0.99)


def churn_probability(health_at_renewal: np.ndarray) -> np.ndarray:
    """Chance an account does not renew: high when unhealthy, small but real when healthy."""
    return np.select(
        [health_at_renewal < 0.35, health_at_renewal < 0.5, health_at_renewal < 0.65],
        [0.85, 0.45, 0.15],
        0.03,
    )
