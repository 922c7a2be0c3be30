"""Append decoded PostgreSQL changes to the change tables, exactly once per slot position.

Each write is one DuckDB transaction holding the change rows, the LSN of every row
(`ops.pg_cdc_changes`) and the slot's position (`ops.pg_cdc_positions`: the end LSN of the last
transaction written). The reader acknowledges that position to PostgreSQL only after the commit,
so a crash replays from the last acknowledged position and the transactions already written
(commit LSN at or below the stored position) are left out: nothing is lost, nothing is written twice.

`seq` continues each change table (max(seq) + 1, ...) in commit order, so sensors and
`healthwatch.batches` see the rows as new, contiguous seq ranges.
"""

import json
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from healthwatch.errors import HealthwatchError
from healthwatch.warehouse import change_table, ensure_change_tables

POSITIONS = "ops.pg_cdc_positions"
ROW_LSNS = "ops.pg_cdc_changes"


@dataclass(frozen=True)
class Change:
    """One change of a contract table; op `t` (truncate) deletes every live key of the table."""

    source_table: str  # contract table
    system: str
    op: str  # c | u | d | r | t
    key: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    lsn: int


@dataclass
class Transaction:
    """A committed source transaction: its changes in order, its commit time and position."""

    xid: int | None
    commit_ts: datetime  # UTC, naive
    end_lsn: int  # the end of the commit record: what is acknowledged
    changes: list[Change] = field(default_factory=list)


def lsn_text(lsn: int) -> str:
    """An LSN as PostgreSQL prints it, e.g. 0/1927310."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    """The integer of an LSN written `X/Y`."""
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def ensure_cdc_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The change tables, and the slot positions and row LSNs this writer keeps beside them."""
    ensure_change_tables(con)
    con.execute(
        f"""create table if not exists {POSITIONS} (
            slot varchar not null, lsn varchar not null, lsn_int bigint not null,
            updated_at timestamp not null)"""
    )
    con.execute(
        f"""create table if not exists {ROW_LSNS} (
            change_table varchar not null, seq bigint not null, slot varchar not null,
            lsn varchar not null, commit_end_lsn varchar not null, xid bigint)"""
    )


def stored_position(con: duckdb.DuckDBPyConnection, slot: str) -> int | None:
    """The end LSN of the last transaction of `slot` written to the warehouse (None: none yet)."""
    ensure_cdc_tables(con)
    (lsn,) = con.execute(f"select max(lsn_int) from {POSITIONS} where slot = ?", [slot]).fetchall()[0]
    return None if lsn is None else int(lsn)


@contextmanager
def open_warehouse(path: Path, attempts: int = 8) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse read-write; raise WarehouseBusy while another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    delay = 0.02
    for attempt in range(attempts):
        try:
            con = duckdb.connect(str(path))
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise HealthwatchError(f"cannot open the warehouse {path}: {exc}") from exc
            if attempt == attempts - 1:
                raise WarehouseBusy(str(exc)) from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
    try:
        yield con
    finally:
        con.close()


class WarehouseBusy(Exception):
    """Another process holds the warehouse's write lock (a dbt run): try again later."""


_ARROW_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("source_table", pa.string()),
        ("op", pa.string()),
        ("key", pa.string()),
        ("before", pa.string()),
        ("after", pa.string()),
        ("source_ts", pa.timestamp("us")),
        ("lsn", pa.string()),
        ("commit_end_lsn", pa.string()),
        ("xid", pa.int64()),
    ]
)


def _dump(image: dict[str, Any] | None) -> str | None:
    return None if image is None else json.dumps(image, separators=(",", ":"))


def write_transactions(
    con: duckdb.DuckDBPyConnection, slot: str, transactions: list[Transaction], end_lsn: int
) -> dict[str, int]:
    """Append the changes of `transactions` not written yet and move the slot's position to
    `end_lsn`, in one warehouse transaction. Returns rows written per change table."""
    ensure_cdc_tables(con)
    stored = stored_position(con, slot) or 0
    fresh = [t for t in transactions if t.end_lsn > stored]
    ingested_at = datetime.now(UTC).replace(tzinfo=None)
    written: dict[str, int] = defaultdict(int)
    con.execute("begin")
    try:
        next_seq: dict[str, int] = {}
        pending: dict[str, list[dict[str, Any]]] = defaultdict(list)

        def seq_of(table: str) -> int:
            if table not in next_seq:
                (top,) = con.execute(f"select coalesce(max(seq), 0) from {table}").fetchall()[0]
                next_seq[table] = int(top)
            next_seq[table] += 1
            return next_seq[table]

        def flush(table: str) -> None:
            rows = pending.pop(table, [])
            if not rows:
                return
            con.register("_hw_cdc_batch", pa.Table.from_pylist(rows, schema=_ARROW_SCHEMA))
            con.execute(
                f"""insert into {table} (seq, source_table, op, key, before, after, source_ts, ingested_at)
                select seq, source_table, op, key, before::json, after::json, source_ts, ?
                from _hw_cdc_batch order by seq""",
                [ingested_at],
            )
            con.execute(
                f"insert into {ROW_LSNS} select ?, seq, ?, lsn, commit_end_lsn, xid from _hw_cdc_batch",
                [table, slot],
            )
            con.unregister("_hw_cdc_batch")
            written[table] += len(rows)

        for txn in fresh:
            for change in txn.changes:
                table = change_table(change.system)
                if change.op == "t":
                    flush(table)
                    written[table] += _truncate(con, table, slot, change, txn, seq_of(table) - 1, ingested_at)
                    next_seq.pop(table)
                    continue
                pending[table].append(
                    {
                        "seq": seq_of(table),
                        "source_table": change.source_table,
                        "op": change.op,
                        "key": change.key,
                        "before": _dump(change.before),
                        "after": _dump(change.after),
                        "source_ts": txn.commit_ts,
                        "lsn": lsn_text(change.lsn),
                        "commit_end_lsn": lsn_text(txn.end_lsn),
                        "xid": txn.xid,
                    }
                )
        for table in list(pending):
            flush(table)
        if end_lsn > stored:
            con.execute(f"delete from {POSITIONS} where slot = ?", [slot])
            con.execute(
                f"insert into {POSITIONS} values (?, ?, ?, ?)",
                [slot, lsn_text(end_lsn), end_lsn, ingested_at],
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return dict(written)


def _truncate(
    con: duckdb.DuckDBPyConnection,
    table: str,
    slot: str,
    change: Change,
    txn: Transaction,
    base: int,
    ingested_at: datetime,
) -> int:
    """A truncate becomes a delete of every live key of the source table (the contract has no
    truncate op), each with its last image as `before`."""
    con.execute(
        f"""insert into {table} (seq, source_table, op, key, before, after, source_ts, ingested_at)
        select ? + row_number() over (order by key), source_table, 'd', key, after, null, ?, ?
        from (select * from {table} where source_table = ?
              qualify row_number() over (partition by key order by seq desc, ingested_at desc) = 1)
        where op <> 'd' and after is not null
        order by key""",
        [base, txn.commit_ts, ingested_at, change.source_table],
    )
    (count,) = con.execute(f"select count(*) from {table} where seq > ?", [base]).fetchall()[0]
    con.execute(
        f"insert into {ROW_LSNS} select ?, seq, ?, ?, ?, ? from {table} where seq > ?",
        [table, slot, lsn_text(change.lsn), lsn_text(txn.end_lsn), txn.xid, base],
    )
    return int(count)
