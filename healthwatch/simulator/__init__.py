"""A simulated B2B SaaS customer base, written to the warehouse as CDC change rows.

`simulate` builds a world and its history; `stream` advances it, as live CDC would.
"""

from healthwatch.simulator.engine import SimulationSummary, simulate, stream

__all__ = ["SimulationSummary", "simulate", "stream"]
