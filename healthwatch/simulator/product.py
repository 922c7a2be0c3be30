"""Product events of a day, vectorised over users: logins, sessions, features, API calls, and others."""

import numpy as np

from healthwatch.simulator.calendar import is_working_day
from healthwatch.simulator.changes import EVENT_NAMES, ChangeLog
from healthwatch.simulator.crm import active_contract_index
from healthwatch.simulator.day import Day, Part, active_accounts, active_contacts
from healthwatch.simulator.health import decline_progress
from healthwatch.simulator.tables import DAY_SECONDS
from healthwatch.simulator.world import World

LOGIN, SESSION, FEATURE, API_CALL = (
    EVENT_NAMES.index(n) for n in ("login", "session", "feature_used", "api_call")
)
OTHER_EVENTS = np.array([EVENT_NAMES.index(n) for n in EVENT_NAMES[4:]])
_ERROR_CODES = np.array([500, 502, 503, 400, 401, 403, 404, 429])


def step(world: World, day: Day, log: ChangeLog) -> None:
    rng = day.rng(Part.PRODUCT)
    users = _active_users(world, day, rng)
    parts = [*_user_events(world, day, rng, users), _api_calls(world, day, rng)]
    events = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    if world.event_sample < 1.0:
        kept = day.rng(Part.EVENT_SAMPLE).random(len(events["ts_sec"])) < world.event_sample
        events = {name: values[kept] for name, values in events.items()}
    order = _time_order(events["ts_sec"])
    events = {name: values[order] for name, values in events.items()}
    events["day"] = np.full(len(order), day.index, dtype=np.int64)
    log.add_events(events)


def _time_order(seconds: np.ndarray) -> np.ndarray:
    """Positions in time order, ties in position order: `np.argsort(seconds, kind="stable")`, faster.

    Sorts (time, position) packed into unique integers, for which any sort gives that one order.
    """
    n = len(seconds)
    if not n:
        return np.arange(0)
    return np.sort((seconds - seconds.min()) * n + np.arange(n)) % n


def usage_level(health: np.ndarray) -> np.ndarray:
    """How much of its normal activity an account shows at this health (1 at typical health)."""
    return np.clip(health / 0.85, 0.0, 1.15) ** 1.3


def _account_factor(world: World, day: Day) -> np.ndarray:
    """Per account: the calendar, a healthy account's one bad week, a churner winding down."""
    plans = world.plans
    since_bad = day.index - plans["bad_week_start"]
    bad_week = (since_bad >= 0) & (since_bad % 365 < plans["bad_week_len"])
    contract = active_contract_index(world)
    winding_down = (contract >= 0) & (world.contracts["request_day"][contract] <= day.index)
    factor = day.calendar * np.where(bad_week, 0.5, 1.0) * np.where(winding_down, 0.6, 1.0)
    return factor * np.where(plans["archetype"] == "expanding", 1.1, 1.0)


def _active_users(world: World, day: Day, rng: np.random.Generator) -> np.ndarray:
    c = world.contacts
    acc = c["account_idx"]
    p = c["rate"] * usage_level(day.health[acc]) * _account_factor(world, day)[acc]
    return np.flatnonzero(active_contacts(world, day) & (rng.random(len(c)) < np.clip(p, 0.0, 0.97)))


def _events(
    acc: np.ndarray, user: np.ndarray, name: int | np.ndarray, ts: np.ndarray, **props: np.ndarray
) -> dict:
    n = len(acc)
    out = {
        "ts_sec": ts.astype(np.int64),
        "account": acc,
        "user": user,
        "name": np.broadcast_to(name, (n,)).astype(np.int64),
    }
    for prop in ("feature", "duration", "status", "latency"):
        out[prop] = props.get(prop, np.full(n, -1, dtype=np.int64)).astype(np.int64)
    return out


def _user_events(world: World, day: Day, rng: np.random.Generator, users: np.ndarray) -> list[dict]:
    """Each active user logs in (sometimes twice), has a session per login, uses features, and more."""
    c = world.contacts
    acc = c["account_idx"][users]
    health = day.health[acc]
    start = day.business_time(rng, len(users))
    # Unhealthy accounts have shorter sessions.
    median = 900 * (0.5 + 0.5 * health)
    duration = np.clip(rng.lognormal(np.log(median), 0.8, (2, len(users))), 10, 4 * 3600).astype(np.int64)
    second = rng.random(len(users)) < 0.15
    later = np.minimum(start + rng.integers(3600, 5 * 3600, len(users)), day.end_sec)
    login_user = np.concatenate([users, users[second]])
    login_ts = np.concatenate([start, later[second]])
    session_seconds = np.concatenate([duration[0], duration[1][second]])

    role = c["role"][users]
    feature_rate = (
        1.8 * (0.6 + 0.4 * health) * np.select([role == "exec", role == "finance"], [0.4, 0.5], 1.0)
    )
    f_pos, f_ts = _during_session(rng, day, start, duration[0], rng.poisson(feature_rate))
    o_pos, o_ts = _during_session(rng, day, start, duration[0], rng.poisson(0.18, len(users)))
    other_names = OTHER_EVENTS[rng.integers(0, len(OTHER_EVENTS), len(o_pos))]
    login_acc = c["account_idx"][login_user]
    return [
        _events(login_acc, login_user, LOGIN, login_ts),
        _events(
            login_acc, login_user, SESSION, np.minimum(login_ts + 1, day.end_sec), duration=session_seconds
        ),
        _events(acc[f_pos], users[f_pos], FEATURE, f_ts, feature=_pick_features(world, day, rng, acc[f_pos])),
        _events(acc[o_pos], users[o_pos], other_names, o_ts),
    ]


def _during_session(
    rng: np.random.Generator, day: Day, start: np.ndarray, duration: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`counts[i]` moments inside user i's first session: (user position, time) per moment."""
    pos = np.repeat(np.arange(len(counts)), counts)
    offset = (rng.random(len(pos)) * duration[pos]).astype(np.int64) + 5
    return pos, np.minimum(start[pos] + offset, day.end_sec)


def _pick_features(world: World, day: Day, rng: np.random.Generator, acc: np.ndarray) -> np.ndarray:
    """Features by each account's habits; a decaying account has dropped some core features."""
    plans = world.plans
    weights = plans["feature_weight"].copy()
    n_core = plans["core_drop_day"].shape[1]
    weights[:, :n_core] *= plans["core_drop_day"] > day.index
    cumulative = np.cumsum(weights, axis=1)
    u = rng.random(len(acc)) * cumulative[acc, -1]
    return (cumulative[acc] <= u[:, None]).sum(axis=1)


def _api_calls(world: World, day: Day, rng: np.random.Generator) -> dict:
    """Machine traffic for API accounts, around the clock; degrading for some decliners."""
    accounts = world.accounts
    n_acc = len(accounts)
    on = accounts["api_enabled"] & active_accounts(world, day)
    level = (1.0 if is_working_day(day.date) else 0.6) * (0.5 + 0.5 * day.health)
    counts = np.where(on, np.round(rng.integers(5, 21, n_acc) * level), 0).astype(np.int64)
    acc = np.repeat(np.arange(n_acc), counts)
    n = len(acc)
    degrade = (world.plans["api_degrade"] * decline_progress(world.plans, day.index))[acc]
    u = rng.random((2, n))
    error = u[0] < 0.015 + 0.25 * degrade
    status = np.where(error, _ERROR_CODES[(u[1] * len(_ERROR_CODES)).astype(np.int64)], 200)
    latency = np.clip(rng.lognormal(np.log(120 * (1 + 3 * degrade)), 0.5), 5, 30_000)
    ts = day.start_sec + rng.integers(0, DAY_SECONDS, n)
    service_user = np.full(n_acc, -1, dtype=np.int64)
    admins = np.flatnonzero(world.contacts["protected"])
    service_user[world.contacts["account_idx"][admins]] = admins
    return _events(acc, service_user[acc], API_CALL, ts, status=status, latency=latency)
