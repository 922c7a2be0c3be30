"""`simulate` and `stream`: write a simulated customer base as CDC change rows, day by day."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import numpy as np

from healthwatch.errors import HealthwatchError
from healthwatch.simulator import billing, crm, engagement, images, people, product, state, support
from healthwatch.simulator.changes import ChangeLog
from healthwatch.simulator.day import make_day
from healthwatch.simulator.founding import build_world
from healthwatch.simulator.tables import NEVER
from healthwatch.simulator.world import World
from healthwatch.warehouse import SOURCE_SYSTEMS, change_table, ensure_change_tables, max_seqs, table_exists

Progress = Callable[[int, int], None]
FLUSH_ROWS = 400_000  # buffered change rows before writing a chunk (memory vs. per-query overhead)


@dataclass(frozen=True)
class SimulationSummary:
    """What a `simulate` or `stream` call wrote."""

    accounts: int
    first_day: date
    last_day: date
    change_rows: dict[str, int]  # rows written by this call, per change table
    churned_accounts: int  # accounts churned so far in the whole world

    @property
    def total_rows(self) -> int:
        return sum(self.change_rows.values())


def simulate(
    con: duckdb.DuckDBPyConnection,
    *,
    accounts: int,
    days: int,
    seed: int,
    start_date: date,
    core_features: list[str],
    progress: Progress | None = None,
) -> SimulationSummary:
    """Replace `sim` and `cdc` with a new world of `accounts` accounts simulated for `days` days."""
    _validate(accounts=accounts, days=days, core_features=core_features)
    with _transaction(con):
        con.execute("drop schema if exists cdc cascade")
        ensure_change_tables(con)
        state.create_schema(con)
        world = build_world(seed, accounts, start_date, core_features)
        log = ChangeLog(con, start_date, {change_table(s): 1 for s in SOURCE_SYSTEMS}, world.features)
        _snapshot(world, log)
        _run(world, log, days, progress)
        state.save(con, world)
    return _summary(world, 0, log)


def stream(
    con: duckdb.DuckDBPyConnection, *, days: int, progress: Progress | None = None
) -> SimulationSummary:
    """Advance the stored world by `days` days, appending their change rows."""
    if days < 0:
        raise HealthwatchError(f"days must be 0 or more, got {days}", "pass --days 1 or more")
    if not table_exists(con, "sim.world"):
        raise HealthwatchError("no simulated world in this warehouse", "run `healthwatch simulate` first")
    with _transaction(con):
        world = state.load(con)
        ensure_change_tables(con)
        first = world.last_day + 1
        next_seq = {table: seq + 1 for table, seq in max_seqs(con).items()}
        log = ChangeLog(con, world.start_date, next_seq, world.features)
        _run(world, log, days, progress)
        state.save(con, world)
    return _summary(world, first, log)


def _validate(*, accounts: int, days: int, core_features: list[str]) -> None:
    if accounts < 1:
        raise HealthwatchError(f"accounts must be 1 or more, got {accounts}", "pass --accounts 20 or more")
    if days < 0:
        raise HealthwatchError(f"days must be 0 or more, got {days}", "pass --days 60 or more")
    if not core_features or len(set(core_features)) != len(core_features):
        raise HealthwatchError(
            f"core features must be a non-empty list without repeats, got {core_features}",
            "set product.core_features in healthwatch.yml",
        )


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """All or nothing: a failed run leaves the warehouse as it was."""
    con.begin()
    try:
        yield
    except BaseException:
        con.rollback()
        raise
    con.commit()


def _snapshot(world: World, log: ChangeLog) -> None:
    """The world as it stands on the start date, as `r` rows at start_date 00:00."""
    log.add("team", "r", 0, day=-1, after=images.team(world))
    log.add("accounts", "r", 0, day=-1, after=images.accounts(world, np.arange(len(world.accounts))))
    log.add("contracts", "r", 0, day=-1, after=images.contracts(world, np.arange(len(world.contracts))))
    log.add("contacts", "r", 0, day=-1, after=images.contacts(world, np.arange(len(world.contacts))))


def _run(world: World, log: ChangeLog, days: int, progress: Progress | None) -> None:
    first = world.last_day + 1
    for done in range(1, days + 1):
        day = make_day(world, first + done - 1)
        crm.step(world, day, log)
        people.step(world, day, log)
        billing.step(world, day, log)
        support.step(world, day, log)
        engagement.step(world, day, log)
        product.step(world, day, log)
        log.add_health(
            day.index, day.health, world.accounts["churn_day"] <= day.index, world.plans["archetype"]
        )
        world.last_day = day.index
        if log.buffered >= FLUSH_ROWS:
            _flush(world, log)
        if progress is not None:
            progress(done, days)
    _flush(world, log)
    log.close()


def _flush(world: World, log: ChangeLog) -> None:
    log.flush(world.accounts["account_id"], world.contacts["contact_id"])


def _summary(world: World, first_day: int, log: ChangeLog) -> SimulationSummary:
    return SimulationSummary(
        accounts=len(world.accounts),
        first_day=world.start_date + timedelta(days=first_day),
        last_day=world.start_date + timedelta(days=world.last_day),
        change_rows=dict(log.rows_written),
        churned_accounts=int((world.accounts["churn_day"] < NEVER).sum()),
    )
