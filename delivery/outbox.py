"""`alerts.email_outbox`: every mail is recorded here before anything is sent.

A mail's id is derived from who gets it, what kind it is and which period (or alert) it covers,
so enqueueing the same mail again is a no-op and a mail already sent is never queued twice.
`deliver` hands pending mails to a transport: files under `outbox_dir` when there is no API key
(local runs, tests), SendGrid's own client otherwise.

SendGrid has no idempotency key, so a mail is claimed (`status = 'sending'`, attempts + 1) before
the request and settled after it: a crash in between leaves the row in `sending`, visible and
never sent again automatically, rather than sending twice.
"""

import hashlib
import http.client
import logging
import os
import re
import urllib.error
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import duckdb

from healthwatch.config import Settings

log = logging.getLogger(__name__)

OUTBOX_TABLE = "alerts.email_outbox"
OUTBOX_DDL = f"""
create table if not exists {OUTBOX_TABLE} (
    mail_id varchar primary key,          -- sha256(recipient_id|kind|period)[:20]
    kind varchar not null,                -- daily_digest (later weekly_digest, critical_alert)
    recipient_id varchar not null,
    recipient_email varchar not null,
    period varchar not null,              -- '2026-02-27' for digests; the alert id for per-alert mails
    subject varchar not null,
    html_body varchar not null,
    text_body varchar not null,
    status varchar not null,              -- pending | sending | sent | failed | rendered
    attempts integer not null default 0,  -- provider send attempts
    provider_message_id varchar,          -- SendGrid's X-Message-Id
    last_error varchar,
    rendered_path varchar,                -- the .html file when rendered without an API key
    created_at timestamp not null,
    updated_at timestamp not null,
    sent_at timestamp
)
"""

DEFAULT_SENDER = "healthwatch@example.com"
DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_ERROR_CHARS = 500

Status = Literal["pending", "sending", "sent", "failed", "rendered"]


def utcnow() -> datetime:
    """Wall-clock now as naive UTC, like every timestamp in the warehouse."""
    return datetime.now(UTC).replace(tzinfo=None)


def mail_id(recipient_id: str, kind: str, period: str) -> str:
    """Deterministic id: the first 20 hex digits of sha256(`recipient_id|kind|period`)."""
    return hashlib.sha256(f"{recipient_id}|{kind}|{period}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Mail:
    """A rendered mail, ready to be enqueued. `period` is the alert id for per-alert kinds."""

    kind: str
    recipient_id: str
    recipient_email: str
    period: str
    subject: str
    html_body: str
    text_body: str

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


@dataclass(frozen=True)
class Outcome:
    """What a transport did with one mail."""

    status: Status
    provider_message_id: str | None = None
    error: str | None = None
    rendered_path: str | None = None


@dataclass(frozen=True)
class DeliverySummary:
    attempted: int = 0
    sent: int = 0
    rendered: int = 0
    deferred: int = 0  # still pending: a retryable error (network, 429, 5xx)
    failed: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def ensure_outbox(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists alerts")
    con.execute(OUTBOX_DDL)


def enqueue(con: duckdb.DuckDBPyConnection, mails: Iterable[Mail], now: datetime | None = None) -> int:
    """Insert the mails whose id is not in the outbox yet; return how many were inserted.

    Whatever state an existing row is in (pending, sent, failed, rendered), it is left alone.
    """
    ensure_outbox(con)
    unique: dict[str, Mail] = {}
    for mail in mails:
        unique.setdefault(mail.mail_id, mail)
    if not unique:
        return 0
    existing = {
        row[0]
        for row in con.execute(
            f"select mail_id from {OUTBOX_TABLE} where mail_id in (select unnest($ids))",
            {"ids": list(unique)},
        ).fetchall()
    }
    now = now or utcnow()
    rows = [
        (
            mid,
            m.kind,
            m.recipient_id,
            m.recipient_email,
            m.period,
            m.subject,
            m.html_body,
            m.text_body,
            now,
            now,
        )
        for mid, m in unique.items()
        if mid not in existing
    ]
    if rows:
        con.executemany(
            f"""
            insert into {OUTBOX_TABLE} (
                mail_id, kind, recipient_id, recipient_email, period, subject, html_body, text_body,
                status, attempts, created_at, updated_at
            ) values (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)
            """,
            rows,
        )
    log.info("outbox: %d mail(s) enqueued, %d already there", len(rows), len(existing))
    return len(rows)


# --- transports -------------------------------------------------------------------------------


class Transport(Protocol):
    # Whether a mail is claimed (status 'sending', attempts + 1) before `send`: true for anything
    # that leaves the machine, where a crash must not lead to a second send.
    claims: bool

    def send(self, mail: OutboxRow) -> Outcome: ...


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class FileTransport:
    """No API key: write `<mail_id>.html` and `<mail_id>.txt` and mark the mail rendered."""

    claims = False

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
    return status_code == 429 or status_code >= 500


_BEARER = re.compile(r"(Bearer\s+)[^\s'\",}]+", re.IGNORECASE)


def redact(text: str, secret: str | None) -> str:
    """Remove the API key (and any bearer token) from text that may be stored or logged."""
    if secret:
        text = text.replace(secret, "[redacted]")
    return _BEARER.sub(r"\1[redacted]", text)


class _RedactBearer(logging.Filter):
    """python_http_client logs request headers (with the Authorization header) at debug level."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _BEARER.sub(r"\1[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def _guard_http_client_log() -> None:
    logger = logging.getLogger("python_http_client.client")
    if not any(isinstance(f, _RedactBearer) for f in logger.filters):
        logger.addFilter(_RedactBearer())


class SendGridTransport:
    """Send through SendGrid's own client (`POST /v3/mail/send`)."""

    claims = True

    def __init__(
        self,
        api_key: str,
        host: str | None = None,
        sender: str = DEFAULT_SENDER,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        import sendgrid

        _guard_http_client_log()
        self._api_key = api_key
        self.sender = sender
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
        # Comes back in SendGrid's event webhook, so events can be matched to the outbox row.
        message.custom_arg = [CustomArg("mail_id", mail.mail_id), CustomArg("kind", mail.kind)]
        message.category = [Category("healthwatch"), Category(mail.kind)]
        return message

    def _error(self, text: str) -> str:
        return redact(text, self._api_key)[:MAX_ERROR_CHARS]

    def send(self, mail: OutboxRow) -> Outcome:
        from python_http_client.exceptions import HTTPError

        try:
            response = self._client.send(self._message(mail))
        except HTTPError as exc:
            body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else str(exc.body)
            error = self._error(f"HTTP {exc.status_code} {exc.reason}: {body.strip()}")
            status: Status = "pending" if is_retryable_status(int(exc.status_code)) else "failed"
            return Outcome(status=status, error=error)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            # Network: nothing reached SendGrid, or the answer was lost; SendGrid offers no
            # idempotency key, so retrying is the only way not to lose the mail.
            return Outcome(status="pending", error=self._error(f"network error: {exc!r}"))
        except Exception as exc:
            # Unknown state: do not retry on our own, a person looks at `failed` rows.
            return Outcome(status="failed", error=self._error(f"{type(exc).__name__}: {exc}"))
        headers = response.headers
        message_id = headers.get("X-Message-Id") if headers is not None else None
        return Outcome(status="sent", provider_message_id=message_id)


# --- delivery ---------------------------------------------------------------------------------


def _pending(con: duckdb.DuckDBPyConnection, limit: int | None) -> list[OutboxRow]:
    sql = f"""
        select mail_id, kind, recipient_id, recipient_email, period, subject, html_body, text_body, attempts
        from {OUTBOX_TABLE}
        where status = 'pending'
        order by created_at, mail_id
    """
    if limit is not None:
        sql += f" limit {int(limit)}"
    return [OutboxRow(*row) for row in con.execute(sql).fetchall()]


def _claim(con: duckdb.DuckDBPyConnection, mail: OutboxRow, now: datetime) -> bool:
    row = con.execute(
        f"""
        update {OUTBOX_TABLE}
        set status = 'sending', attempts = attempts + 1, updated_at = ?
        where mail_id = ? and status = 'pending'
        returning mail_id
        """,
        [now, mail.mail_id],
    ).fetchone()
    return row is not None


def _settle(con: duckdb.DuckDBPyConnection, mail: OutboxRow, outcome: Outcome, now: datetime) -> None:
    con.execute(
        f"""
        update {OUTBOX_TABLE}
        set status = $status,
            provider_message_id = coalesce($provider_message_id, provider_message_id),
            last_error = $error,
            rendered_path = coalesce($rendered_path, rendered_path),
            updated_at = $now,
            sent_at = case when $status = 'sent' then $now else sent_at end
        where mail_id = $mail_id
        """,
        {
            "status": outcome.status,
            "provider_message_id": outcome.provider_message_id,
            "error": outcome.error,
            "rendered_path": outcome.rendered_path,
            "now": now,
            "mail_id": mail.mail_id,
        },
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
) -> DeliverySummary:
    """Deliver the pending mails: rendered to `settings.outbox_dir` without an API key, sent with one.

    The caller reads the key (SENDGRID_API_KEY) and host (HEALTHWATCH_SENDGRID_HOST); nothing
    here reads the environment, and the key is never written to the table, a file or a log.
    """
    ensure_outbox(con)
    transport: Transport = (
        SendGridTransport(api_key, host, sender=sender, timeout=timeout)
        if api_key
        else FileTransport(settings.outbox_dir)
    )
    return deliver_with(con, transport, limit=limit, clock=clock)


def deliver_with(
    con: duckdb.DuckDBPyConnection,
    transport: Transport,
    *,
    limit: int | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> DeliverySummary:
    """Hand each pending mail to `transport` and record the outcome (any transport, e.g. a test one)."""
    counts = {"attempted": 0, "sent": 0, "rendered": 0, "deferred": 0, "failed": 0}
    for mail in _pending(con, limit):
        if transport.claims and not _claim(con, mail, clock()):
            continue
        counts["attempted"] += 1
        outcome = transport.send(mail)
        _settle(con, mail, outcome, clock())
        counts[{"pending": "deferred"}.get(outcome.status, outcome.status)] += 1
        if outcome.error:
            log.warning("outbox: mail %s %s: %s", mail.mail_id, outcome.status, outcome.error)
    summary = DeliverySummary(**counts)
    log.info("outbox: %s", summary)
    return summary
