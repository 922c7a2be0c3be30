"""`alerts.email_outbox`: every message is recorded here before anything is sent.

A message's id is derived from who gets it, what kind it is and which period (or alert) it
covers, so enqueueing the same message again is a no-op and one already sent is never queued
twice. Rows are inserted in one transaction, committed, and only then handed to a transport:
files under `outbox_dir` when there is no SendGrid key (local runs, tests), SendGrid's own client
otherwise, and a Slack incoming webhook for rows of channel `slack`.

Retries follow `delivery.retry`: a retryable failure (429, 5xx, network) leaves the row pending
with a `next_attempt_at`, so a later run retries it instead of one run looping; a 4xx fails it at
once with the reason; too many failures fail it with the last reason. Nothing is deleted: a
failed row keeps its bodies and can be queued again with `requeue_failed`.

SendGrid has no idempotency key, so a row is claimed (`status = 'sending'`, attempts + 1,
`claimed_at`) and committed before the request, and settled after it. A crash in between leaves
it in `sending`. The next run, once the claim is older than `stale_after`, reconciles it: a
transport that can look the message up at the provider says whether it arrived; otherwise it is
sent again once, with `possible_duplicate = true` recorded, and a row whose outcome is unknown a
second time is failed rather than sent a third time. So a crash costs at most one duplicate, and
the row says so. The mail id travels in SendGrid's `custom_args`, so the event webhook or the
activity feed can tie a delivered copy back to its row.
"""

import hashlib
import http.client
import logging
import os
import time
import urllib.error
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

import duckdb
import pyarrow as pa

from delivery.http_json import MAX_ERROR_CHARS, redact
from delivery.retry import DEFAULT_POLICY, Decision, RetryPolicy, classify, provider_wait_seconds
from healthwatch.config import Settings
from healthwatch.failpoints import hit

log = logging.getLogger(__name__)

OUTBOX_TABLE = "alerts.email_outbox"
OUTBOX_DDL = f"""
create table if not exists {OUTBOX_TABLE} (
    mail_id varchar primary key,          -- sha256(recipient_id|kind|period)[:20]
    kind varchar not null,                -- daily_digest | weekly_digest | critical_alert
    recipient_id varchar not null,        -- team member id; 'slack' for the Slack channel
    recipient_email varchar not null,     -- '' for Slack
    period varchar not null,              -- '2026-02-27' (daily), '2026-W09' (weekly), the alert key (critical)
    subject varchar not null,
    html_body varchar not null,
    text_body varchar not null,
    status varchar not null,              -- pending | sending | sent | failed | rendered
    attempts integer not null default 0,  -- provider send attempts
    provider_message_id varchar,          -- SendGrid's X-Message-Id
    last_error varchar,                   -- the provider's reason, secrets redacted
    rendered_path varchar,                -- the .html file when rendered without an API key
    created_at timestamp not null,
    updated_at timestamp not null,
    sent_at timestamp
)
"""
# Added after the first release: `ensure_outbox` adds them to an existing table.
OUTBOX_MIGRATIONS: tuple[tuple[str, str], ...] = (
    ("channel", "varchar default 'email'"),  # email | slack
    ("payload", "varchar"),  # slack: the Block Kit JSON posted to the webhook
    ("throttled", "integer default 0"),  # attempts answered 429: not counted against max_attempts
    ("next_attempt_at", "timestamp"),  # a pending row is not tried before this (back-off, rate limit)
    ("claimed_at", "timestamp"),  # when the current or last send started
    ("possible_duplicate", "boolean default false"),  # re-sent after an unknown outcome
    ("reconciled_at", "timestamp"),
    ("reconciliation", "varchar"),  # what reconciliation decided, in words
)

DEFAULT_SENDER = "healthwatch@example.com"
DEFAULT_TIMEOUT_SECONDS = 30.0
# A claim older than this is a crashed run, not one in progress: far above the HTTP timeout, and
# DuckDB admits one writing process, so no other run can be sending the row meanwhile.
DEFAULT_STALE_AFTER = timedelta(minutes=10)
# Critical alerts leave first; within a kind, oldest first.
_KIND_ORDER = "case kind when 'critical_alert' then 0 when 'daily_digest' then 1 else 2 end"

Status = Literal["pending", "sending", "sent", "failed", "rendered"]


def utcnow() -> datetime:
    """Wall-clock now as naive UTC, like every timestamp in the warehouse."""
    return datetime.now(UTC).replace(tzinfo=None)


def mail_id(recipient_id: str, kind: str, period: str) -> str:
    """Deterministic id: the first 20 hex digits of sha256(`recipient_id|kind|period`)."""
    return hashlib.sha256(f"{recipient_id}|{kind}|{period}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Mail:
    """A rendered message, ready to be enqueued. `period` is the alert key for per-alert kinds."""

    kind: str
    recipient_id: str
    recipient_email: str
    period: str
    subject: str
    html_body: str
    text_body: str
    channel: str = "email"
    payload: str | None = None

    @property
    def mail_id(self) -> str:
        return mail_id(self.recipient_id, self.kind, self.period)


@dataclass(frozen=True)
class OutboxRow:
    mail_id: str
    kind: str
    recipient_id: str
    recipient_email: str
    period: str
    subject: str
    html_body: str
    text_body: str
    attempts: int
    channel: str = "email"
    payload: str | None = None
    throttled: int = 0
    possible_duplicate: bool = False


@dataclass(frozen=True)
class Outcome:
    """What a transport did with one message.

    `pending` means "try again later"; `retry_after` is the wait the provider asked for,
    `rate_limited` marks a 429, and `maybe_delivered` an answer lost after the request left.
    """

    status: Status
    provider_message_id: str | None = None
    error: str | None = None
    rendered_path: str | None = None
    retry_after: float | None = None
    rate_limited: bool = False
    maybe_delivered: bool = False


@dataclass(frozen=True)
class Lookup:
    """A provider's answer to "did this message arrive?" (see `Transport.lookup`)."""

    delivered: bool
    provider_message_id: str | None = None


@dataclass(frozen=True)
class DeliverySummary:
    attempted: int = 0
    sent: int = 0
    rendered: int = 0
    deferred: int = 0  # still pending after a retryable error (network, 429, 5xx): a later run retries
    failed: int = 0
    reconciled: int = 0  # rows found in `sending` from an interrupted run and resolved
    possible_duplicates: int = 0  # of those, re-sent although the first send may have arrived
    waiting: int = 0  # due rows not tried because the provider is rate limiting us

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    def __add__(self, other: "DeliverySummary") -> "DeliverySummary":
        return DeliverySummary(**{k: v + getattr(other, k) for k, v in asdict(self).items()})


def ensure_outbox(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists alerts")
    con.execute(OUTBOX_DDL)
    for column, sql_type in OUTBOX_MIGRATIONS:
        con.execute(f"alter table {OUTBOX_TABLE} add column if not exists {column} {sql_type}")


def queued_mail_ids(con: duckdb.DuckDBPyConnection, mail_ids: Iterable[str]) -> set[str]:
    """Which of these mail ids are in the outbox already (in any state)."""
    ensure_outbox(con)
    return _queued(con, mail_ids)


def _queued(con: duckdb.DuckDBPyConnection, mail_ids: Iterable[str]) -> set[str]:
    return {
        row[0]
        for row in con.execute(
            f"select mail_id from {OUTBOX_TABLE} where mail_id in (select unnest($ids))",
            {"ids": list(mail_ids)},
        ).fetchall()
    }


# What a new row takes from its Mail (`mail_id` is the Mail's derived id); the rest are defaults.
_NEW_MAIL_COLUMNS = (
    "mail_id", "channel", "kind", "recipient_id", "recipient_email", "period", "subject", "html_body",
    "text_body", "payload",
)  # fmt: skip
_NEW_MAIL_SCHEMA = pa.schema([(name, pa.string()) for name in _NEW_MAIL_COLUMNS])


def enqueue(con: duckdb.DuckDBPyConnection, mails: Iterable[Mail], now: datetime | None = None) -> int:
    """Insert the messages whose id is not in the outbox yet, in one transaction; return how many.

    Whatever state an existing row is in (pending, sent, failed, rendered), it is left alone.
    """
    ensure_outbox(con)
    unique: dict[str, Mail] = {}
    for mail in mails:
        unique.setdefault(mail.mail_id, mail)
    if not unique:
        return 0
    now = now or utcnow()
    con.execute("begin transaction")
    try:
        existing = _queued(con, unique)
        rows = [
            {name: getattr(m, name) for name in _NEW_MAIL_COLUMNS}
            for mid, m in unique.items()
            if mid not in existing
        ]
        if rows:
            # one Arrow table: executemany took ~1.2 ms a row
            con.register("_hw_new_mails", pa.Table.from_pylist(rows, _NEW_MAIL_SCHEMA))
            try:
                con.execute(
                    f"""
                    insert into {OUTBOX_TABLE} (
                        {", ".join(_NEW_MAIL_COLUMNS)},
                        status, attempts, throttled, possible_duplicate, created_at, updated_at
                    )
                    select *, 'pending', 0, 0, false, $now, $now from _hw_new_mails
                    """,
                    {"now": now},
                )
            finally:
                con.unregister("_hw_new_mails")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    log.info("outbox: %d message(s) enqueued, %d already there", len(rows), len(existing))
    return len(rows)


def requeue_failed(
    con: duckdb.DuckDBPyConnection, mail_ids: Iterable[str] | None = None, now: datetime | None = None
) -> int:
    """Put failed rows (all, or these ids) back to pending with a fresh attempt budget; return how many.

    The last error stays on the row until the next attempt replaces it.
    """
    ensure_outbox(con)
    where = "status = 'failed'"
    params: dict[str, Any] = {"now": now or utcnow()}
    if mail_ids is not None:
        where += " and mail_id in (select unnest($ids))"
        params["ids"] = list(mail_ids)
    rows = con.execute(
        f"""
        update {OUTBOX_TABLE}
        set status = 'pending', attempts = 0, throttled = 0, next_attempt_at = null, updated_at = $now
        where {where}
        returning mail_id
        """,
        params,
    ).fetchall()
    return len(rows)


def outbox_stats(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Rows in the outbox, by status and by kind (and channel): what a materialization reports."""
    ensure_outbox(con)
    by_status = dict(
        con.execute(f"select status, count(*) from {OUTBOX_TABLE} group by 1 order by 1").fetchall()
    )
    by_kind: dict[str, dict[str, int]] = {}
    for kind, channel, status, count in con.execute(
        f"""
        select kind, coalesce(channel, 'email'), status, count(*)
        from {OUTBOX_TABLE} group by all order by all
        """
    ).fetchall():
        name = kind if channel == "email" else f"{kind} ({channel})"
        by_kind.setdefault(name, {})[status] = int(count)
    return {"rows": int(sum(by_status.values())), "by_status": by_status, "by_kind": by_kind}


# --- transports -------------------------------------------------------------------------------


class Transport(Protocol):
    """Delivers one outbox row. Optionally `lookup(row) -> Lookup | None` asks the provider whether
    a message from an interrupted run arrived (None: it cannot tell)."""

    # Whether a row is claimed (status 'sending', attempts + 1) before `send`: true for anything
    # that leaves the machine, where a crash must not lead to an unbounded number of sends.
    claims: bool
    # The outbox rows it delivers (`email` or `slack`).
    channel: str

    def send(self, mail: OutboxRow) -> Outcome: ...


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class FileTransport:
    """No API key: write `<mail_id>.html` and `<mail_id>.txt` and mark the mail rendered."""

    claims = False
    channel = "email"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, mail: OutboxRow) -> Outcome:
        self.directory.mkdir(parents=True, exist_ok=True)
        html_path = self.directory / f"{mail.mail_id}.html"
        _write_atomically(html_path, mail.html_body)
        _write_atomically(self.directory / f"{mail.mail_id}.txt", mail.text_body)
        return Outcome(status="rendered", rendered_path=str(html_path))


def is_retryable_status(status_code: int) -> bool:
    """429 and 5xx may succeed later; any other 4xx will not."""
    return classify(status_code) == "retry"


class _RedactBearer(logging.Filter):
    """python_http_client logs request headers (with the Authorization header) at debug level."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def _guard_http_client_log() -> None:
    logger = logging.getLogger("python_http_client.client")
    if not any(isinstance(f, _RedactBearer) for f in logger.filters):
        logger.addFilter(_RedactBearer())


# Called after the provider answered and before the outcome is recorded: tests use it to crash there.
AfterSend = Callable[[OutboxRow, Outcome], None]


class SendGridTransport:
    """Send through SendGrid's own client (`POST /v3/mail/send`).

    202 → sent with `X-Message-Id`; 429 → pending until `X-RateLimit-Reset`; 5xx and network
    errors → pending with back-off; any other 4xx → failed with SendGrid's reason.
    """

    claims = True
    channel = "email"

    def __init__(
        self,
        api_key: str,
        host: str | None = None,
        sender: str = DEFAULT_SENDER,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        *,
        after_send: AfterSend | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        import sendgrid

        _guard_http_client_log()
        self._api_key = api_key
        self.sender = sender
        self._after_send = after_send
        self._clock = clock
        client_args: dict[str, Any] = {"api_key": api_key}
        if host:
            client_args["host"] = host.rstrip("/")
        self._client = sendgrid.SendGridAPIClient(**client_args)
        # The client takes no timeout argument; its HTTP client copies this one to every request.
        self._client.client.timeout = timeout

    def __repr__(self) -> str:
        return f"SendGridTransport(host={self._client.host!r}, sender={self.sender!r})"

    def _message(self, mail: OutboxRow) -> Any:
        from sendgrid.helpers.mail import Category, CustomArg
        from sendgrid.helpers.mail import Mail as SendGridMail

        message = SendGridMail(
            from_email=self.sender,
            to_emails=mail.recipient_email,
            subject=mail.subject,
            plain_text_content=mail.text_body,
            html_content=mail.html_body,
        )
        # Comes back in SendGrid's event webhook and activity feed: a delivered copy is matched to its row.
        message.custom_arg = [CustomArg("mail_id", mail.mail_id), CustomArg("kind", mail.kind)]
        message.category = [Category("healthwatch"), Category(mail.kind)]
        return message

    def _error(self, text: str) -> str:
        return redact(text, self._api_key)[:MAX_ERROR_CHARS]

    def _call(self, mail: OutboxRow) -> Outcome:
        from python_http_client.exceptions import HTTPError

        try:
            response = self._client.send(self._message(mail))
        except HTTPError as exc:
            body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else str(exc.body)
            status_code = int(exc.status_code)
            error = self._error(f"HTTP {status_code} {exc.reason}: {body.strip()}")
            if classify(status_code) == "fail":
                return Outcome(status="failed", error=error)
            headers = dict(exc.headers.items()) if exc.headers is not None else {}
            return Outcome(
                status="pending",
                error=error,
                retry_after=provider_wait_seconds(headers, self._clock()),
                rate_limited=status_code == 429,
            )
        except urllib.error.URLError as exc:
            # urllib wraps failures while connecting and sending: the request did not arrive whole.
            return Outcome(status="pending", error=self._error(f"network error: {exc.reason!r}"))
        except (OSError, http.client.HTTPException) as exc:
            # The answer was lost after the request left: SendGrid may have accepted it.
            return Outcome(
                status="pending",
                error=self._error(f"network error after sending: {exc!r}"),
                maybe_delivered=True,
            )
        except Exception as exc:
            # Unknown state: do not retry on our own, a person looks at `failed` rows.
            return Outcome(status="failed", error=self._error(f"{type(exc).__name__}: {exc}"))
        headers = response.headers
        message_id = headers.get("X-Message-Id") if headers is not None else None
        return Outcome(status="sent", provider_message_id=message_id)

    def send(self, mail: OutboxRow) -> Outcome:
        outcome = self._call(mail)
        if self._after_send is not None:
            self._after_send(mail, outcome)
        return outcome


# --- delivery ---------------------------------------------------------------------------------

_ROW_COLUMNS = (
    "mail_id",
    "kind",
    "recipient_id",
    "recipient_email",
    "period",
    "subject",
    "html_body",
    "text_body",
    "attempts",
    "channel",
    "payload",
    "throttled",
    "possible_duplicate",
)


def _rows(con: duckdb.DuckDBPyConnection, where: str, params: dict[str, Any], limit: int | None = None):
    sql = f"""
        select {", ".join(_ROW_COLUMNS)}
        from {OUTBOX_TABLE}
        where {where}
        order by {_KIND_ORDER}, created_at, mail_id
    """
    if limit is not None:
        sql += f" limit {int(limit)}"
    rows = []
    for values in con.execute(sql, params).fetchall():
        row = dict(zip(_ROW_COLUMNS, values, strict=True))
        row["channel"] = row["channel"] or "email"
        row["throttled"] = row["throttled"] or 0
        row["possible_duplicate"] = bool(row["possible_duplicate"])
        rows.append(OutboxRow(**row))
    return rows


def _due(con: duckdb.DuckDBPyConnection, channel: str, now: datetime, limit: int | None) -> list[OutboxRow]:
    return _rows(
        con,
        "status = 'pending' and coalesce(channel, 'email') = $channel "
        "and (next_attempt_at is null or next_attempt_at <= $now)",
        {"channel": channel, "now": now},
        limit,
    )


def _claim(con: duckdb.DuckDBPyConnection, mail: OutboxRow, now: datetime) -> bool:
    row = con.execute(
        f"""
        update {OUTBOX_TABLE}
        set status = 'sending', attempts = attempts + 1, claimed_at = ?, updated_at = ?
        where mail_id = ? and status = 'pending'
        returning mail_id
        """,
        [now, now, mail.mail_id],
    ).fetchone()
    return row is not None


@dataclass(frozen=True)
class _Settlement:
    """The record of one attempt: the row's new state (None keeps the column's value)."""

    mail_id: str
    status: Status
    now: datetime
    provider_message_id: str | None = None
    error: str | None = None
    rendered_path: str | None = None
    throttled: int = 0
    next_attempt_at: datetime | None = None
    possible_duplicate: bool | None = None
    reconciliation: str | None = None


_SETTLEMENT_SCHEMA = pa.schema(
    [
        ("mail_id", pa.string()),
        ("status", pa.string()),
        ("now", pa.timestamp("us")),
        ("provider_message_id", pa.string()),
        ("error", pa.string()),
        ("rendered_path", pa.string()),
        ("throttled", pa.int32()),
        ("next_attempt_at", pa.timestamp("us")),
        ("possible_duplicate", pa.bool_()),
        ("reconciliation", pa.string()),
    ]
)


def _record(con: duckdb.DuckDBPyConnection, settlements: list[_Settlement]) -> None:
    """Write settlements in one statement (an update per mail cost ~2.7 ms, most of a rendered mail)."""
    if not settlements:
        return
    con.register(
        "_hw_settlements", pa.Table.from_pylist([asdict(s) for s in settlements], _SETTLEMENT_SCHEMA)
    )
    try:
        con.execute(
            f"""
            update {OUTBOX_TABLE} as o
            set status = s.status,
                provider_message_id = coalesce(s.provider_message_id, o.provider_message_id),
                last_error = s.error,
                rendered_path = coalesce(s.rendered_path, o.rendered_path),
                throttled = coalesce(o.throttled, 0) + s.throttled,
                next_attempt_at = s.next_attempt_at,
                possible_duplicate = coalesce(s.possible_duplicate, o.possible_duplicate),
                reconciled_at = case when s.reconciliation is null then o.reconciled_at else s.now end,
                reconciliation = coalesce(s.reconciliation, o.reconciliation),
                updated_at = s.now,
                sent_at = case when s.status = 'sent' then s.now else o.sent_at end
            from _hw_settlements as s
            where o.mail_id = s.mail_id
            """
        )
    finally:
        con.unregister("_hw_settlements")


def _settlement(
    mail: OutboxRow,
    status: Status,
    now: datetime,
    *,
    outcome: Outcome | None = None,
    next_attempt_at: datetime | None = None,
    error: str | None = None,
    possible_duplicate: bool | None = None,
    reconciliation: str | None = None,
) -> _Settlement:
    outcome = outcome or Outcome(status=status)
    return _Settlement(
        mail_id=mail.mail_id,
        status=status,
        now=now,
        provider_message_id=outcome.provider_message_id,
        error=error,
        rendered_path=outcome.rendered_path,
        throttled=int(outcome.rate_limited),
        next_attempt_at=next_attempt_at,
        possible_duplicate=possible_duplicate,
        reconciliation=reconciliation,
    )


def _reconcile(
    con: duckdb.DuckDBPyConnection,
    transport: Transport,
    channel: str,
    now: datetime,
    stale_after: timedelta,
) -> DeliverySummary:
    """Resolve rows a crashed run left in `sending` (see the module docstring)."""
    stale = _rows(
        con,
        "status = 'sending' and coalesce(channel, 'email') = $channel "
        "and coalesce(claimed_at, updated_at) <= $cutoff",
        {"channel": channel, "cutoff": now - stale_after},
    )
    lookup = getattr(transport, "lookup", None)
    reconciled = duplicates = failed = 0
    settlements: list[_Settlement] = []  # nothing is sent here, so recording them together is safe
    for mail in stale:
        found: Lookup | None = lookup(mail) if lookup is not None else None
        reconciled += 1
        if found is not None and found.delivered:
            settlements.append(
                _settlement(
                    mail,
                    "sent",
                    now,
                    outcome=Outcome(status="sent", provider_message_id=found.provider_message_id),
                    reconciliation="interrupted send found at the provider: recorded as sent",
                )
            )
        elif found is not None:
            settlements.append(
                _settlement(
                    mail, "pending", now, reconciliation="interrupted send not at the provider: sent again"
                )
            )
        elif mail.possible_duplicate:
            failed += 1
            settlements.append(
                _settlement(
                    mail,
                    "failed",
                    now,
                    error=(
                        "interrupted while sending a second time: not sent again so that the recipient "
                        f"gets it at most twice; look for custom_args.mail_id = {mail.mail_id} at the provider"
                    ),
                    reconciliation="outcome unknown twice: failed instead of a third send",
                )
            )
        else:
            duplicates += 1
            settlements.append(
                _settlement(
                    mail,
                    "pending",
                    now,
                    possible_duplicate=True,
                    reconciliation="interrupted while sending: sent again once; the recipient may get it twice",
                )
            )
        log.warning("outbox: reconciled interrupted send of %s (%s)", mail.mail_id, mail.kind)
    _record(con, settlements)
    return DeliverySummary(reconciled=reconciled, possible_duplicates=duplicates, failed=failed)


def _decide(policy: RetryPolicy, mail: OutboxRow, outcome: Outcome, now: datetime) -> Decision:
    """Turn a `pending` outcome into back-off, a rate-limit wait, or failure."""
    error = outcome.error or "retryable error"
    if outcome.maybe_delivered:
        if mail.possible_duplicate:
            return Decision(
                status="failed",
                error=f"{error}; outcome unknown a second time: not sent again (at most one duplicate)",
            )
        # Like an interrupted send: one more send, recorded as a possible duplicate.
        return replace(
            policy.after_failure(failures=mail.attempts + 1 - mail.throttled, error=error, now=now),
            error=f"{error}; it may have arrived: the next send may be a duplicate",
        )
    throttled = mail.throttled + int(outcome.rate_limited)
    return policy.after_failure(
        failures=mail.attempts + 1 - throttled,
        error=error,
        now=now,
        provider_wait=outcome.retry_after,
        rate_limited=outcome.rate_limited,
    )


def deliver(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    api_key: str | None = None,
    host: str | None = None,
    *,
    sender: str = DEFAULT_SENDER,
    limit: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    clock: Callable[[], datetime] = utcnow,
    policy: RetryPolicy = DEFAULT_POLICY,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliverySummary:
    """Deliver the due mails: rendered to `settings.outbox_dir` without an API key, sent with one.

    The caller reads the key (SENDGRID_API_KEY) and host (HEALTHWATCH_SENDGRID_HOST); nothing
    here reads the environment, and the key is never written to the table, a file or a log.
    """
    ensure_outbox(con)
    transport: Transport = (
        SendGridTransport(api_key, host, sender=sender, timeout=timeout, clock=clock)
        if api_key
        else FileTransport(settings.outbox_dir)
    )
    return deliver_with(con, transport, limit=limit, clock=clock, policy=policy, sleep=sleep)


def deliver_with(
    con: duckdb.DuckDBPyConnection,
    transport: Transport,
    *,
    limit: int | None = None,
    clock: Callable[[], datetime] = utcnow,
    policy: RetryPolicy = DEFAULT_POLICY,
    sleep: Callable[[float], None] = time.sleep,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
) -> DeliverySummary:
    """Hand each due row of the transport's channel to `transport` and record the outcome.

    Rows an interrupted run left in `sending` are reconciled first. A wait the provider asked for
    of at most `policy.max_inline_wait_seconds` is slept here (a few times at most); a longer one
    ends the run's sending on this channel, leaving the rest due for a later run.
    """
    ensure_outbox(con)
    channel = getattr(transport, "channel", "email")
    summary = DeliverySummary()
    if transport.claims:
        summary += _reconcile(con, transport, channel, clock(), stale_after)
    counts = {"attempted": 0, "sent": 0, "rendered": 0, "deferred": 0, "failed": 0, "waiting": 0}
    due = _due(con, channel, clock(), limit)
    hold_until: datetime | None = None  # the provider is rate limiting every message until then
    # A transport that claims nothing (files) has its final outcomes written together at the end:
    # a crash before that only renders the same files again, and an update per mail was most of
    # a rendered mail's cost (~2.7 ms of ~3.3 ms).
    unrecorded: list[_Settlement] = []
    try:
        for index, row in enumerate(due):
            if hold_until is not None:
                wait = (hold_until - clock()).total_seconds()
                if wait > policy.max_inline_wait_seconds:
                    counts["waiting"] = len(due) - index
                    log.info(
                        "outbox: rate limited for %.0f s; %d message(s) wait for a later run",
                        wait,
                        len(due) - index,
                    )
                    break
                if wait > 0:
                    sleep(wait)
                hold_until = None
            mail = row
            inline_retries = 0
            while True:
                if transport.claims and not _claim(con, mail, clock()):
                    break
                counts["attempted"] += 1
                outcome = transport.send(mail)
                hit("before_outbox_record")  # fault-injection: die between the send and its record
                now = clock()
                if outcome.status != "pending":
                    done = _settlement(mail, outcome.status, now, outcome=outcome, error=outcome.error)
                    if transport.claims:
                        _record(con, [done])
                    else:
                        unrecorded.append(done)
                    counts[outcome.status] += 1
                    if outcome.error:
                        log.warning("outbox: %s %s: %s", mail.mail_id, outcome.status, outcome.error)
                    break
                decision = _decide(policy, mail, outcome, now)
                status: Status = "failed" if decision.status == "failed" else "pending"
                retry = _settlement(
                    mail,
                    status,
                    now,
                    outcome=outcome,
                    next_attempt_at=decision.next_attempt_at,
                    error=decision.error,
                    possible_duplicate=True if outcome.maybe_delivered and status == "pending" else None,
                )
                _record(con, [retry])
                log.warning("outbox: %s %s: %s", mail.mail_id, status, decision.error)
                mail = replace(
                    mail,
                    attempts=mail.attempts + int(transport.claims),
                    throttled=mail.throttled + int(outcome.rate_limited),
                    possible_duplicate=mail.possible_duplicate or outcome.maybe_delivered,
                )
                if (
                    status == "pending"
                    and policy.can_wait_inline(decision)
                    and inline_retries < policy.max_inline_retries
                ):
                    inline_retries += 1
                    if decision.wait_seconds > 0:
                        sleep(decision.wait_seconds)
                    continue
                counts["failed" if status == "failed" else "deferred"] += 1
                if outcome.rate_limited and decision.next_attempt_at is not None:
                    hold_until = decision.next_attempt_at
                break
    finally:
        _record(con, unrecorded)
    summary += DeliverySummary(**counts)
    log.info("outbox (%s): %s", channel, summary)
    return summary
