"""Rows of the simulator's state as contract-shaped images (`contract.SOURCE_TABLES` columns).

Values stay in the simulator's units (day indices, seconds, sentinels for null); the change log
turns them into dates, timestamps and nulls when it writes.
"""

import numpy as np

from healthwatch.simulator.changes import Image
from healthwatch.simulator.tables import NEVER_SEC, Table
from healthwatch.simulator.world import World


def team(world: World) -> Image:
    return {
        name: world.team[name] for name in ("member_id", "name", "email", "role", "manager_id", "timezone")
    }


def accounts(world: World, idx: np.ndarray) -> Image:
    a = world.accounts
    return {
        "account_id": a["account_id"][idx],
        "name": a["name"][idx],
        "segment": a["segment"][idx],
        "arr": a["arr"][idx],
        "plan": a["plan"][idx],
        "seats_purchased": a["seats"][idx],
        "csm_id": a["csm_id"][idx],
        "created_at": a["created_sec"][idx],
    }


def contracts(world: World, idx: np.ndarray) -> Image:
    c = world.contracts
    return {
        "contract_id": c["contract_id"][idx],
        "account_id": world.accounts["account_id"][c["account_idx"][idx]],
        "start_date": c["start_day"][idx],
        "renewal_date": c["renewal_day"][idx],
        "arr": c["arr"][idx],
        "status": c["status"][idx],
        "cancelled_at": c["cancelled_sec"][idx],
    }


def contacts(world: World, idx: np.ndarray) -> Image:
    c = world.contacts
    return {
        "contact_id": c["contact_id"][idx],
        "account_id": world.accounts["account_id"][c["account_idx"][idx]],
        "email": c["email"][idx],
        "role": c["role"][idx],
        "is_champion": c["is_champion"][idx],
        "is_exec_sponsor": c["is_exec_sponsor"][idx],
        "left_at": c["left_sec"][idx],
    }


def tickets(world: World, open_tickets: Table, *, closed: bool) -> Image:
    t = open_tickets
    n = len(t)
    return {
        "ticket_id": t["ticket_id"],
        "account_id": world.accounts["account_id"][t["account_idx"]],
        "contact_id": t["contact_id"],
        "created_at": t["created_sec"],
        "closed_at": t["close_sec"] if closed else np.full(n, NEVER_SEC),
        "priority": t["priority"],
        "is_escalated": t["is_escalated"],
        "subject": t["subject"],
        "body": t["body"],
        "csat": t["csat"] if closed else np.full(n, -1),
    }


def invoices(world: World, invoices: Table) -> Image:
    return {
        "invoice_id": invoices["invoice_id"],
        "account_id": world.accounts["account_id"][invoices["account_idx"]],
        "due_date": invoices["due_day"],
        "amount": invoices["amount"],
        "status": invoices["status"],
        "event_at": invoices["event_sec"],
    }
