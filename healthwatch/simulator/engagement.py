"""NPS surveys: every contact about every 90 days; fewer and lower answers from unhealthy accounts."""

import numpy as np

from healthwatch.simulator.changes import ChangeLog
from healthwatch.simulator.day import Day, Part, active_contacts, defer_untouched
from healthwatch.simulator.health import decline_progress
from healthwatch.simulator.tables import DAY_SECONDS, Table
from healthwatch.simulator.text import nps_comments, nps_tone
from healthwatch.simulator.world import World

SURVEY_EVERY_DAYS = 90
RANDOM_DETRACTOR = 0.1  # some people answer 0-6 whatever the account's health: noise


def step(world: World, day: Day, log: ChangeLog) -> None:
    rng = day.rng(Part.SURVEYS)
    _send(world, day, rng, log)
    _respond(world, day, log)


def _send(world: World, day: Day, rng: np.random.Generator, log: ChangeLog) -> None:
    c = world.contacts
    due = active_contacts(world, day) & ((day.index - c["survey_phase"]) % SURVEY_EVERY_DAYS == 0)
    idx = np.flatnonzero(due)
    n = len(idx)
    acc = c["account_idx"][idx]
    health = day.health[acc]
    sent = day.start_sec + 15 * 3600 + rng.integers(0, 3600, n)
    u = rng.random((3, n))
    answer_p = (0.08 + 0.62 * health + 0.12 * c["is_champion"][idx]) * np.where(
        c["is_exec_sponsor"][idx], 0.7, 1
    )
    answered = u[0] < answer_p
    delay = np.minimum(rng.exponential(1.5 * DAY_SECONDS, n), 7 * DAY_SECONDS - 1).astype(np.int64)
    nps_cause = world.plans["cause_nps"][acc] & (decline_progress(world.plans, day.index)[acc] > 0)
    score = 1.5 + 9 * health - 2.5 * nps_cause + rng.normal(0, 1.2, n)
    score = np.where(u[1] < RANDOM_DETRACTOR, rng.integers(0, 7, n), np.clip(np.round(score), 0, 10)).astype(
        np.int64
    )
    comments = nps_comments(rng, nps_tone(score), world.features)
    comments = np.where(u[2] < 0.55, comments, None)
    if not n:
        return
    survey_ids = world.new_ids("survey", n)
    sends = {
        "survey_id": survey_ids,
        "account_id": world.accounts["account_id"][acc],
        "contact_id": c["contact_id"][idx],
        "sent_at": sent,
    }
    log.add("survey_sends", "c", sent, day=day.index, after=sends)
    k = int(answered.sum())
    responses = Table(
        {
            "response_id": world.new_ids("response", k),
            "survey_id": survey_ids[answered],
            "account_idx": acc[answered],
            "contact_id": c["contact_id"][idx][answered],
            "score": score[answered],
            "comment": comments[answered].astype(object),
            "responded_sec": (sent + delay)[answered],
        }
    )
    world.pending_responses = world.pending_responses.append(responses)


def _respond(world: World, day: Day, log: ChangeLog) -> None:
    """Answers arrive 0-7 days after the survey; none from accounts that have churned meanwhile."""
    pending = world.pending_responses
    defer_untouched(day, pending["responded_sec"], pending["account_idx"])
    # Churned accounts answer no more (a quiet day's answers were deferred just above).
    live = (world.accounts["churn_day"] > day.index)[pending["account_idx"]]
    due = day.in_today(pending["responded_sec"])
    rows = pending.take(due & live)
    after = {
        "response_id": rows["response_id"],
        "survey_id": rows["survey_id"],
        "account_id": world.accounts["account_id"][rows["account_idx"]],
        "contact_id": rows["contact_id"],
        "score": rows["score"],
        "comment": rows["comment"],
        "responded_at": rows["responded_sec"],
    }
    log.add("nps_responses", "c", rows["responded_sec"], day=day.index, after=after)
    world.pending_responses = pending.take(~due & live)
