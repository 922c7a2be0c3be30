"""The simulated world's state: what the simulator must remember to continue from its last day."""

from dataclasses import dataclass, field
from datetime import date

import numpy as np

from healthwatch.simulator.tables import Table

NON_CORE_FEATURES = ("search", "export", "settings", "comments")
TIMEZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Sydney",
)
CAUSES = ("champion", "usage", "support", "nps", "finance")
TEAM_DOMAIN = "healthwatch-demo.example"

# Daily chance that a contact in this role is active on a normal weekday at full health.
ROLE_RATES = {"admin": 0.66, "user": 0.56, "exec": 0.22, "finance": 0.2}
CHAMPION_RATE = 0.9
MAX_SPIKES = 3
ACCOUNTS_STREAM = int.from_bytes(b"accounts", "big")

ID_FORMATS = {
    "contact": "CON-{:06d}",
    "contract": "CTR-{:06d}",
    "ticket": "TCK-{:06d}",
    "invoice": "INV-{:07d}",
    "crm_event": "CRE-{:06d}",
    "survey": "SRV-{:07d}",
    "response": "NPS-{:07d}",
}


@dataclass
class World:
    """Everything the simulator needs to continue from `last_day` (day index; -1 before day 0)."""

    seed: int
    start_date: date
    core_features: list[str]
    team: Table
    accounts: Table
    plans: Table
    contracts: Table
    contacts: Table
    open_tickets: Table
    pending_invoices: Table
    pending_responses: Table
    last_day: int = -1
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ID_FORMATS, 1))
    event_sample: float = 1.0  # share of product events kept (see `simulate`)

    @property
    def features(self) -> list[str]:
        return all_features(self.core_features)

    def new_ids(self, kind: str, n: int) -> np.ndarray:
        """The next `n` ids of a kind (contact, ticket, ...), as an object array."""
        first = self.counters[kind]
        self.counters[kind] = first + n
        return np.array([ID_FORMATS[kind].format(i) for i in range(first, first + n)], dtype=object)


def all_features(core_features: list[str]) -> list[str]:
    """Core features first, then the non-core ones every account also uses."""
    return [*core_features, *(f for f in NON_CORE_FEATURES if f not in core_features)]


def seed_entropy(seed: int) -> int:
    """numpy seeds must be non-negative."""
    return seed % 2**63


def _empty(**dtypes: type) -> Table:
    return Table({name: np.array([], dtype=dtype) for name, dtype in dtypes.items()})


def empty_tickets() -> Table:
    """Open tickets: the contract's ticket columns plus when each will be escalated and closed."""
    return _empty(
        ticket_id=object, account_idx=np.int64, contact_id=object, created_sec=np.int64, priority=object,
        is_escalated=bool, subject=object, body=object, escalate_sec=np.int64, close_sec=np.int64, csat=np.int64,
    )  # fmt: skip


def empty_invoices() -> Table:
    """Failed invoices waiting to be paid or to turn overdue."""
    return _empty(
        invoice_id=object, account_idx=np.int64, due_day=np.int64, amount=np.float64, status=object,
        event_sec=np.int64, next_status=object, next_sec=np.int64,
    )  # fmt: skip


def empty_responses() -> Table:
    """NPS answers already decided, arriving 0-7 days after their survey."""
    return _empty(
        response_id=object, survey_id=object, account_idx=np.int64, contact_id=object, score=np.int64,
        comment=object, responded_sec=np.int64,
    )  # fmt: skip


def add_years(days: np.ndarray, years: np.ndarray | int, start_date: date) -> np.ndarray:
    """Day indices moved by whole calendar years (29 February becomes 28 February)."""
    origin = np.datetime64(start_date, "D")
    dates = origin + np.asarray(days, dtype=np.int64)
    months = dates.astype("datetime64[M]")
    dom = (dates - months.astype("datetime64[D]")).astype(np.int64)
    moved = months + 12 * np.asarray(years, dtype=np.int64)
    length = ((moved + 1).astype("datetime64[D]") - moved.astype("datetime64[D]")).astype(np.int64)
    result = moved.astype("datetime64[D]") + np.minimum(dom, length - 1)
    return (result - origin).astype(np.int64)


def day_of_month(days: np.ndarray, start_date: date) -> np.ndarray:
    dates = np.datetime64(start_date, "D") + np.asarray(days, dtype=np.int64)
    return (dates - dates.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
