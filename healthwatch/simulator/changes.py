"""Change rows in the Debezium envelope, buffered for a few days and written to `cdc.*` in bulk.

Every change is recorded with the day it belongs to; on flush each system's rows get `seq` in
the order (day, source_ts, table, generation order). That order depends on nothing but the
rows, so flushing after every day or once at the end gives the same `seq`s, and a world
simulated in one go matches one simulated then streamed. The engine flushes only between days.

Product events are the bulk of the rows (over 95%): they are already in that order when they
arrive (a day's events sorted by time, numbered in that order), so their `seq`s are counted
in numpy and they go straight from Arrow into `cdc.product_changes`. The other systems' rows
are staged in a temporary table and numbered there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import numpy as np
import pyarrow as pa

from healthwatch.contract import SourceTable, source_table
from healthwatch.simulator.tables import NEVER, NEVER_SEC
from healthwatch.warehouse import SOURCE_SYSTEMS, change_table

Image = dict[str, np.ndarray]

# Within one second and system, parents come before children (a team before its accounts...).
_TABLE_ORDER = (
    "team accounts contracts contacts invoices crm_events tasks tickets events survey_sends nps_responses"
)
_RANK = {name: i for i, name in enumerate(_TABLE_ORDER.split())}
EVENT_NAMES = (
    "login",
    "session",
    "feature_used",
    "api_call",
    "help_doc_viewed",
    "invite_sent",
    "file_uploaded",
    "notification_clicked",
)
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S"
_EVENT_COLUMNS = ("day", "ts_sec", "account", "user", "name", "feature", "duration", "status", "latency")


@dataclass(frozen=True)
class _Batch:
    day: int
    op: str
    ts: np.ndarray
    after: Image | None
    before: Image | None

    def __len__(self) -> int:
        return len(self.ts)


class ChangeLog:
    """Collects a run's change rows and daily health, and writes them in chunks."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, start_date: date, next_seq: dict[str, int], features: list[str]
    ) -> None:
        self._con = con
        self._features = np.array(features, dtype=object)
        self._epoch_sec = (start_date - date(1970, 1, 1)).days * 86_400
        self._epoch_day = (start_date - date(1970, 1, 1)).days
        self._next_seq = dict(next_seq)
        self._batches: dict[str, list[_Batch]] = {}
        self._events: list[dict[str, np.ndarray]] = []
        self._health: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
        self._buffered = 0
        self.rows_written = {change_table(system): 0 for system in SOURCE_SYSTEMS}

    @property
    def buffered(self) -> int:
        """Change rows recorded and not yet written."""
        return self._buffered

    def add(
        self,
        table: str,
        op: str,
        ts_sec: np.ndarray | int,
        *,
        day: int,
        after: Image | None = None,
        before: Image | None = None,
    ) -> None:
        """Record changes of one op for rows of one table (images hold contract columns)."""
        image = after if after is not None else before
        if image is None:
            raise ValueError("a change needs an after or a before image")
        n = len(next(iter(image.values())))
        if n == 0:
            return
        ts = np.broadcast_to(np.asarray(ts_sec, dtype=np.int64), (n,)).copy()
        self._batches.setdefault(table, []).append(_Batch(day, op, ts, after, before))
        self._buffered += n

    def add_events(self, events: dict[str, np.ndarray]) -> None:
        """Product events of one day, as index columns (see `_EVENT_COLUMNS`), ordered by time."""
        if len(events["day"]):
            self._events.append(events)
            self._buffered += len(events["day"])

    def add_health(self, day: int, health: np.ndarray, churned: np.ndarray, archetype: np.ndarray) -> None:
        self._health.append((day, health.copy(), churned.copy(), archetype.copy()))

    def flush(self, account_ids: np.ndarray, contact_ids: np.ndarray) -> None:
        """Write everything buffered: change rows to `cdc.*`, health to `sim.account_health_daily`.

        Call it between days only, inside the caller's transaction; nothing is kept afterwards.
        """
        if self._batches:
            self._con.execute(
                """create or replace temp table _sim_pending (
                    system varchar, source_table varchar, op varchar, key varchar, before json, after json,
                    source_ts timestamp, day integer, rank integer, ord bigint)"""
            )
            pending = dict.fromkeys(SOURCE_SYSTEMS, 0)
            for table, batches in self._batches.items():
                contract = source_table(table)
                if contract.system == "product":  # its seqs are counted in `_write_events`
                    raise ValueError(f"{table} rows go through add_events")
                self._stage_table(contract, batches)
                pending[contract.system] += sum(len(b) for b in batches)
            for system, rows in pending.items():
                if rows:
                    self._write_system(system, rows)
            self._con.execute("drop table _sim_pending")
        if self._events:
            self._write_events(account_ids, contact_ids)
        self._batches, self._events, self._buffered = {}, [], 0
        self._write_health(account_ids)

    def _stage_table(self, table: SourceTable, batches: list[_Batch]) -> None:
        columns: dict[str, pa.Array] = {
            "_op": pa.array(
                np.concatenate([np.full(len(b), b.op, dtype=object) for b in batches]), pa.string()
            ),
            "_ts": self._timestamps(np.concatenate([b.ts for b in batches])),
            "_day": pa.array(np.concatenate([np.full(len(b), b.day, dtype=np.int32) for b in batches])),
            "_ord": pa.array(np.arange(sum(len(b) for b in batches), dtype=np.int64)),
        }
        for side in ("after", "before"):
            present = [getattr(b, side) is not None for b in batches]
            columns[f"_has_{side}"] = pa.array(np.repeat(present, [len(b) for b in batches]))
            for name, kind in table.columns.items():
                parts = [_image_column(getattr(b, side), name, kind, len(b)) for b in batches]
                columns[f"{side}_{name}"] = self._arrow(np.concatenate(parts), kind)
        staged = pa.table(columns)  # noqa: F841 - read by name in the query below
        key = table.key
        self._con.execute(
            f"""insert into _sim_pending
            select '{table.system}', '{table.name}', _op,
                   coalesce(cast(after_{key} as varchar), cast(before_{key} as varchar)),
                   case when _has_before then {_json_object(table, "before_")} end,
                   case when _has_after then {_json_object(table, "after_")} end,
                   _ts, _day, {_RANK[table.name]}, _ord
            from staged"""
        )

    def _write_events(self, account_ids: np.ndarray, contact_ids: np.ndarray) -> None:
        """Product events straight into `cdc.product_changes`: their order is already the `seq` order."""
        cols = {name: np.concatenate([e[name] for e in self._events]) for name in _EVENT_COLUMNS}
        n = len(cols["day"])
        day_start = np.concatenate([[0], np.flatnonzero(np.diff(cols["day"])) + 1])
        event_no = np.arange(n) - np.repeat(day_start, np.diff(np.append(day_start, n)))
        target = change_table("product")
        first_seq = self._next_seq[target]
        staged = pa.table(  # noqa: F841 - read by name in the query below
            {
                "seq": pa.array(np.arange(first_seq, first_seq + n, dtype=np.int64)),
                "event_no": pa.array(event_no.astype(np.int64)),
                "ts": self._timestamps(cols["ts_sec"]),
                "account": _dictionary(cols["account"], account_ids),
                "user_id": _dictionary(cols["user"], contact_ids),
                "event_name": _dictionary(cols["name"], np.array(EVENT_NAMES, dtype=object)),
                "feature": _dictionary(cols["feature"], self._features),
                "duration": pa.array(cols["duration"], mask=cols["duration"] < 0),
                "status": pa.array(cols["status"], mask=cols["status"] < 0),
                "latency": pa.array(cols["latency"], mask=cols["latency"] < 0),
            }
        )
        del cols
        # The event number zero-padded to 7 digits, as printf('%07d') would (lpad alone would cut it).
        number = "case when event_no < 9999999 then lpad((event_no + 1)::varchar, 7, '0') else (event_no + 1)::varchar end"
        self._con.execute(
            f"""insert into {target}
            with events as (
                select *, 'EVT-' || strftime(ts, '%Y%m%d') || '-' || {number} as event_id,
                       case event_name
                           when 'session' then json_object('duration_seconds', duration)
                           when 'feature_used' then json_object('feature', feature)
                           when 'api_call' then json_object('status', status, 'latency_ms', latency)
                           else json_object()
                       end as properties
                from staged
            )
            select seq, 'events', 'c', event_id, null,
                   to_json(struct_pack(event_id := event_id, account_id := account, user_id := user_id,
                                       event_name := event_name, ts := strftime(ts, '{_TS_FORMAT}'),
                                       properties := properties)),
                   ts, {_ingested_at("ts")}
            from events"""
        )
        self._next_seq[target] = first_seq + n
        self.rows_written[target] += n

    def _write_system(self, system: str, rows: int) -> None:
        """A system's staged rows (`rows` of them), numbered in (day, source_ts, table, generation) order."""
        offset = self._next_seq[change_table(system)]
        self._con.execute(
            f"""insert into {change_table(system)}
            select seq, source_table, op, key, before, after, source_ts, {_ingested_at("source_ts")}
            from (
                select {offset} - 1 + row_number() over (order by day, source_ts, rank, ord) as seq, *
                from _sim_pending where system = '{system}'
            )
            order by seq"""
        )
        self._next_seq[change_table(system)] = offset + rows
        self.rows_written[change_table(system)] += rows

    def _write_health(self, account_ids: np.ndarray) -> None:
        if not self._health:
            return
        n = len(account_ids)
        days = np.concatenate([np.full(n, day, dtype=np.int32) for day, *_ in self._health])
        staged = pa.table(  # noqa: F841 - read by name in the query below
            {
                "account_id": _dictionary(np.tile(np.arange(n), len(self._health)), account_ids),
                "day": pa.array(days + self._epoch_day, pa.int32()).cast(pa.date32()),
                "health": pa.array(np.concatenate([h[1] for h in self._health])),
                "archetype": pa.array(
                    np.concatenate([h[3] for h in self._health]), pa.string()
                ).dictionary_encode(),
                "is_churned": pa.array(np.concatenate([h[2] for h in self._health])),
            }
        )
        self._con.execute(
            """insert into sim.account_health_daily
            select account_id, day, round(health, 4), archetype, is_churned from staged"""
        )
        self._health = []

    def _timestamps(self, seconds: np.ndarray) -> pa.Array:
        return pa.array(seconds + self._epoch_sec, pa.int64(), mask=seconds >= NEVER_SEC).cast(
            pa.timestamp("s")
        )

    def _arrow(self, values: np.ndarray, kind: str) -> pa.Array:
        if kind == "timestamp":
            return self._timestamps(values.astype(np.int64))
        if kind == "date":
            days = values.astype(np.int64)
            return pa.array(days + self._epoch_day, pa.int32(), mask=days >= NEVER).cast(pa.date32())
        if kind == "double":
            return pa.array(values.astype(np.float64), mask=np.isnan(values.astype(np.float64)))
        if kind == "integer":
            return pa.array(values.astype(np.int64), mask=values.astype(np.int64) < 0)
        if kind == "boolean":
            return pa.array(values.astype(bool))
        return pa.array(values, pa.string())


def _ingested_at(source_ts: str) -> str:
    """CDC lag: a few seconds, sometimes minutes; derived from `seq` (a bigint) so that it is reproducible."""
    return (
        f"{source_ts} + to_seconds(cast(2 + floor(240 * pow((seq * 0.6180339887498949) % 1, 3)) as bigint))"
    )


def _image_column(image: Image | None, name: str, kind: str, n: int) -> np.ndarray:
    """One contract column of an image; a placeholder of the right type when there is no image."""
    if image is not None:
        return np.asarray(image[name])
    placeholders = {"double": np.nan, "boolean": False, "integer": -1, "timestamp": NEVER_SEC, "date": NEVER}
    if kind in placeholders:
        return np.full(n, placeholders[kind])
    return np.full(n, None, dtype=object)


def _json_object(table: SourceTable, prefix: str) -> str:
    """`to_json(struct_pack(...))` over exactly the contract's columns, in contract order."""
    fields = []
    for name, kind in table.columns.items():
        column = f"{prefix}{name}"
        if kind == "timestamp":
            expr = f"strftime({column}, '{_TS_FORMAT}')"
        elif kind == "date":
            expr = f"strftime({column}, '%Y-%m-%d')"
        else:
            expr = column
        fields.append(f'"{name}" := {expr}')
    return f"to_json(struct_pack({', '.join(fields)}))"


def _dictionary(indices: np.ndarray, values: np.ndarray) -> pa.DictionaryArray:
    """Strings as codes into `values`; negative codes are nulls."""
    codes = pa.array(indices.astype(np.int32), mask=indices < 0)
    return pa.DictionaryArray.from_arrays(codes, pa.array(values, pa.string()))
