"""The simulator's private schema `sim`: its world, so that `stream` can continue it, and its truth.

The pipeline never reads `sim`; people checking what the pipeline found against what really
happened do (`sim.account_health`, `sim.account_truth`).
"""

from datetime import timedelta

import duckdb
import numpy as np
import pyarrow as pa

from healthwatch.errors import HealthwatchError
from healthwatch.simulator.tables import NEVER, Table
from healthwatch.simulator.world import CAUSES, ID_FORMATS, World
from healthwatch.warehouse import table_exists

STATE_VERSION = 1
# World attribute -> table in `sim`.
STATE_TABLES = {
    "team": "team",
    "accounts": "accounts",
    "plans": "account_plans",
    "contracts": "contracts",
    "contacts": "contacts",
    "open_tickets": "open_tickets",
    "pending_invoices": "pending_invoices",
    "pending_responses": "pending_responses",
}


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("drop schema if exists sim cascade")
    con.execute("create schema sim")
    con.execute(
        """create table sim.account_health_daily (
            account_id varchar, day date, health double, archetype varchar, is_churned boolean)"""
    )


def save(con: duckdb.DuckDBPyConnection, world: World, *, complete: bool = True) -> None:
    """Replace the stored world with this one (all but the daily health, which the log appends).

    `complete=False` marks a world whose `simulate` is still writing it: `load` refuses it.
    """
    for attr, name in STATE_TABLES.items():
        staged = getattr(world, attr).to_arrow()  # noqa: F841 - read by name in the query below
        con.execute(f"create or replace table sim.{name} as select * from staged")
    last_day = world.start_date + timedelta(days=world.last_day)
    counters = ", ".join(f"{v} as next_{k}" for k, v in world.counters.items())
    con.execute(
        f"""create or replace table sim.world as
        select ? as version, ?::bigint as seed, ?::integer as accounts, ?::date as start_date,
               ?::date as last_day, ?::integer as last_day_index, ?::varchar[] as core_features,
               ?::double as event_sample, ?::boolean as complete, {counters}""",
        [
            STATE_VERSION,
            world.seed,
            len(world.accounts),
            world.start_date,
            last_day,
            world.last_day,
            world.core_features,
            world.event_sample,
            complete,
        ],
    )
    _save_truth(con, world)


def load(con: duckdb.DuckDBPyConnection) -> World:
    if not table_exists(con, "sim.world"):
        raise HealthwatchError("no simulated world in this warehouse", "run `healthwatch simulate` first")
    cursor = con.execute("select * from sim.world")
    names = [d[0] for d in cursor.description]
    row = dict(zip(names, cursor.fetchall()[0], strict=True))
    if row.get("version") != STATE_VERSION:
        raise HealthwatchError(
            "the simulated world in this warehouse was written by another simulator version",
            "run `healthwatch simulate` again",
        )
    if not row.get("complete", True):  # worlds written before the flag existed were written whole
        raise HealthwatchError(
            "the simulated world in this warehouse is incomplete: the `simulate` that wrote it did not finish",
            "run `healthwatch simulate --replace`",
        )
    tables = {
        attr: Table.from_numpy(con.execute(f"select * from sim.{name}").fetchnumpy())
        for attr, name in STATE_TABLES.items()
    }
    return World(
        seed=int(row["seed"]),
        start_date=row["start_date"],
        core_features=list(row["core_features"]),
        last_day=int(row["last_day_index"]),
        counters={kind: int(row[f"next_{kind}"]) for kind in ID_FORMATS},
        event_sample=float(row.get("event_sample", 1.0)),
        **tables,
    )


def _save_truth(con: duckdb.DuckDBPyConnection, world: World) -> None:
    """Per account, in plain dates: archetype, causes, decline onset, planned or actual churn."""
    accounts, plans, contracts = world.accounts, world.plans, world.contracts
    n = len(accounts)
    planned = np.full(n, NEVER, dtype=np.int64)
    reason = np.full(n, None, dtype=object)
    churning = np.flatnonzero(contracts["will_churn"])
    acc = contracts["account_idx"][churning]
    planned[acc] = np.minimum(contracts["cancel_day"][churning], contracts["renewal_day"][churning])
    reason[acc] = contracts["churn_reason"][churning]
    causes = np.column_stack([plans[f"cause_{c}"] for c in CAUSES])
    origin = np.datetime64(world.start_date, "D")
    staged = pa.table(  # noqa: F841 - read by name in the query below
        {
            "account_id": pa.array(accounts["account_id"].tolist(), pa.string()),
            "segment": pa.array(accounts["segment"].tolist(), pa.string()),
            "archetype": pa.array(plans["archetype"].tolist(), pa.string()),
            "initial_archetype": pa.array(plans["initial_archetype"].tolist(), pa.string()),
            "causes": pa.array([[c for c, has in zip(CAUSES, row, strict=True) if has] for row in causes]),
            "decline_onset": _dates(origin, plans["onset_day"]),
            "planned_churn_date": _dates(origin, planned),
            "churned_on": _dates(origin, accounts["churn_day"]),
            "churn_reason": pa.array(reason.tolist(), pa.string()),
            "bad_week_start": _dates(origin, plans["bad_week_start"]),
            "bad_week_days": pa.array(np.where(plans["bad_week_start"] < NEVER, plans["bad_week_len"], 0)),
        }
    )
    con.execute("create or replace table sim.account_truth as select * from staged")
    con.execute(
        """create or replace view sim.account_health as
        select d.account_id, d.day, d.health, d.archetype, d.is_churned,
               t.initial_archetype, t.causes, t.decline_onset, t.planned_churn_date, t.churned_on, t.churn_reason
        from sim.account_health_daily d
        join sim.account_truth t using (account_id)"""
    )


def _dates(origin: np.datetime64, days: np.ndarray) -> pa.Array:
    never = days >= NEVER
    return pa.array(origin + np.where(never, 0, days), mask=never)
