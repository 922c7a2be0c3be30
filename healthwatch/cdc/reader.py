"""Stream a PostgreSQL logical replication slot (wal2json, format 2) into the change tables.

Set-up (`create_slot`): the slot is created with an exported snapshot; the mapped tables are read in
that snapshot and written as op `r` rows, with the slot's consistent point as the position. Every
change committed after it then arrives on the stream, none twice, none missing.

Stream: changes are buffered per source transaction; a transaction counts once its commit arrives.
Committed transactions are written when the stream goes quiet, or every `max_batch_delay` seconds /
`max_batch_rows` rows under load, in one warehouse transaction with the slot's position; only then
is the position acknowledged to PostgreSQL. A crash replays from there; the writer leaves out what
it already holds. A stop request (SIGTERM) writes what is committed, acknowledges it and returns.
"""

import json
import logging
import re
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.extras
from psycopg2 import sql

from healthwatch.cdc.mapping import MappedTable
from healthwatch.cdc.writer import (
    Change,
    Transaction,
    WarehouseBusy,
    lsn_text,
    open_warehouse,
    parse_lsn,
    stored_position,
    write_transactions,
)
from healthwatch.errors import HealthwatchError

log = logging.getLogger("healthwatch.cdc")

PLUGIN = "wal2json"
DSN_ENV = "HEALTHWATCH_CDC_PG_DSN"
# Values in UTC and ISO dates whatever the server's defaults, on both connections.
SESSION_OPTIONS = "-c timezone=UTC -c datestyle=ISO"
_SLOT_NAME = re.compile(r"^[a-z0-9_]{1,63}$")


@dataclass
class ReaderConfig:
    """What to stream, from where, into which warehouse."""

    dsn: str
    warehouse: Path
    tables: list[MappedTable]
    slot: str = "healthwatch"
    create_slot: bool = False
    snapshot: bool = True
    replica_identity_full: bool = False
    max_batch_rows: int = 5000
    max_batch_delay: float = 0.5
    status_interval: float = 10.0
    # Called after each warehouse commit with the transactions written (benchmarks).
    on_written: Callable[[list[Transaction]], None] | None = None


@dataclass
class ReaderStats:
    """What a reader did, for the log and the tests."""

    transactions: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    acknowledged: int = 0


def libpq_dsn(dsn: str) -> str:
    """A DSN libpq accepts: SQLAlchemy's `postgresql+psycopg2://` scheme becomes `postgresql://`."""
    return re.sub(r"^postgres(ql)?\+\w+://", "postgresql://", dsn.strip())


def _connect(dsn: str, replication: bool = False) -> psycopg2.extensions.connection:
    factory = psycopg2.extras.LogicalReplicationConnection if replication else None
    try:
        return psycopg2.connect(libpq_dsn(dsn), connection_factory=factory, options=SESSION_OPTIONS)
    except psycopg2.Error as exc:
        # libpq's message names host, port and user, never the password.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HealthwatchError(
            f"cannot connect to the PostgreSQL source: {first}",
            f"check the DSN in {DSN_ENV} (and PGPASSWORD), and that the server allows "
            f"{'replication ' if replication else ''}connections from this host",
        ) from exc


def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC).replace(tzinfo=None)


class Decoder:
    """wal2json format-2 messages → Transactions of contract changes."""

    def __init__(self, tables: list[MappedTable]) -> None:
        self.tables = {t.source: t for t in tables}
        self.current: Transaction | None = None

    def feed(self, payload: dict[str, Any]) -> Transaction | None:
        """Take one message; return the transaction its commit completes."""
        action = payload["action"]
        if action == "B":
            self.current = Transaction(
                xid=payload.get("xid"), commit_ts=_timestamp(payload["timestamp"]), end_lsn=0
            )
            return None
        if action == "C":
            txn, self.current = self.current, None
            if txn is None:  # a stream starting mid-transaction cannot happen; be strict
                raise HealthwatchError("wal2json sent a commit without a begin", "restart the reader")
            txn.commit_ts = _timestamp(payload["timestamp"])
            txn.end_lsn = parse_lsn(payload["nextlsn"])
            return txn
        mapped = self.tables.get(f"{payload.get('schema')}.{payload.get('table')}")
        if mapped is None or self.current is None or action == "M":
            return None
        self.current.changes.extend(self._changes(mapped, action, payload))
        return None

    @staticmethod
    def _changes(mapped: MappedTable, action: str, payload: dict[str, Any]) -> list[Change]:
        lsn = parse_lsn(payload["lsn"])
        name, system = mapped.target.name, mapped.target.system
        old = {c["name"]: c["value"] for c in payload.get("identity") or []}
        new = {c["name"]: c["value"] for c in payload.get("columns") or []}
        if action == "T":
            return [Change(name, system, "t", None, None, None, lsn)]
        before = mapped.image(old, partial=True) if old else None
        if action == "D":
            key = mapped.key(before or {})
            if key is None:
                raise HealthwatchError(
                    f"a delete on {mapped.source} carries no {mapped.key_source}",
                    f"give the table a primary key, or ALTER TABLE {mapped.source} REPLICA IDENTITY FULL",
                )
            return [Change(name, system, "d", key, before, None, lsn)]
        # Unchanged TOASTed values are left out of the new tuple: take them from the old one.
        after = mapped.image({**old, **new})
        key = mapped.key(after)
        if key is None:
            raise HealthwatchError(
                f"a row of {mapped.source} has a null {mapped.key_source}", "the contract key must be set"
            )
        if action == "I":
            return [Change(name, system, "c", key, None, after, lsn)]
        old_key = mapped.key(before or {})
        if old_key is not None and old_key != key:
            # The key changed: the old key is gone, the new one appears (as Debezium emits it).
            return [
                Change(name, system, "d", old_key, before, None, lsn),
                Change(name, system, "c", key, None, after, lsn),
            ]
        return [Change(name, system, "u", key, before, after, lsn)]


class Reader:
    """One replication session: set-up, then the stream until `stop` is set."""

    def __init__(self, config: ReaderConfig, stop: threading.Event | None = None) -> None:
        if not _SLOT_NAME.match(config.slot):
            raise HealthwatchError(
                f"slot name {config.slot!r} is not valid", "use lower-case letters, digits and _"
            )
        self.config = config
        self.stop = stop or threading.Event()
        self.stats = ReaderStats()
        self.decoder = Decoder(config.tables)
        self.completed: list[Transaction] = []
        self.acked = 0
        self._retry_at = 0.0

    # -- set-up ---------------------------------------------------------------------------------

    def _wal2json_options(self) -> dict[str, str]:
        return {
            "format-version": "2",
            "include-xids": "1",
            "include-timestamp": "1",
            "include-lsn": "1",
            "include-types": "0",
            "add-tables": ",".join(t.source for t in self.config.tables),
        }

    def _warehouse_position(self) -> int | None:
        while True:
            try:
                with open_warehouse(self.config.warehouse) as con:
                    return stored_position(con, self.config.slot)
            except WarehouseBusy:
                log.info("warehouse busy (a run holds it); waiting")
                if self.stop.wait(1.0):
                    raise HealthwatchError("stopped while waiting for the warehouse") from None

    def _prepare_source(self) -> tuple[str | None, int | None]:
        """Check (or create) the slot; returns the slot's plugin (None: no slot) and confirmed LSN."""
        con = _connect(self.config.dsn)
        con.autocommit = True
        try:
            with con.cursor() as cur:
                for mapped in self.config.tables:
                    cur.execute("select to_regclass(%s)", [mapped.source])
                    if cur.fetchone()[0] is None:
                        raise HealthwatchError(
                            f"source table {mapped.source} does not exist",
                            "create it, or fix the name in --tables / the mapping file",
                        )
                    if self.config.replica_identity_full:
                        cur.execute(
                            sql.SQL("alter table {}.{} replica identity full").format(
                                sql.Identifier(mapped.schema), sql.Identifier(mapped.table)
                            )
                        )
                cur.execute(
                    "select plugin, confirmed_flush_lsn::text from pg_replication_slots where slot_name = %s",
                    [self.config.slot],
                )
                row = cur.fetchone()
                if row is None:
                    return None, None
                if row[0] != PLUGIN:
                    raise HealthwatchError(
                        f"slot {self.config.slot!r} decodes with {row[0]}, not {PLUGIN}",
                        "name another slot with --slot",
                    )
                return row[0], parse_lsn(row[1]) if row[1] else None
        finally:
            con.close()

    def _drop_slot(self) -> None:
        con = _connect(self.config.dsn)
        con.autocommit = True
        try:
            with con.cursor() as cur:
                cur.execute("select pg_drop_replication_slot(%s)", [self.config.slot])
        finally:
            con.close()

    def _create_slot(self, rep_cur: Any) -> int:
        """Create the slot; write the snapshot of the mapped tables; return the start position."""
        rep_cur.execute(f"CREATE_REPLICATION_SLOT {self.config.slot} LOGICAL {PLUGIN} EXPORT_SNAPSHOT")
        _, consistent, snapshot_name, _ = rep_cur.fetchone()
        start = parse_lsn(consistent)
        log.info("created slot %s at %s", self.config.slot, consistent)
        txn = Transaction(xid=None, commit_ts=datetime.now(UTC).replace(tzinfo=None), end_lsn=start)
        if self.config.snapshot:
            txn = self._read_snapshot(snapshot_name, start)
        while True:
            try:
                self._write([txn], start)
                return start
            except WarehouseBusy:
                log.info("warehouse busy (a run holds it); the snapshot waits")
                if self.stop.wait(1.0):
                    raise HealthwatchError(
                        "stopped before the first snapshot was written",
                        "run again with --create-slot: the slot is created anew",
                    ) from None

    def _read_snapshot(self, snapshot_name: str, lsn: int) -> Transaction:
        con = _connect(self.config.dsn)
        try:
            con.set_session(isolation_level="REPEATABLE READ", readonly=True)
            with con.cursor() as cur:
                cur.execute("set transaction snapshot %s", [snapshot_name])
                cur.execute("select now()")
                txn = Transaction(xid=None, commit_ts=_timestamp(cur.fetchone()[0].isoformat()), end_lsn=lsn)
                for mapped in self.config.tables:
                    query = sql.SQL("select * from {}.{} order by {}").format(
                        sql.Identifier(mapped.schema),
                        sql.Identifier(mapped.table),
                        sql.Identifier(mapped.key_source or ""),
                    )
                    cur.execute(query)
                    names = [d.name for d in cur.description]
                    for values in cur:
                        after = mapped.image(dict(zip(names, values, strict=True)))
                        txn.changes.append(
                            Change(
                                mapped.target.name,
                                mapped.target.system,
                                "r",
                                mapped.key(after),
                                None,
                                after,
                                lsn,
                            )
                        )
            con.rollback()
        finally:
            con.close()
        log.info("snapshot: %d rows of %d tables", len(txn.changes), len(self.config.tables))
        return txn

    # -- stream ---------------------------------------------------------------------------------

    def _write(self, transactions: list[Transaction], end_lsn: int) -> None:
        with open_warehouse(self.config.warehouse) as con:
            written = write_transactions(con, self.config.slot, transactions, end_lsn)
        for table, count in written.items():
            self.stats.rows[table] = self.stats.rows.get(table, 0) + count
        self.stats.transactions += len(transactions)
        if self.config.on_written is not None:
            self.config.on_written(transactions)
        if written:
            log.info(
                "wrote %s up to %s",
                ", ".join(f"{n} rows to {t}" for t, n in written.items()),
                lsn_text(end_lsn),
            )

    def _flush(self, cur: Any) -> None:
        """Write the committed transactions, then acknowledge their end to PostgreSQL."""
        if not self.completed or time.monotonic() < self._retry_at:
            return
        end = self.completed[-1].end_lsn
        if any(t.changes for t in self.completed):
            try:
                self._write(self.completed, end)
            except WarehouseBusy:
                log.info("warehouse busy (a run holds it); %d transactions wait", len(self.completed))
                self._retry_at = time.monotonic() + 1.0
                return
        self.completed = []
        self.acked = end
        self.stats.acknowledged = end
        cur.send_feedback(flush_lsn=end, force=True)

    def run(self) -> ReaderStats:
        """Set up, then stream until stopped; returns what was written."""
        plugin, _ = self._prepare_source()
        stored = self._warehouse_position()
        if plugin is not None and stored is None and self.config.create_slot:
            # A set-up that died before its snapshot reached the warehouse; nothing was acknowledged.
            log.info("slot %s has no position in the warehouse: creating it again", self.config.slot)
            self._drop_slot()
            plugin = None
        if plugin is None and not self.config.create_slot:
            raise HealthwatchError(
                f"replication slot {self.config.slot!r} does not exist", "run once with --create-slot"
            )
        rep = _connect(self.config.dsn, replication=True)
        try:
            cur = rep.cursor()
            if plugin is None:
                start = self._create_slot(cur)
            else:
                if stored is None:
                    log.warning(
                        "slot %s exists but this warehouse has none of its rows: no snapshot",
                        self.config.slot,
                    )
                start = stored or 0
            self.acked = start
            cur.start_replication(
                slot_name=self.config.slot, decode=True, start_lsn=start, options=self._wal2json_options()
            )
            log.info("streaming slot %s from %s", self.config.slot, lsn_text(start))
            self._stream(cur)
        finally:
            rep.close()
        return self.stats

    def _stream(self, cur: Any) -> None:
        first_done = 0.0
        pending_rows = 0
        last_feedback = time.monotonic()
        while not self.stop.is_set():
            msg = cur.read_message()
            if msg is not None:
                txn = self.decoder.feed(json.loads(msg.payload))
                if txn is not None:
                    if not self.completed:
                        first_done = time.monotonic()
                    self.completed.append(txn)
                    pending_rows += len(txn.changes)
                    if (
                        pending_rows >= self.config.max_batch_rows
                        or time.monotonic() - first_done >= self.config.max_batch_delay
                    ):
                        self._flush(cur)
                        pending_rows = 0 if not self.completed else pending_rows
                continue
            # The stream is quiet: write what has committed.
            self._flush(cur)
            pending_rows = 0 if not self.completed else pending_rows
            if time.monotonic() - last_feedback >= self.config.status_interval:
                cur.send_feedback(flush_lsn=self.acked)
                last_feedback = time.monotonic()
            select.select([cur], [], [], 0.2)
        self._retry_at = 0.0
        self._flush(cur)
        if self.completed:
            log.info(
                "stopping with %d transactions unwritten: they are replayed on restart", len(self.completed)
            )
        log.info("stopped at %s", lsn_text(self.acked))
