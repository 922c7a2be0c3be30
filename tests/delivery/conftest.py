"""A small warehouse with the tables delivery reads: team, accounts, alerts and score history."""

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest

from healthwatch.config import Settings, load_settings
from healthwatch.warehouse import ensure_change_tables

CLOCK = datetime(2026, 2, 27, 12, 0)

INPUT_DDL = """
create schema if not exists alerts;
create schema if not exists signals;
create schema if not exists scoring;
create table signals.team_members (
    member_id varchar, name varchar, email varchar, role varchar, manager_id varchar, timezone varchar
);
create table signals.accounts (
    account_id varchar, name varchar, segment varchar, arr double, csm_id varchar, csm_name varchar,
    csm_email varchar, manager_id varchar, manager_email varchar, is_churned boolean
);
create table scoring.account_health_score_history (
    account_id varchar, scored_at timestamp, model_version varchar, churn_probability double,
    health_score double, health_class varchar
);
create table alerts.health_alerts (
    alert_id varchar, dedup_key varchar, account_id varchar, account_name varchar, segment varchar,
    arr double, alert_type varchar, severity varchar, priority integer, status varchar, title varchar,
    reason varchar, evidence json, churn_probability double, health_score double, health_class varchar,
    drivers json, model_version varchar, playbook varchar, owner_id varchar, owner_name varchar,
    owner_email varchar, owner_timezone varchar, notify_member_ids json, manager_id varchar,
    needs_exec_outreach boolean, opened_at timestamp, last_seen_at timestamp, acknowledged_at timestamp,
    resolved_at timestamp, sla_due_at timestamp, updated_at timestamp
);
"""

TEAM = [
    ("csm-ana", "Ana Ruiz", "ana@example.com", "csm", "mgr-lee", "America/New_York"),
    ("csm-bo", "Bo Chen", "bo@example.com", "csm", "mgr-lee", "Europe/Berlin"),
    ("mgr-lee", "Lee Park", "lee@example.com", "manager", "vp-kim", "America/New_York"),
    ("vp-kim", "Kim Diaz", "kim@example.com", "vp", None, "America/New_York"),
]

ACCOUNTS = {
    "acc-acme": ("Acme Corp", "enterprise", 240_000.0, "csm-ana"),
    "acc-globex": ("Globex", "mid_market", 60_000.0, "csm-ana"),
    "acc-umbrella": ("Umbrella Health", "enterprise", 500_000.0, "csm-ana"),
    "acc-initech": ("Initech", "smb", 12_000.0, "csm-bo"),
}


@dataclass
class Warehouse:
    """A DuckDB file in tmp_path and helpers to fill its input tables."""

    path: Path
    con: duckdb.DuckDBPyConnection
    settings: Settings
    clock: datetime = CLOCK
    _alerts: int = field(default=0)

    def add_alert(self, account_id: str = "acc-acme", **overrides: Any) -> str:
        self._alerts += 1
        name, segment, arr, csm_id = ACCOUNTS[account_id]
        csm = next(m for m in TEAM if m[0] == csm_id)
        row: dict[str, Any] = {
            "alert_id": f"alert-{self._alerts:03d}",
            "dedup_key": f"{account_id}:usage_drop",
            "account_id": account_id,
            "account_name": name,
            "segment": segment,
            "arr": arr,
            "alert_type": "usage_drop",
            "severity": "high",
            "priority": 2,
            "status": "open",
            "title": "Usage drop",
            "reason": "Logins fell 42% against this account's 4-week normal.",
            "evidence": {
                "metric": "logins_7d",
                "baseline": 120,
                "current": 70,
                "change": -0.4167,
                "window": "7d",
            },
            "churn_probability": 0.62,
            "health_score": 48.0,
            "health_class": "Critical",
            "drivers": [
                {
                    "feature": "logins_wow",
                    "value": -0.42,
                    "contribution": 0.8,
                    "sentence": "logins −42% vs 4-week normal",
                },
                {
                    "feature": "tickets_7d",
                    "value": 5,
                    "contribution": 0.3,
                    "sentence": "5 support tickets this week",
                },
                {"feature": "nps", "value": 4, "contribution": -0.1, "sentence": "NPS 4 (detractor)"},
                {"feature": "seats", "value": 0.4, "contribution": 0.05, "sentence": "seat use at 40%"},
            ],
            "model_version": "v3",
            "playbook": "Call the champion within 24 h and offer a training session.",
            "owner_id": csm_id,
            "owner_name": csm[1],
            "owner_email": csm[2],
            "owner_timezone": csm[5],
            "notify_member_ids": [csm_id],
            "manager_id": csm[4],
            "needs_exec_outreach": False,
            "opened_at": self.clock - timedelta(hours=6),
            "last_seen_at": self.clock,
            "acknowledged_at": None,
            "resolved_at": None,
            "sla_due_at": self.clock + timedelta(hours=18),
            "updated_at": self.clock,
        }
        row.update(overrides)
        for key in ("evidence", "drivers", "notify_member_ids"):
            if not isinstance(row[key], str) and row[key] is not None:
                row[key] = json.dumps(row[key])
        columns = list(row)
        self.con.execute(
            f"insert into alerts.health_alerts ({', '.join(columns)}) values ({', '.join('?' for _ in columns)})",
            [row[c] for c in columns],
        )
        return row["alert_id"]

    def update_alert(self, alert_id: str, **changes: Any) -> None:
        sets = ", ".join(f"{c} = ?" for c in changes)
        self.con.execute(
            f"update alerts.health_alerts set {sets} where alert_id = ?", [*changes.values(), alert_id]
        )

    def add_scores(self, account_id: str, scores: list[float]) -> None:
        """One score a day, the last one on the clock's day."""
        start = self.clock - timedelta(days=len(scores) - 1)
        self.con.executemany(
            "insert into scoring.account_health_score_history values (?, ?, 'v3', 0.5, ?, 'At-Risk')",
            [(account_id, start + timedelta(days=i), score) for i, score in enumerate(scores)],
        )

    def rows(self, sql: str) -> list[dict[str, Any]]:
        cursor = self.con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    path = tmp_path / "data" / "warehouse.duckdb"
    path.parent.mkdir(parents=True)
    # Through load_settings, so the test follows the settings as they grow.
    settings = load_settings(env={"HEALTHWATCH_WAREHOUSE": str(path)}, cwd=tmp_path)
    con = duckdb.connect(str(path))
    con.execute(INPUT_DDL)
    con.executemany("insert into signals.team_members values (?, ?, ?, ?, ?, ?)", TEAM)
    team = {m[0]: m for m in TEAM}
    con.executemany(
        "insert into signals.accounts values (?, ?, ?, ?, ?, ?, ?, ?, ?, false)",
        [
            (aid, name, seg, arr, csm, team[csm][1], team[csm][2], team[csm][4], team[team[csm][4]][2])
            for aid, (name, seg, arr, csm) in ACCOUNTS.items()
        ],
    )
    # The data clock reads the change tables.
    ensure_change_tables(con)
    con.execute(
        "insert into cdc.crm_changes values (1, 'accounts', 'c', 'acc-acme', null, '{}', ?, ?)",
        [CLOCK, CLOCK],
    )
    try:
        yield Warehouse(path=path, con=con, settings=settings)
    finally:
        con.close()


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeSendGrid:
    """A real HTTP server on 127.0.0.1 that answers like SendGrid's `POST /v3/mail/send`."""

    host: str
    requests: list[Request]
    status: int = 202
    message_id: str = "msg-0001"
    echo_authorization: bool = False  # an error body that repeats the credentials it got


@pytest.fixture
def sendgrid_server() -> Iterator[FakeSendGrid]:
    requests: list[Request] = []
    state: dict[str, FakeSendGrid] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            requests.append(Request("POST", self.path, dict(self.headers.items()), json.loads(raw or b"{}")))
            fake = state["fake"]
            if fake.status < 300:
                self.send_response(fake.status)
                self.send_header("X-Message-Id", fake.message_id)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                message = f"status {fake.status}"
                if fake.echo_authorization:
                    message += f" for {self.headers.get('Authorization')}"
                body = json.dumps({"errors": [{"message": message, "field": None}]}).encode()
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake = FakeSendGrid(host=f"http://127.0.0.1:{server.server_address[1]}", requests=requests)
    state["fake"] = fake
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
