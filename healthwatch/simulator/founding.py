"""The customer base as it stands on the start date: team, accounts, hidden plans, contracts, contacts.

Everything drawn here comes from one generator seeded with (seed, "accounts"), so a world does
not depend on how many days are simulated afterwards.
"""

import math
from datetime import date

import numpy as np

from healthwatch.simulator.calendar import SEGMENTS
from healthwatch.simulator.names import company_names, emails, person_names, unique_slugs
from healthwatch.simulator.tables import DAY_SECONDS, NEVER, NEVER_SEC, Table
from healthwatch.simulator.world import (
    ACCOUNTS_STREAM,
    CAUSES,
    CHAMPION_RATE,
    MAX_SPIKES,
    ROLE_RATES,
    TEAM_DOMAIN,
    TIMEZONES,
    World,
    add_years,
    all_features,
    day_of_month,
    empty_invoices,
    empty_responses,
    empty_tickets,
    seed_entropy,
)  # fmt: skip


def build_world(seed: int, n_accounts: int, start_date: date, core_features: list[str]) -> World:
    """The customer base on the start date: team, accounts, hidden plans, contacts, contracts."""
    rng = np.random.default_rng([seed_entropy(seed), ACCOUNTS_STREAM])
    team = _build_team(rng, n_accounts)
    csm_ids = team["member_id"][team["role"] == "csm"]
    accounts = _build_accounts(rng, n_accounts, csm_ids)
    world = World(
        seed=seed,
        start_date=start_date,
        core_features=list(core_features),
        team=team,
        accounts=accounts,
        plans=_build_plans(rng, accounts, len(core_features), len(all_features(core_features))),
        contracts=Table({}),
        contacts=Table({}),
        open_tickets=empty_tickets(),
        pending_invoices=empty_invoices(),
        pending_responses=empty_responses(),
    )
    world.contracts = _build_contracts(rng, world, start_date)
    world.contacts = _build_contacts(rng, world)
    return world


def _build_team(rng: np.random.Generator, n_accounts: int) -> Table:
    n_csm = max(3, round(n_accounts / 40))
    n_managers = math.ceil(n_csm / 6)
    n = 1 + n_managers + n_csm
    roles = np.array(["vp"] + ["manager"] * n_managers + ["csm"] * n_csm, dtype=object)
    member_ids = np.array([f"TM-{i:03d}" for i in range(1, n + 1)], dtype=object)
    managers = np.empty(n, dtype=object)
    managers[1 : 1 + n_managers] = member_ids[0]
    managers[1 + n_managers :] = member_ids[1 + (np.arange(n_csm) % n_managers)]
    first, last = person_names(rng, n)
    return Table(
        {
            "member_id": member_ids,
            "name": np.array([f"{f} {la}" for f, la in zip(first, last, strict=True)], dtype=object),
            "email": emails(first, last, np.full(n, TEAM_DOMAIN, dtype=object), set()),
            "role": roles,
            "manager_id": managers,
            "timezone": np.array(TIMEZONES, dtype=object)[rng.integers(0, len(TIMEZONES), n)],
        }
    )


def _build_accounts(rng: np.random.Generator, n: int, csm_ids: np.ndarray) -> Table:
    seg_code = rng.choice(3, size=n, p=[0.15, 0.35, 0.50])
    lo = np.array([20, 8, 2])[seg_code]
    hi = np.array([60, 25, 8])[seg_code]
    n_contacts = rng.integers(lo, hi + 1)
    seats = np.maximum(n_contacts, np.round(n_contacts * rng.uniform(1.0, 1.6, n))).astype(np.int64)
    price = rng.uniform(np.array([6000, 2000, 900])[seg_code], np.array([11000, 3500, 1800])[seg_code])
    arr_lo = np.array([120_000, 20_000, 5_000])[seg_code]
    arr_hi = np.array([1_000_000, 120_000, 20_000])[seg_code]
    arr = np.round(np.clip(seats * price, arr_lo, arr_hi), -2)
    plan = _draw_plans(rng, seg_code)
    names = company_names(rng, n)
    api_enabled = (plan == "api") | ((plan == "enterprise") & (rng.random(n) < 0.5))
    return Table(
        {
            "account_id": np.array([f"ACC-{i:05d}" for i in range(1, n + 1)], dtype=object),
            "name": np.array(names, dtype=object),
            "slug": np.array(unique_slugs(names), dtype=object),
            "segment": np.array(SEGMENTS, dtype=object)[seg_code],
            "seg_code": seg_code.astype(np.int64),
            "plan": plan,
            "arr": arr,
            "seats": seats,
            "n_contacts": n_contacts.astype(np.int64),
            "csm_id": csm_ids[rng.permutation(n) % len(csm_ids)],
            "created_sec": np.zeros(n, dtype=np.int64),  # set from the first contract
            "churn_day": np.full(n, NEVER, dtype=np.int64),
            "billing_dom": np.ones(n, dtype=np.int64),
            "api_enabled": api_enabled,
        }
    )


def _draw_plans(rng: np.random.Generator, seg_code: np.ndarray) -> np.ndarray:
    u = rng.random(len(seg_code))
    by_segment = (
        np.where(u < 0.1, "api", "enterprise"),
        np.select([u < 0.1, u < 0.2], ["api", "starter"], "growth"),
        np.select([u < 0.1, u < 0.3], ["api", "growth"], "starter"),
    )
    return np.choose(seg_code, by_segment).astype(object)


def _build_plans(rng: np.random.Generator, accounts: Table, n_core: int, n_features: int) -> Table:
    """Hidden per-account fate: archetype, decline onset and causes, traps for static rules."""
    n = len(accounts)
    seg = accounts["seg_code"]
    u = rng.random(n)
    p_decline = np.array([0.17, 0.22, 0.28])[seg]
    p_expand = np.array([0.06, 0.06, 0.03])[seg]
    archetype = np.select(
        [u < p_decline, u < p_decline + 0.05, u < p_decline + 0.05 + p_expand],
        ["decliner", "recovering", "expanding"],
        "healthy",
    ).astype(object)
    decliner = archetype == "decliner"
    healthy = archetype == "healthy"
    onset = rng.integers(-120, 151, n)
    decline_len = rng.integers(30, 121, n)
    causes = _draw_causes(rng, n) & decliner[:, None]
    cause = {name: causes[:, i] for i, name in enumerate(CAUSES)}
    base = np.where(archetype == "expanding", rng.uniform(0.85, 0.97, n), rng.uniform(0.72, 0.95, n))
    bad_week = healthy & (rng.random(n) < 0.17)
    budget_noise = healthy & (rng.random(n) < 0.03)
    budget_cause = (cause["finance"] & (rng.random(n) < 0.5)) | (cause["champion"] & (rng.random(n) < 0.3))
    budget_day = np.select(
        [budget_cause, budget_noise], [onset + rng.integers(0, 41, n), rng.integers(0, 365, n)], NEVER
    )
    return Table(
        {
            "account_id": accounts["account_id"],
            "archetype": archetype,
            "initial_archetype": archetype.copy(),
            "base_health": base,
            "onset_day": np.where(decliner, onset, NEVER),
            "decline_len": decline_len.astype(np.int64),
            "floor_health": rng.uniform(0.05, 0.3, n),
            "recover_start": rng.integers(-30, 61, n),
            "recover_len": rng.integers(60, 151, n),
            "recover_from": rng.uniform(0.3, 0.45, n),
            "recover_to": rng.uniform(0.75, 0.9, n),
            **{f"cause_{name}": cause[name] for name in CAUSES},
            "api_degrade": decliner & accounts["api_enabled"] & (rng.random(n) < 0.5),
            "bad_week_start": np.where(bad_week, rng.integers(14, 200, n), NEVER),
            "bad_week_len": rng.integers(5, 8, n),
            "freeze_day": np.where(cause["finance"], onset + rng.integers(0, 31, n), NEVER),
            "budget_change_day": budget_day.astype(np.int64),
            "champion_leave_day": np.where(cause["champion"], onset + rng.integers(0, 21, n), NEVER),
            "spike_start": _spike_starts(rng, n, onset, decline_len, cause["support"]),
            "spike_len": rng.integers(5, 10, (n, MAX_SPIKES)),
            "core_drop_day": _core_drop_days(rng, n, n_core, onset, decline_len, cause["usage"]),
            "feature_weight": _feature_weights(rng, n, n_core, n_features),
        }
    )


def _draw_causes(rng: np.random.Generator, n: int) -> np.ndarray:
    """1-3 causes per account, weighted; Gumbel top-k draws them without replacement."""
    weights = np.array([0.2, 0.3, 0.2, 0.15, 0.15])
    keys = np.log(weights) + rng.gumbel(size=(n, len(CAUSES)))
    k = rng.choice([1, 2, 3], size=n, p=[0.5, 0.35, 0.15])
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    return rank < k[:, None]


def _spike_starts(
    rng: np.random.Generator, n: int, onset: np.ndarray, length: np.ndarray, has: np.ndarray
) -> np.ndarray:
    """Ticket-spike episodes during the decline (up to MAX_SPIKES)."""
    offsets = np.sort(rng.uniform(0, 1, (n, MAX_SPIKES)), axis=1) * length[:, None]
    count = rng.integers(1, MAX_SPIKES + 1, n)
    starts = onset[:, None] + offsets.astype(np.int64)
    used = has[:, None] & (np.arange(MAX_SPIKES)[None, :] < count[:, None])
    return np.where(used, starts, NEVER)


def _core_drop_days(
    rng: np.random.Generator, n: int, n_core: int, onset: np.ndarray, length: np.ndarray, has: np.ndarray
) -> np.ndarray:
    """The days a decaying account stops using each of its core features, one by one."""
    when = onset[:, None] + (rng.uniform(0.1, 1.0, (n, n_core)) * length[:, None]).astype(np.int64)
    dropped = rng.random((n, n_core)) < 0.8
    return np.where(has[:, None] & dropped, when, NEVER)


def _feature_weights(rng: np.random.Generator, n: int, n_core: int, n_features: int) -> np.ndarray:
    """How much each account uses each feature; not every account adopts every core feature."""
    core = rng.gamma(2.0, 1.5, (n, n_core)) * (rng.random((n, n_core)) < 0.85)
    core[np.arange(n), rng.integers(0, n_core, n)] += 1.0  # at least one core feature in use
    other = rng.gamma(1.5, 1.0, (n, n_features - n_core))
    return np.hstack([core, other])


def _build_contracts(rng: np.random.Generator, world: World, start_date: date) -> Table:
    """One active annual contract per account, renewing within a year, plus 1-3 renewed ones before."""
    accounts = world.accounts
    n = len(accounts)
    renewal = rng.integers(1, 366, n)
    current_start = add_years(renewal, -1, start_date)
    n_prior = rng.integers(1, 4, n)
    rows = []
    for k in range(3, 0, -1):
        has = np.flatnonzero(n_prior >= k)
        starts = add_years(current_start[has], -k, start_date)
        rows.append(
            (has, starts, add_years(starts, 1, start_date), accounts["arr"][has] / 1.06**k, "renewed")
        )
    rows.append((np.arange(n), current_start, renewal, accounts["arr"], "active"))
    account_idx = np.concatenate([r[0] for r in rows])
    order = np.lexsort((np.concatenate([r[1] for r in rows]), account_idx))
    total = len(account_idx)
    first_start = add_years(current_start, -n_prior, start_date)
    accounts["created_sec"] = first_start * DAY_SECONDS - rng.integers(1, 30 * DAY_SECONDS, n)
    accounts["billing_dom"] = np.minimum(day_of_month(current_start, start_date), 28)
    return Table(
        {
            "contract_id": world.new_ids("contract", total),
            "account_idx": account_idx[order].astype(np.int64),
            "start_day": np.concatenate([r[1] for r in rows])[order].astype(np.int64),
            "renewal_day": np.concatenate([r[2] for r in rows])[order].astype(np.int64),
            "arr": np.round(np.concatenate([r[3] for r in rows])[order], -2),
            "status": np.concatenate([np.full(len(r[0]), r[4], dtype=object) for r in rows])[order],
            "cancelled_sec": np.full(total, NEVER_SEC, dtype=np.int64),
            "decided": np.zeros(total, dtype=bool),
            "will_churn": np.zeros(total, dtype=bool),
            "request_day": np.full(total, NEVER, dtype=np.int64),
            "cancel_day": np.full(total, NEVER, dtype=np.int64),
            "churn_reason": np.full(total, "", dtype=object),
        }
    )


def _build_contacts(rng: np.random.Generator, world: World) -> Table:
    """Contacts (who are also the product's users): admin, champion(s), exec sponsor, finance, users."""
    accounts, plans = world.accounts, world.plans
    n_acc = len(accounts)
    counts = accounts["n_contacts"]
    account_idx = np.repeat(np.arange(n_acc), counts)
    pos = np.arange(len(account_idx)) - np.repeat(np.cumsum(counts) - counts, counts)
    n = len(account_idx)
    size = counts[account_idx]
    second_champion = rng.random(n_acc) < 0.3
    finance = (accounts["seg_code"] < 2) | (rng.random(n_acc) < 0.5)
    roles = np.where(rng.random(n) < 0.1, "admin", "user").astype(object)
    roles[pos == 0] = "admin"
    roles[(pos == 1) & (rng.random(n) < 0.4)] = "admin"
    roles[(pos == 2) | ((pos == 0) & (size < 3))] = "exec"
    roles[(pos == 3) & finance[account_idx]] = "finance"
    is_champion = (pos == 1) | ((pos == 4) & second_champion[account_idx])
    is_exec = (pos == 2) | ((pos == 0) & (size < 3))
    taken: set[str] = set()
    contacts = _new_contacts(rng, world, account_idx, roles, is_champion, is_exec, joined_day=-1, taken=taken)
    contacts["protected"] = pos == 0
    # The primary champion of accounts whose decline began before the start has already left.
    leave_day = plans["champion_leave_day"][account_idx]
    gone = (pos == 1) & (leave_day < 0)
    contacts["left_sec"] = np.where(gone, leave_day * DAY_SECONDS + 14 * 3600, NEVER_SEC)
    return contacts.append(_past_leavers(rng, world, taken))


def _past_leavers(rng: np.random.Generator, world: World, taken: set[str]) -> Table:
    """Contacts who left during the year before the start: history a real CRM has."""
    n_left = rng.poisson(0.1 * world.accounts["n_contacts"])
    account_idx = np.repeat(np.arange(len(n_left)), n_left)
    n = len(account_idx)
    roles = np.full(n, "user", dtype=object)
    none = np.zeros(n, bool)
    contacts = _new_contacts(rng, world, account_idx, roles, none, none, joined_day=-1, taken=taken)
    contacts["left_sec"] = -rng.integers(DAY_SECONDS, 365 * DAY_SECONDS, n)
    return contacts


def _new_contacts(
    rng: np.random.Generator,
    world: World,
    account_idx: np.ndarray,
    roles: np.ndarray,
    is_champion: np.ndarray,
    is_exec: np.ndarray,
    joined_day: int,
    taken: set[str],
) -> Table:
    n = len(account_idx)
    first, last = person_names(rng, n)
    domains = np.array([f"{slug}.example" for slug in world.accounts["slug"][account_idx]], dtype=object)
    base = np.select([roles == role for role in ROLE_RATES], list(ROLE_RATES.values()), 0.5)
    rate = np.where(is_champion, CHAMPION_RATE, base) * np.exp(rng.normal(0, 0.25, n))
    return Table(
        {
            "contact_id": world.new_ids("contact", n),
            "account_idx": account_idx.astype(np.int64),
            "email": emails(first, last, domains, taken),
            "role": roles,
            "is_champion": is_champion.astype(bool),
            "is_exec_sponsor": is_exec.astype(bool),
            "joined_day": np.full(n, joined_day, dtype=np.int64),
            "left_sec": np.full(n, NEVER_SEC, dtype=np.int64),
            "rate": np.minimum(rate, 0.97),
            "survey_phase": rng.integers(0, 90, n),
            "protected": np.zeros(n, dtype=bool),
        }
    )


def new_contacts(rng: np.random.Generator, world: World, account_idx: np.ndarray, day: int) -> Table:
    """People who join an account's team during the simulation (users, a few admins)."""
    n = len(account_idx)
    roles = np.where(rng.random(n) < 0.1, "admin", "user").astype(object)
    none = np.zeros(n, bool)
    taken = set(world.contacts["email"][np.isin(world.contacts["account_idx"], account_idx)])
    return _new_contacts(rng, world, account_idx, roles, none, none, joined_day=day, taken=taken)
