"""A simulated B2B SaaS customer base, written to the warehouse as CDC change rows.

`simulate` builds a world and its history; `stream` advances it, as live CDC would;
`simulate_configured` is `simulate` with the start date and core features of the settings.
"""

from datetime import date
from typing import TYPE_CHECKING

import duckdb

from healthwatch.simulator.engine import Progress, SimulationSummary, simulate, stream

if TYPE_CHECKING:
    from healthwatch.config import Settings


def simulate_configured(
    con: duckdb.DuckDBPyConnection,
    settings: "Settings",
    *,
    accounts: int,
    days: int,
    seed: int,
    progress: Progress | None = None,
    start_date: date | None = None,
    event_sample: float = 1.0,
) -> SimulationSummary:
    """A new world from `start_date` (default `simulation.start_date`) with the configured core
    features; `event_sample` as in `simulate`."""
    return simulate(
        con,
        accounts=accounts,
        days=days,
        seed=seed,
        start_date=start_date or settings.config.simulation.start_date,
        core_features=settings.config.product.core_features,
        progress=progress,
        event_sample=event_sample,
    )


__all__ = ["SimulationSummary", "simulate", "simulate_configured", "stream"]
