"""A JSON POST over the standard library, for the CRM push and the Slack webhook.

It never raises for an HTTP status or a network error: it returns what happened, and whether the
request may have reached the server (`maybe_delivered`), so the caller applies the shared retry
discipline (`delivery.retry`). Credentials are headers passed in by the caller; error text that
could carry them goes through `redact` before anyone stores or logs it.
"""

import http.client
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

MAX_ERROR_CHARS = 500
USER_AGENT = "healthwatch-delivery/1"

_BEARER = re.compile(r"(Bearer\s+)[^\s'\",}]+", re.IGNORECASE)


def redact(text: str, *secrets: str | None) -> str:
    """Remove secrets (API keys, tokens, webhook URLs) and any bearer token from text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _BEARER.sub(r"\1[redacted]", text)


@dataclass(frozen=True)
class HttpResult:
    """One request's outcome: a status (0 for a network error), headers, body and error text."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None
    # True when the request may have been processed although no answer arrived (e.g. a timeout
    # while reading the response); False when it certainly did not leave (connection refused).
    maybe_delivered: bool = False

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None

    def text(self, limit: int = MAX_ERROR_CHARS) -> str:
        return self.body.decode("utf-8", "replace").strip()[:limit]


def post_json(
    url: str, payload: Any, headers: dict[str, str] | None = None, timeout: float = 30.0
) -> HttpResult:
    """POST `payload` as JSON; return the status, headers and body, or the network error."""
    data = json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return HttpResult(
                status=response.status, headers=dict(response.headers.items()), body=response.read()
            )
    except urllib.error.HTTPError as exc:
        body = exc.read() if exc.fp is not None else b""
        return HttpResult(
            status=exc.code, headers=dict(exc.headers.items()) if exc.headers else {}, body=body
        )
    except urllib.error.URLError as exc:
        # urllib wraps what fails while connecting and sending the request: it did not arrive whole.
        return HttpResult(status=0, error=f"network error: {exc.reason!r}")
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        # Sent, but the answer was lost: the server may have acted on it.
        return HttpResult(status=0, error=f"network error after sending: {exc!r}", maybe_delivered=True)
