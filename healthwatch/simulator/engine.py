"""`simulate` and `stream`: write a simulated customer base as CDC change rows, day by day."""

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import numpy as np

from healthwatch.errors import HealthwatchError
from healthwatch.simulator import billing, crm, csm, engagement, images, people, product, state, support
from healthwatch.simulator.changes import ChangeLog
from healthwatch.simulator.day import make_day
from healthwatch.simulator.founding import build_world
from healthwatch.simulator.tables import NEVER
from healthwatch.simulator.world import World
from healthwatch.warehouse import SOURCE_SYSTEMS, change_table, ensure_change_tables, max_seqs, table_exists

Progress = Callable[[int, int], None]
# Change rows buffered before the days simulated so far are written and committed as one chunk:
# bounds memory (and what a crash loses) against the fixed cost of each chunk.
FLUSH_ROWS = 1_000_000
# DuckDB keeps the blocks it writes cached up to its memory limit (80% of RAM by default), of no
# use to a run that only appends: while it runs, the limit is lowered to this (then put back).
DUCKDB_MEMORY_LIMIT = 2**30
_UNITS = {"": 1, "B": 1, "BYTES": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "PB": 10**15,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40, "PIB": 2**50}  # fmt: skip


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
    event_sample: float = 1.0,
) -> SimulationSummary:
    """Replace `sim` and `cdc` with a new world of `accounts` accounts simulated for `days` days.

    The days are written in chunks, each committed, so memory stays bounded however large the
    world. Until the last chunk is in, `sim.world` says the world is incomplete: a `simulate`
    that fails part-way leaves a world that `stream` refuses (start again with `--replace`).

    `event_sample` is the share of product events kept, each event independently (from a random
    stream of its own): below 1 it thins the product events of very large worlds and nothing
    else (every other change row, the accounts' behaviour and truth stay the same). The default,
    1, keeps every event; `stream` continues a world with the share it was simulated with.
    """
    _validate(accounts=accounts, days=days, core_features=core_features, event_sample=event_sample)
    world = build_world(seed, accounts, start_date, core_features)
    world.event_sample = float(event_sample)
    with _memory_limit(con), _transaction(con) as commit:
        con.execute("drop schema if exists cdc cascade")
        ensure_change_tables(con)
        state.create_schema(con)
        state.save(con, world, complete=False)
        log = ChangeLog(con, start_date, {change_table(s): 1 for s in SOURCE_SYSTEMS}, world.features)
        _snapshot(world, log)
        _run(world, log, days, progress, end_chunk=commit)
        state.save(con, world)
    return _summary(world, 0, log)


def stream(
    con: duckdb.DuckDBPyConnection,
    *,
    days: int,
    progress: Progress | None = None,
    touch_share: float = 1.0,
) -> SimulationSummary:
    """Advance the stored world by `days` days, appending their change rows.

    Whole days are committed together with the world's state as of their last day, so a
    `stream` that fails part-way leaves the world at the last day it committed, ready to go on.
    With `touch_share` below 1 only that share of accounts (drawn per day) acts on the streamed
    days; the rest have quiet days (benchmarks: "a day that changes 1% of accounts").
    """
    if not 0 < touch_share <= 1:
        raise HealthwatchError(
            f"touch_share must be above 0 and at most 1, got {touch_share}", "pass 0.01 for 1%"
        )
    if days < 0:
        raise HealthwatchError(f"days must be 0 or more, got {days}", "pass --days 1 or more")
    if not table_exists(con, "sim.world"):
        raise HealthwatchError("no simulated world in this warehouse", "run `healthwatch simulate` first")
    with _memory_limit(con), _transaction(con) as commit:
        world = state.load(con)
        ensure_change_tables(con)
        first = world.last_day + 1
        next_seq = {table: seq + 1 for table, seq in max_seqs(con).items()}
        log = ChangeLog(con, world.start_date, next_seq, world.features)

        def end_chunk() -> None:
            state.save(con, world)
            commit()

        touched = _run(world, log, days, progress, end_chunk=end_chunk, touch_share=touch_share)
        state.save(con, world)
        # CSMs work the CRM tasks the pipeline wrote so far (the feedback loop of the demo); on
        # days that touch only some accounts, only those accounts' tasks.
        csm.work_tasks(
            con,
            world.start_date + timedelta(days=world.last_day),
            accounts=None if touched is None else set(world.accounts["account_id"][touched].tolist()),
        )
    return _summary(world, first, log)


def _validate(*, accounts: int, days: int, core_features: list[str], event_sample: float) -> None:
    if accounts < 1:
        raise HealthwatchError(f"accounts must be 1 or more, got {accounts}", "pass --accounts 20 or more")
    if days < 0:
        raise HealthwatchError(f"days must be 0 or more, got {days}", "pass --days 60 or more")
    if not core_features or len(set(core_features)) != len(core_features):
        raise HealthwatchError(
            f"core features must be a non-empty list without repeats, got {core_features}",
            "set product.core_features in healthwatch.yml",
        )
    if not 0 < event_sample <= 1:
        raise HealthwatchError(
            f"event_sample must be above 0 and at most 1, got {event_sample}", "pass 1 to keep every event"
        )


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[Callable[[], None]]:
    """A transaction the body may commit part-way by calling what it is given (a new one then begins).

    On an error, what was not committed yet is rolled back.
    """

    def commit_and_continue() -> None:
        con.commit()
        con.begin()

    con.begin()
    try:
        yield commit_and_continue
    except BaseException:
        with suppress(duckdb.Error):  # a failed commit has rolled back already
            con.rollback()
        raise
    con.commit()


@contextmanager
def _memory_limit(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB's memory limit lowered to `DUCKDB_MEMORY_LIMIT` (if it is higher) for the duration."""
    (before,) = con.execute("select current_setting('memory_limit')").fetchall()[0]
    if _bytes(before) <= DUCKDB_MEMORY_LIMIT:
        yield
        return
    con.execute(f"set memory_limit = '{DUCKDB_MEMORY_LIMIT}B'")
    try:
        yield
    finally:
        con.execute("reset memory_limit")  # exact when it was the default
        (default,) = con.execute("select current_setting('memory_limit')").fetchall()[0]
        if default != before:  # a limit of the caller's, as DuckDB shows it (to 0.1 of its unit)
            con.execute(f"set memory_limit = '{before}'")


def _bytes(setting: str) -> float:
    """A DuckDB memory setting such as '18.6 GiB' in bytes (infinite if it does not read as one)."""
    number, _, unit = setting.strip().partition(" ")
    try:
        return float(number) * _UNITS[unit.strip().upper()]
    except (ValueError, KeyError):
        return math.inf


def _snapshot(world: World, log: ChangeLog) -> None:
    """The world as it stands on the start date, as `r` rows at start_date 00:00."""
    log.add("team", "r", 0, day=-1, after=images.team(world))
    log.add("accounts", "r", 0, day=-1, after=images.accounts(world, np.arange(len(world.accounts))))
    log.add("contracts", "r", 0, day=-1, after=images.contracts(world, np.arange(len(world.contracts))))
    log.add("contacts", "r", 0, day=-1, after=images.contacts(world, np.arange(len(world.contacts))))


def _run(
    world: World,
    log: ChangeLog,
    days: int,
    progress: Progress | None,
    end_chunk: Callable[[], None],
    touch_share: float = 1.0,
) -> np.ndarray | None:
    """Simulate `days` days; write them in chunks of whole days, calling `end_chunk` after each but the last.

    Returns which accounts acted on any of the days when `touch_share` < 1 (None: all of them)."""
    first = world.last_day + 1
    touched = None if touch_share >= 1.0 else np.zeros(len(world.accounts), dtype=bool)
    for done in range(1, days + 1):
        day = make_day(world, first + done - 1, touch_share)
        if touched is not None and day.touched is not None:
            touched |= day.touched
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
        if log.buffered >= FLUSH_ROWS and done < days:
            _flush(world, log)
            end_chunk()
        if progress is not None:
            progress(done, days)
    _flush(world, log)
    return touched


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
