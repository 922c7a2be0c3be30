"""Silences, as in Alertmanager: matchers, a start, an end and a reason, kept in `alerts.silences`.

A silence matches an alert when every matcher it sets matches (a matcher is a list of accepted
values for the account, the segment or the alert type; an empty one matches everything). While
active (starts_at <= now < ends_at) it holds matching alerts back as `suppressed`, with the silence
id recorded; expiring it ends it now. Times are the data clock's (naive UTC), so a replay decides
the same. The CLI (`healthwatch silence add | list | expire`) calls the three functions below.
"""

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerts.conditions import ALERT_TYPES
from alerts.types import SEGMENTS
from healthwatch.batches import data_clock
from healthwatch.errors import HealthwatchError
from healthwatch.warehouse import table_exists

SILENCES_TABLE = "alerts.silences"
SILENCES_DDL = f"""
create table if not exists {SILENCES_TABLE} (
    silence_id varchar primary key,   -- first 12 hex of sha256 over matchers, start, end and reason
    account_ids varchar[] not null,   -- matchers: an empty list matches every value
    segments varchar[] not null,
    alert_types varchar[] not null,
    starts_at timestamp not null,     -- naive UTC, data clock
    ends_at timestamp not null,
    reason varchar not null,
    created_by varchar,
    created_at timestamp not null,
    expired_at timestamp              -- set by `healthwatch silence expire`
)
"""
_COLUMNS = (
    "silence_id",
    "account_ids",
    "segments",
    "alert_types",
    "starts_at",
    "ends_at",
    "reason",
    "created_by",
    "created_at",
    "expired_at",
)
SilenceState = Literal["pending", "active", "expired"]


@dataclass(frozen=True)
class Silence:
    silence_id: str
    account_ids: tuple[str, ...]
    segments: tuple[str, ...]
    alert_types: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str | None = None
    created_at: datetime | None = None
    expired_at: datetime | None = None

    def matches(self, account_id: str, segment: str | None, alert_type: str) -> bool:
        """Every matcher the silence sets accepts the alert's value."""
        return (
            (not self.account_ids or account_id in self.account_ids)
            and (not self.segments or segment in self.segments)
            and (not self.alert_types or alert_type in self.alert_types)
        )

    def active_at(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def state(self, now: datetime) -> SilenceState:
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        out = asdict(self)
        if now is not None:
            out["state"] = self.state(now)
        return out


class SilenceSpec(BaseModel):
    """What `add_silence` accepts; errors name the argument and what is allowed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_ids: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    alert_types: tuple[str, ...] = ()
    starts_at: datetime
    ends_at: datetime
    reason: str = Field(min_length=3)
    created_by: str | None = None

    @field_validator("account_ids", "segments", "alert_types")
    @classmethod
    def _sorted_unique(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted({v.strip() for v in values if v and v.strip()}))

    @field_validator("segments")
    @classmethod
    def _known_segments(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in values if v not in SEGMENTS]
        if bad:
            raise ValueError(f"unknown segment {bad[0]!r}; use {', '.join(SEGMENTS)}")
        return values

    @field_validator("alert_types")
    @classmethod
    def _known_types(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in values if v not in ALERT_TYPES]
        if bad:
            raise ValueError(f"unknown alert type {bad[0]!r}; use {', '.join(ALERT_TYPES)}")
        return values

    @model_validator(mode="after")
    def _sensible(self) -> "SilenceSpec":
        if not (self.account_ids or self.segments or self.alert_types):
            raise ValueError(
                "give at least one matcher (account, segment or alert type): a silence of everything"
            )
        if self.ends_at <= self.starts_at:
            raise ValueError("the end must be after the start")
        return self


def silence_id(spec: SilenceSpec) -> str:
    """Deterministic: adding the same silence twice gives the same id (and one row)."""
    payload = json.dumps(
        {
            "account_ids": spec.account_ids,
            "segments": spec.segments,
            "alert_types": spec.alert_types,
            "starts_at": spec.starts_at.isoformat(),
            "ends_at": spec.ends_at.isoformat(),
            "reason": spec.reason,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]


def ensure_silences_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists alerts")
    con.execute(SILENCES_DDL)


def _naive(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo is not None else ts


def add_silence(
    con: duckdb.DuckDBPyConnection,
    *,
    reason: str,
    account_ids: tuple[str, ...] | list[str] = (),
    segments: tuple[str, ...] | list[str] = (),
    alert_types: tuple[str, ...] | list[str] = (),
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    duration: timedelta | None = None,
    created_by: str | None = None,
    clock: datetime | None = None,
) -> Silence:
    """Create a silence (from now by default, for `duration` or until `ends_at`) and return it.

    Adding the same silence again returns the stored one. The next alert run applies it.
    """
    now = _naive(clock) if clock is not None else data_clock(con)
    start = _naive(starts_at) if starts_at is not None else now
    if (ends_at is None) == (duration is None):
        raise HealthwatchError("give a silence either an end or a duration", "pass --end or --duration")
    end = _naive(ends_at) if ends_at is not None else start + duration  # type: ignore[operator]
    try:
        spec = SilenceSpec(
            account_ids=tuple(account_ids),
            segments=tuple(segments),
            alert_types=tuple(alert_types),
            starts_at=start,
            ends_at=end,
            reason=reason,
            created_by=created_by,
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'silence'}: {e['msg']}" for e in exc.errors()
        )
        raise HealthwatchError(f"invalid silence: {problems}", "fix the arguments and add it again") from None
    ensure_silences_table(con)
    sid = silence_id(spec)
    con.execute(
        f"""insert into {SILENCES_TABLE} ({", ".join(_COLUMNS)})
        select ?, ?, ?, ?, ?, ?, ?, ?, ?, null
        where not exists (select 1 from {SILENCES_TABLE} where silence_id = ?)""",
        [
            sid,
            list(spec.account_ids),
            list(spec.segments),
            list(spec.alert_types),
            spec.starts_at,
            spec.ends_at,
            spec.reason,
            spec.created_by,
            now,
            sid,
        ],
    )
    return _get(con, sid)


def list_silences(
    con: duckdb.DuckDBPyConnection, clock: datetime | None = None, include_expired: bool = False
) -> list[dict[str, Any]]:
    """Silences with their state at the clock (pending, active, expired), newest start first.

    Reads only: works on a read-only connection, and lists nothing when no silence was ever added.
    """
    if not table_exists(con, SILENCES_TABLE):
        return []
    now = _naive(clock) if clock is not None else data_clock(con)
    silences = _load(con)
    shown = [s for s in silences if include_expired or s.state(now) != "expired"]
    shown.sort(key=lambda s: (s.starts_at, s.silence_id), reverse=True)
    return [s.to_dict(now) for s in shown]


def expire_silence(
    con: duckdb.DuckDBPyConnection, silence_id_value: str, clock: datetime | None = None
) -> Silence:
    """End a silence now (its end moves to the clock if later); expiring twice changes nothing."""
    now = _naive(clock) if clock is not None else data_clock(con)
    if not table_exists(con, SILENCES_TABLE) or not _exists(con, silence_id_value):
        raise HealthwatchError(
            f"no silence {silence_id_value!r}", "list them with `healthwatch silence list --all`"
        )
    con.execute(
        f"""update {SILENCES_TABLE}
        set ends_at = least(ends_at, greatest(starts_at, ?)), expired_at = ?
        where silence_id = ? and expired_at is null""",
        [now, now, silence_id_value],
    )
    return _get(con, silence_id_value)


def active_silences(con: duckdb.DuckDBPyConnection, now: datetime) -> list[Silence]:
    """Silences active at `now`, oldest first (the first match is the one recorded)."""
    if not table_exists(con, SILENCES_TABLE):
        return []
    active = [s for s in _load(con) if s.active_at(now)]
    return sorted(active, key=lambda s: (s.starts_at, s.silence_id))


def first_match(
    silences: list[Silence], account_id: str, segment: str | None, alert_type: str, now: datetime
) -> Silence | None:
    for silence in silences:
        if silence.active_at(now) and silence.matches(account_id, segment, alert_type):
            return silence
    return None


def _exists(con: duckdb.DuckDBPyConnection, sid: str) -> bool:
    return bool(
        con.execute(f"select count(*) from {SILENCES_TABLE} where silence_id = ?", [sid]).fetchone()[0]
    )


def _load(con: duckdb.DuckDBPyConnection, where: str = "true", params: list | None = None) -> list[Silence]:
    rows = con.execute(
        f"select {', '.join(_COLUMNS)} from {SILENCES_TABLE} where {where}", params or []
    ).fetchall()
    out = []
    for row in rows:
        values = dict(zip(_COLUMNS, row, strict=True))
        for key in ("account_ids", "segments", "alert_types"):
            values[key] = tuple(values[key] or ())
        out.append(Silence(**values))
    return out


def _get(con: duckdb.DuckDBPyConnection, sid: str) -> Silence:
    return _load(con, "silence_id = ?", [sid])[0]
