"""Outbox throughput: enqueue N digest-sized mails and deliver them through SendGrid's own client
to a loopback server answering 202, then deliver again (nothing may be sent twice).

    .venv/bin/python scripts/bench_send.py [--mails 500] [--json OUT.json]

Measures the outbox's own cost per mail (claim, HTTP request through `sendgrid`, settle), not
SendGrid's: the server answers at once. Writes to a temporary warehouse only.
"""

import argparse
import json
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from delivery.outbox import Mail, deliver, enqueue  # noqa: E402
from healthwatch.config import load_settings  # noqa: E402


class _Accept(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(202)
        self.send_header("X-Message-Id", "bench")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def run(mails: int) -> dict[str, Any]:
    """Enqueue and deliver `mails` mails twice; return the timings and counts."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accept)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "warehouse.duckdb"
            settings = load_settings(env={"HEALTHWATCH_WAREHOUSE": str(path)}, cwd=Path(tmp))
            with duckdb.connect(str(path)) as con:
                html = "<p>" + "x" * 20_000 + "</p>"  # about a ten-alert digest
                batch = [
                    Mail(
                        "daily_digest",
                        f"csm-{i}",
                        f"csm-{i}@example.com",
                        "2026-03-02",
                        "s",
                        html,
                        "t" * 5000,
                    )
                    for i in range(mails)
                ]
                started = time.perf_counter()
                enqueue(con, batch)
                enqueued = time.perf_counter()
                first = deliver(con, settings, api_key="SG.bench", host=host)
                sent = time.perf_counter()
                second = deliver(con, settings, api_key="SG.bench", host=host)
                again = time.perf_counter()
    finally:
        server.shutdown()
        server.server_close()
    return {
        "mails": mails,
        "enqueue_seconds": round(enqueued - started, 3),
        "send_seconds": round(sent - enqueued, 3),
        "mails_per_second": round(mails / (sent - enqueued), 1),
        "sent": first.sent,
        "second_pass_attempted": second.attempted,
        "second_pass_seconds": round(again - sent, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=500)
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)
    result = run(args.mails)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
