"""Slack (optional): post critical alerts to an incoming webhook, off unless a URL is given.

Slack rows live in the one outbox (channel `slack`), so they get the same ids, claims,
reconciliation and retry discipline as mails. The webhook URL carries its own secret: it is an
argument (the caller reads it from the environment), and it is redacted from every stored error.
"""

import json
from collections.abc import Callable
from datetime import datetime

from delivery.http_json import MAX_ERROR_CHARS, post_json, redact
from delivery.outbox import AfterSend, OutboxRow, Outcome, utcnow
from delivery.retry import classify, provider_wait_seconds

DEFAULT_TIMEOUT_SECONDS = 15.0


class SlackTransport:
    """POST each row's Block Kit payload to the incoming webhook; 200 `ok` is delivered."""

    claims = True
    channel = "slack"

    def __init__(
        self,
        webhook_url: str,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        *,
        after_send: AfterSend | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._url = webhook_url
        self._timeout = timeout
        self._after_send = after_send
        self._clock = clock

    def __repr__(self) -> str:
        return "SlackTransport(webhook_url=[redacted])"

    def _error(self, text: str) -> str:
        return redact(text, self._url)[:MAX_ERROR_CHARS]

    def _call(self, mail: OutboxRow) -> Outcome:
        payload = json.loads(mail.payload) if mail.payload else {"text": mail.text_body}
        result = post_json(self._url, payload, timeout=self._timeout)
        if result.status == 0:
            return Outcome(
                status="pending",
                error=self._error(result.error or "network error"),
                maybe_delivered=result.maybe_delivered,
            )
        verdict = classify(result.status)
        if verdict == "delivered":
            return Outcome(status="sent")
        error = self._error(f"HTTP {result.status}: {result.text()}")
        if verdict == "fail":
            return Outcome(status="failed", error=error)
        return Outcome(
            status="pending",
            error=error,
            retry_after=provider_wait_seconds(result.headers, self._clock()),
            rate_limited=result.status == 429,
        )

    def send(self, mail: OutboxRow) -> Outcome:
        outcome = self._call(mail)
        if self._after_send is not None:
            self._after_send(mail, outcome)
        return outcome
