"""Loopback stand-ins for the HTTP APIs healthwatch talks to (SendGrid's v3 mail send, ...):
real HTTP servers on 127.0.0.1, started and stopped by the tests that use them."""

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int | None = None  # what the server answered


# What a fake answers: (status, headers, body); a dict or list body is sent as JSON.
Reply = tuple[int, dict[str, str], Any]


class LocalAPI:
    """A real HTTP server on 127.0.0.1 (a free port), answering through `respond(request)`.

    Started by a fixture and stopped by it; `script` holds replies to give before the default
    ones (e.g. a 429, then the normal answer).
    """

    def __init__(self, respond: Callable[[Request], Reply]) -> None:
        self.requests: list[Request] = []
        self.script: deque[Reply] = deque()
        self._respond = respond
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = raw.decode("utf-8", "replace")
                request = Request(self.command, self.path, dict(self.headers.items()), body)
                with api._lock:
                    api.requests.append(request)
                    status, headers, payload = api.script.popleft() if api.script else api._respond(request)
                    request.status = status
                data = (
                    json.dumps(payload).encode()
                    if isinstance(payload, dict | list)
                    else (payload.encode() if isinstance(payload, str) else (payload or b""))
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if isinstance(payload, dict | list):
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = _handle
            do_GET = _handle

            def log_message(self, format: str, *args: Any) -> None:  # keep pytest output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class FakeSendGrid:
    """Answers like SendGrid's v3 `POST /v3/mail/send`: 202 with `X-Message-Id`, or `status`."""

    def __init__(self, start: Callable[[Callable[[Request], Reply]], LocalAPI]) -> None:
        self.status = 202
        self.message_id = "msg-0001"
        self.echo_authorization = False  # an error body that repeats the credentials it got
        self.api = start(self._respond)
        self.host = self.api.url
        self._accepted: list[str] = []

    @property
    def requests(self) -> list[Request]:
        return self.api.requests

    @property
    def script(self) -> deque[Reply]:
        return self.api.script

    def _respond(self, request: Request) -> Reply:
        if self.status < 300:
            return self.status, {"X-Message-Id": f"{self.message_id}"}, b""
        message = f"status {self.status}"
        if self.echo_authorization:
            message += f" for {request.headers.get('Authorization')}"
        return self.status, {}, {"errors": [{"message": message, "field": None}]}

    def accepted(self) -> list[Request]:
        """The requests answered 2xx: the mails SendGrid took."""
        return [r for r in self.requests if r.status is not None and r.status < 300]

    @property
    def url(self) -> str:
        return self.api.url

    def stop(self) -> None:
        self.api.stop()

    @classmethod
    def start(cls) -> "FakeSendGrid":
        """A stand-in on its own server; the caller stops it."""
        return cls(LocalAPI)

    def accepted_ids(self) -> list[str]:
        """The mail id (custom_args) of every accepted request, in order."""
        return [r.body["custom_args"]["mail_id"] for r in self.accepted()]
