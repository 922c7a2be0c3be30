"""A small warehouse with the tables delivery reads: team, accounts, alerts and score history."""

import json
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from http_fakes import FakeSendGrid, LocalAPI, Reply, Request

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
    # A second team, so that manager digests can be checked for leaks between teams.
    ("csm-cy", "Cy Okafor", "cy@example.com", "csm", "mgr-max", "Europe/London"),
    ("mgr-max", "Max Roy", "max@example.com", "manager", "vp-kim", "Europe/London"),
]

ACCOUNTS = {
    "acc-acme": ("Acme Corp", "enterprise", 240_000.0, "csm-ana"),
    "acc-globex": ("Globex", "mid_market", 60_000.0, "csm-ana"),
    "acc-umbrella": ("Umbrella Health", "enterprise", 500_000.0, "csm-ana"),
    "acc-initech": ("Initech", "smb", 12_000.0, "csm-bo"),
    "acc-hooli": ("Hooli", "enterprise", 900_000.0, "csm-cy"),
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
            "notify_member_ids": [csm_id, csm[4], "vp-kim"],
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
    # The delivery assets take the clock the signals were built to (dbt's stg_cdc__clock).
    con.execute("create schema if not exists staging")
    con.execute(
        "create table staging.stg_cdc__clock as select cast(? as date) as first_date, "
        "cast(? as date) as as_of_date, cast(? as timestamp) as as_of_at",
        [CLOCK, CLOCK, CLOCK],
    )
    try:
        yield Warehouse(path=path, con=con, settings=settings)
    finally:
        con.close()


@pytest.fixture
def local_api() -> Iterator[Callable[[Callable[[Request], Reply]], LocalAPI]]:
    """Start loopback API servers for a test; every one is stopped when the test ends."""
    started: list[LocalAPI] = []

    def start(respond: Callable[[Request], Reply]) -> LocalAPI:
        api = LocalAPI(respond)
        started.append(api)
        return api

    try:
        yield start
    finally:
        for api in started:
            api.stop()


@pytest.fixture
def sendgrid_server(local_api) -> FakeSendGrid:
    return FakeSendGrid(local_api)


class FakeHubSpot:
    """Answers like HubSpot's `POST /crm/v3/objects/tasks/batch/upsert`: one object per value
    of the id property, created the first time and updated after (an idempotent upsert)."""

    TOKEN = "pat-na1-test-token-0123456789"

    def __init__(self, start: Callable[[Callable[[Request], Reply]], LocalAPI]) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.updates: dict[str, int] = {}
        self.status = 200
        self.echo_authorization = False
        self.api = start(self._respond)
        self.url = self.api.url

    @property
    def requests(self) -> list[Request]:
        return self.api.requests

    @property
    def script(self) -> deque[Reply]:
        return self.api.script

    def _respond(self, request: Request) -> Reply:
        if request.path != "/crm/v3/objects/tasks/batch/upsert":
            return 404, {}, {"status": "error", "message": f"no route {request.path}"}
        if request.headers.get("Authorization") != f"Bearer {self.TOKEN}":
            message = "Authentication credentials not found"
            if self.echo_authorization:
                message += f": {request.headers.get('Authorization')}"
            return 401, {}, {"status": "error", "message": message, "category": "INVALID_AUTHENTICATION"}
        if self.status >= 300:
            message = f"status {self.status}"
            if self.echo_authorization:
                message += f" for {request.headers.get('Authorization')}"
            return self.status, {}, {"status": "error", "message": message}
        results = []
        for item in request.body["inputs"]:
            external_id = str(item["id"])
            id_property = item["idProperty"]
            new = external_id not in self.objects
            if new:
                self.objects[external_id] = {"id": str(1000 + len(self.objects)), "properties": {}}
            stored = self.objects[external_id]
            stored["properties"].update(item["properties"])
            stored["properties"][id_property] = external_id
            self.updates[external_id] = self.updates.get(external_id, 0) + 1
            results.append({"id": stored["id"], "new": new, "properties": dict(stored["properties"])})
        return 200, {}, {"status": "COMPLETE", "results": results}


@pytest.fixture
def hubspot_server(local_api) -> FakeHubSpot:
    return FakeHubSpot(local_api)


class FakeSlack:
    """Answers like a Slack incoming webhook: 200 `ok`."""

    def __init__(self, start: Callable[[Callable[[Request], Reply]], LocalAPI]) -> None:
        self.status = 200
        self.api = start(self._respond)
        # The path of a real webhook URL is its secret.
        self.webhook_url = f"{self.api.url}/services/T000/B000/secret-XXXXXXXXXXXXXXXX"

    @property
    def requests(self) -> list[Request]:
        return self.api.requests

    @property
    def script(self) -> deque[Reply]:
        return self.api.script

    def _respond(self, request: Request) -> Reply:
        if self.status >= 300:
            return self.status, {"Content-Type": "text/plain"}, "invalid_payload"
        return 200, {"Content-Type": "text/plain"}, "ok"


@pytest.fixture
def slack_server(local_api) -> FakeSlack:
    return FakeSlack(local_api)


class Clock:
    """A settable wall clock for sending bookkeeping (back-off, rate limits, stale claims)."""

    def __init__(self, now: datetime = CLOCK + timedelta(hours=1)) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def sleep(self, seconds: float) -> None:
        """Record the wait and move the clock on: a test never really sleeps."""
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)

    def epoch(self, seconds_from_now: float = 0.0) -> int:
        return int((self.now + timedelta(seconds=seconds_from_now)).replace(tzinfo=UTC).timestamp())


@pytest.fixture
def clock() -> Clock:
    return Clock()
