"""Shared by the simulator tests: the demo's start date and features, a one-call world builder, hashes."""

import hashlib
from datetime import date, timedelta
from pathlib import Path

import duckdb

from healthwatch.simulator import SimulationSummary, simulate

START = date(2025, 9, 1)
CORE_FEATURES = ["reports", "dashboards", "workflows", "integrations"]
CHANGE_TABLES = ("cdc.crm_changes", "cdc.support_changes", "cdc.product_changes", "cdc.engagement_changes")
SIM_STATE = ("accounts", "account_plans", "contracts", "contacts", "open_tickets", "pending_invoices",
             "pending_responses", "account_health_daily", "world")  # fmt: skip


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


def table_hash(con: duckdb.DuckDBPyConnection, query: str) -> str:
    return hashlib.sha256(repr(con.execute(query).fetchall()).encode()).hexdigest()


def cdc_hashes(path: Path) -> dict[str, str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {t: table_hash(con, f"select * from {t} order by seq") for t in CHANGE_TABLES}
    finally:
        con.close()


def sim_hashes(path: Path) -> dict[str, str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {t: table_hash(con, f"select * from sim.{t} order by all") for t in SIM_STATE}
    finally:
        con.close()
