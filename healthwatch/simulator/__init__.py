"""A simulated B2B SaaS customer base, written to the warehouse as CDC change rows.

`simulate` builds a world and its history; `stream` advances it, as live CDC would;
`simulate_configured` is `simulate` with the start date and core features of the settings.
"""

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
) -> SimulationSummary:
    """A new world from `simulation.start_date` with the configured core features."""
    return simulate(
        con,
        accounts=accounts,
        days=days,
        seed=seed,
        start_date=settings.config.simulation.start_date,
        core_features=settings.config.product.core_features,
        progress=progress,
    )


__all__ = ["SimulationSummary", "simulate", "simulate_configured", "stream"]
