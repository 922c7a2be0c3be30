"""Shared by the simulator tests: the demo's start date and features, and a one-call world builder."""

from datetime import date, timedelta
from pathlib import Path

import duckdb

from healthwatch.simulator import SimulationSummary, simulate

START = date(2025, 9, 1)
CORE_FEATURES = ["reports", "dashboards", "workflows", "integrations"]
CHANGE_TABLES = ("cdc.crm_changes", "cdc.support_changes", "cdc.product_changes", "cdc.engagement_changes")


def day(index: int) -> date:
    return START + timedelta(days=index)


def build(path: Path, *, accounts: int, days: int, seed: int = 7) -> SimulationSummary:
    con = duckdb.connect(str(path))
    try:
        return simulate(
            con, accounts=accounts, days=days, seed=seed, start_date=START, core_features=CORE_FEATURES
        )
    finally:
        con.close()
