"""Monthly invoices: paid as a rule, failed for accounts in money trouble and now and then by chance."""

import numpy as np

from healthwatch.simulator import images
from healthwatch.simulator.changes import ChangeLog
from healthwatch.simulator.crm import active_contract_index, financially_distressed
from healthwatch.simulator.day import Day, Part, active_accounts, defer_untouched
from healthwatch.simulator.tables import DAY_SECONDS, NEVER_SEC, Table
from healthwatch.simulator.world import World

CHANCE_FAILURE = 0.03  # a card expires: the trap for a static payment-failure rule
DISTRESS_FAILURE = 0.6


def step(world: World, day: Day, log: ChangeLog) -> None:
    rng = day.rng(Part.INVOICES)
    _issue(world, day, rng, log)
    _settle(world, day, log)


def _issue(world: World, day: Day, rng: np.random.Generator, log: ChangeLog) -> None:
    contract = active_contract_index(world)
    due = active_accounts(world, day) & (world.accounts["billing_dom"] == day.date.day) & (contract >= 0)
    distressed = financially_distressed(world, day)
    acc = np.flatnonzero(due)
    n = len(acc)
    u = rng.random((3, n))
    paid_at = day.business_time(rng, n, center_h=9.0)
    retry_days = np.where(distressed[acc], rng.integers(5, 13, n), rng.integers(1, 6, n))
    if not n:
        return
    failed = u[0] < np.where(distressed[acc], DISTRESS_FAILURE, CHANCE_FAILURE)
    goes_overdue = failed & distressed[acc] & (u[1] < 0.5)
    invoices = Table(
        {
            "invoice_id": world.new_ids("invoice", n),
            "account_idx": acc,
            "due_day": np.full(n, day.index, dtype=np.int64),
            "amount": np.round(world.contracts["arr"][contract[acc]] / 12, 2),
            "status": np.where(failed, "failed", "paid").astype(object),
            "event_sec": paid_at,
            "next_status": np.where(goes_overdue, "overdue", "paid").astype(object),
            "next_sec": np.where(
                goes_overdue, paid_at + 15 * DAY_SECONDS, paid_at + retry_days * DAY_SECONDS
            ),
        }
    )
    log.add("invoices", "c", paid_at, day=day.index, after=images.invoices(world, invoices))
    world.pending_invoices = world.pending_invoices.append(invoices.take(failed))


def _settle(world: World, day: Day, log: ChangeLog) -> None:
    """Failed invoices get paid on a retry, or turn overdue."""
    pending = world.pending_invoices
    defer_untouched(day, pending["next_sec"], pending["account_idx"])
    due = day.in_today(pending["next_sec"])
    settled = pending.take(due)
    if not len(settled):
        return
    before = images.invoices(world, settled)
    settled["status"] = settled["next_status"].copy()
    settled["event_sec"] = settled["next_sec"].copy()
    settled["next_sec"] = np.full(len(settled), NEVER_SEC)
    log.add(
        "invoices",
        "u",
        settled["event_sec"],
        day=day.index,
        before=before,
        after=images.invoices(world, settled),
    )
    world.pending_invoices = pending.take(~due)
