"""CRM changes of a day: renewal decisions, cancellations, renewals, expansions, CRM events."""

import numpy as np

from healthwatch.simulator import images
from healthwatch.simulator.changes import ChangeLog
from healthwatch.simulator.day import Day, Part, active_accounts, active_contacts
from healthwatch.simulator.health import churn_probability, decline_progress, expected_health
from healthwatch.simulator.tables import NEVER, NEVER_SEC, Table
from healthwatch.simulator.world import World, add_years

DECISION_LEAD_DAYS = 45
REQUEST_SHARE = 0.6  # churners who announce it with a cancellation request


def step(world: World, day: Day, log: ChangeLog) -> None:
    rng = day.rng(Part.RENEWALS)
    _decide_renewals(world, day, rng)
    _mid_contract_cancellations(world, day, rng)
    _cancellation_requests(world, day, rng, log)
    _cancel(world, day, rng, log)
    _renew(world, day, rng, log)
    _expand_seats(world, day, rng, log)
    _planned_crm_events(world, day, day.rng(Part.CRM_EVENTS), log)


def active_contract_index(world: World) -> np.ndarray:
    """Per account, the row of its active contract (-1 when it has none: churned)."""
    c = world.contracts
    out = np.full(len(world.accounts), -1, dtype=np.int64)
    live = np.flatnonzero(c["status"] == "active")
    out[c["account_idx"][live]] = live
    return out


def _decide_renewals(world: World, day: Day, rng: np.random.Generator) -> None:
    """Decide renewals 45 days ahead from the health the account is heading for."""
    c = world.contracts
    idx = np.flatnonzero(
        (c["status"] == "active") & ~c["decided"] & (c["renewal_day"] - DECISION_LEAD_DAYS <= day.index)
    )
    u = rng.random((2, len(idx)))
    lead = rng.integers(10, 46, len(idx))
    renewal = c["renewal_day"][idx]
    health = expected_health(world.plans.take(c["account_idx"][idx]), renewal)
    churn = u[0] < churn_probability(health)
    request = np.maximum(renewal - lead, day.index)
    announced = churn & (u[1] < REQUEST_SHARE) & (renewal - request >= 10)
    c["decided"][idx] = True
    c["will_churn"][idx] = churn
    c["request_day"][idx] = np.where(announced, request, NEVER)
    c["churn_reason"][idx] = np.where(churn, np.where(health < 0.65, "low_health", "unforeseen"), "")


def _mid_contract_cancellations(world: World, day: Day, rng: np.random.Generator) -> None:
    """A few accounts cancel before their renewal: a request now, the cancellation weeks later."""
    c = world.contracts
    idx = np.flatnonzero((c["status"] == "active") & ~c["will_churn"])
    health = day.health[c["account_idx"][idx]]
    hazard = 0.00003 + 0.0006 * np.clip((0.35 - health) / 0.35, 0.0, 1.0)
    u = rng.random(len(idx))
    wait = rng.integers(14, 31, len(idx))
    hit = idx[u < hazard]
    c["decided"][hit] = True
    c["will_churn"][hit] = True
    c["request_day"][hit] = day.index
    c["cancel_day"][hit] = np.minimum(day.index + wait[u < hazard], c["renewal_day"][hit])
    c["churn_reason"][hit] = "mid_contract"


def _cancellation_requests(world: World, day: Day, rng: np.random.Generator, log: ChangeLog) -> None:
    c = world.contracts
    idx = np.flatnonzero((c["status"] == "active") & (c["request_day"] == day.index))
    _crm_events(world, day, rng, log, c["account_idx"][idx], "cancellation_request")


def _cancel(world: World, day: Day, rng: np.random.Generator, log: ChangeLog) -> None:
    c = world.contracts
    due = (c["cancel_day"] == day.index) | (c["renewal_day"] == day.index)
    idx = np.flatnonzero((c["status"] == "active") & c["will_churn"] & due)
    if not len(idx):
        return
    before = images.contracts(world, idx)
    c["status"][idx] = "cancelled"
    c["cancelled_sec"][idx] = day.business_time(rng, len(idx), center_h=12.0)
    world.accounts["churn_day"][c["account_idx"][idx]] = day.index
    log.add(
        "contracts",
        "u",
        c["cancelled_sec"][idx],
        day=day.index,
        before=before,
        after=images.contracts(world, idx),
    )


def _renew(world: World, day: Day, rng: np.random.Generator, log: ChangeLog) -> None:
    """Renewed: the old contract is marked renewed and a new annual one starts today."""
    c = world.contracts
    idx = np.flatnonzero((c["status"] == "active") & ~c["will_churn"] & (c["renewal_day"] == day.index))
    acc = c["account_idx"][idx]
    n = len(idx)
    u = rng.uniform(size=(4, n))
    ts = day.business_time(rng, n, center_h=11.0)
    if not n:
        return
    before = images.contracts(world, idx)
    c["status"][idx] = "renewed"
    log.add("contracts", "u", ts, day=day.index, before=before, after=images.contracts(world, idx))

    arr, seats = _renewal_terms(world, day, acc, c["arr"][idx], u)
    new = Table(
        {
            "contract_id": world.new_ids("contract", n),
            "account_idx": acc,
            "start_day": np.full(n, day.index, dtype=np.int64),
            "renewal_day": add_years(np.full(n, day.index), 1, world.start_date),
            "arr": arr,
            "status": np.full(n, "active", dtype=object),
            "cancelled_sec": np.full(n, NEVER_SEC, dtype=np.int64),
            "decided": np.zeros(n, dtype=bool),
            "will_churn": np.zeros(n, dtype=bool),
            "request_day": np.full(n, NEVER, dtype=np.int64),
            "cancel_day": np.full(n, NEVER, dtype=np.int64),
            "churn_reason": np.full(n, "", dtype=object),
        }
    )
    world.contracts = c.append(new)
    new_idx = np.arange(len(c), len(world.contracts))
    log.add("contracts", "c", ts + 1, day=day.index, after=images.contracts(world, new_idx))
    _update_accounts(world, day, log, acc, arr, seats, ts + 2)
    _start_recovery(world, day, acc, u[2], u[3])


def _renewal_terms(
    world: World, day: Day, acc: np.ndarray, old_arr: np.ndarray, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """New ARR and seats: price uplift when healthy, more seats when expanding, downsell when not."""
    archetype = world.plans["archetype"][acc]
    seats = world.accounts["seats"][acc]
    users = np.bincount(
        world.contacts["account_idx"][active_contacts(world, day)], minlength=len(world.accounts)
    )[acc]
    grown = np.maximum(seats, np.ceil(users * (1.1 + 0.2 * u[0]))).astype(np.int64)
    new_seats = np.where(archetype == "expanding", grown, seats)
    factor = np.select(
        [archetype == "healthy", archetype == "expanding"],
        [1.0 + 0.07 * u[1], new_seats / seats * (1.0 + 0.05 * u[1])],
        0.8 + 0.2 * u[1],
    )
    return np.round(old_arr * factor, -2), new_seats


def _update_accounts(
    world: World,
    day: Day,
    log: ChangeLog,
    acc: np.ndarray,
    arr: np.ndarray,
    seats: np.ndarray,
    ts: np.ndarray,
) -> None:
    a = world.accounts
    changed = (a["arr"][acc] != arr) | (a["seats"][acc] != seats)
    acc, arr, seats, ts = acc[changed], arr[changed], seats[changed], ts[changed]
    if not len(acc):
        return
    before = images.accounts(world, acc)
    a["arr"][acc] = arr
    a["seats"][acc] = seats
    log.add("accounts", "u", ts, day=day.index, before=before, after=images.accounts(world, acc))


def _start_recovery(world: World, day: Day, acc: np.ndarray, u_to: np.ndarray, u_len: np.ndarray) -> None:
    """A decliner that renewed anyway gets a second chance: its health climbs back."""
    p = world.plans
    declining = p["archetype"][acc] == "decliner"
    acc = acc[declining]
    p["recover_from"][acc] = expected_health(p.take(acc), day.index)
    p["recover_to"][acc] = 0.65 + 0.2 * u_to[declining]
    p["recover_start"][acc] = day.index
    p["recover_len"][acc] = 60 + (90 * u_len[declining]).astype(np.int64)
    p["archetype"][acc] = "recovering"


def _expand_seats(world: World, day: Day, rng: np.random.Generator, log: ChangeLog) -> None:
    """Expanding accounts that run out of seats buy more mid-contract."""
    a = world.accounts
    users = np.bincount(world.contacts["account_idx"][active_contacts(world, day)], minlength=len(a))
    full = (world.plans["archetype"] == "expanding") & active_accounts(world, day) & (users >= a["seats"])
    u = rng.random((2, len(a)))
    acc = np.flatnonzero(full & (u[0] < 0.03))
    extra = np.ceil(a["seats"][acc] * (0.1 + 0.2 * u[1][acc])).astype(np.int64)
    seats = a["seats"][acc] + extra
    arr = np.round(a["arr"][acc] * seats / a["seats"][acc], -2)
    _update_accounts(world, day, log, acc, arr, seats, day.business_time(rng, len(acc)))


def _planned_crm_events(world: World, day: Day, rng: np.random.Generator, log: ChangeLog) -> None:
    """Procurement freezes and budget-owner changes scheduled by the accounts' plans."""
    p, live = world.plans, active_accounts(world, day)
    _crm_events(
        world, day, rng, log, np.flatnonzero(live & (p["freeze_day"] == day.index)), "procurement_freeze"
    )
    budget = np.flatnonzero(live & (p["budget_change_day"] == day.index))
    _crm_events(world, day, rng, log, budget, "budget_owner_change")


def _crm_events(
    world: World, day: Day, rng: np.random.Generator, log: ChangeLog, acc: np.ndarray, kind: str
) -> None:
    ts = day.business_time(rng, len(acc))
    if not len(acc):
        return
    after = {
        "crm_event_id": world.new_ids("crm_event", len(acc)),
        "account_id": world.accounts["account_id"][acc],
        "kind": np.full(len(acc), kind, dtype=object),
        "event_at": ts,
    }
    log.add("crm_events", "c", ts, day=day.index, after=after)


def financially_distressed(world: World, day: Day) -> np.ndarray:
    """Accounts whose money trouble has begun (failed invoices, freezes)."""
    return world.plans["cause_finance"] & (decline_progress(world.plans, day.index) > 0)
