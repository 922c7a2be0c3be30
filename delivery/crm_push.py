"""Push `alerts.crm_tasks` to a CRM's API: HubSpot's tasks batch upsert, by an external id.

`POST {base_url}/crm/v3/objects/tasks/batch/upsert` with
`{"inputs": [{"id": <task_id>, "idProperty": "healthwatch_task_id", "properties": {...}}]}`
creates a task the first time and updates the same one afterwards, so a push repeated after a
crash (between the CRM's answer and our record of it) changes nothing: no duplicate task. The
id property is a custom task property, unique, that HubSpot must have (README).

A task is pushed when the properties it would send differ from the ones the CRM last accepted
(`pushed_hash`): new tasks, changed ones, and closed ones (status COMPLETED) that were pushed
while open. Failures follow `delivery.retry`: 429 waits for `Retry-After`, 5xx and network
errors back off to `next_push_at`, any other 4xx fails the batch's tasks at once with the reason;
a task's content changing gives it a fresh attempt budget.

The token and base URL are arguments: the caller reads them from the environment (nothing here
does), and the token never reaches the table, a file or a log.
"""

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from delivery.crm_tasks import TASKS_TABLE, ensure_tasks_table
from delivery.http_json import MAX_ERROR_CHARS, HttpResult, post_json, redact
from delivery.outbox import utcnow
from delivery.render import render_html
from delivery.retry import DEFAULT_POLICY, RetryPolicy, classify, provider_wait_seconds

log = logging.getLogger(__name__)

UPSERT_PATH = "/crm/v3/objects/tasks/batch/upsert"
DEFAULT_BASE_URL = "https://api.hubapi.com"
DEFAULT_ID_PROPERTY = "healthwatch_task_id"
BATCH_SIZE = 100  # HubSpot's limit for batch endpoints
PRIORITIES = {"High": "HIGH", "Normal": "MEDIUM", "Low": "LOW"}

# Called after the CRM answered and before the answer is recorded: tests use it to crash there.
AfterPush = Callable[[list[str], HttpResult], None]


def _epoch_millis(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp() * 1000)


def task_properties(
    task: Mapping[str, Any],
    id_property: str = DEFAULT_ID_PROPERTY,
    owner_ids: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The HubSpot task properties for one row of `alerts.crm_tasks` (all values as strings).

    hs_task_body is rich text in HubSpot: the description is rendered through the autoescaped
    templates, so an account name or ticket text cannot inject markup.
    """
    due = task.get("due_at") or task.get("created_at")
    properties = {
        id_property: str(task["task_id"]),
        "hs_task_subject": str(task["subject"]),
        "hs_task_body": render_html("crm_task_body", lines=str(task["description"]).split("\n")).strip(),
        "hs_timestamp": str(_epoch_millis(due)) if due else "",
        "hs_task_priority": PRIORITIES.get(str(task.get("crm_priority")), "MEDIUM"),
        "hs_task_status": "NOT_STARTED" if task.get("status") == "open" else "COMPLETED",
        "hs_task_type": "TODO",
    }
    owner_email = str(task.get("owner_email") or "").lower()
    if owner_ids and owner_email in {k.lower(): v for k, v in owner_ids.items()}:
        properties["hubspot_owner_id"] = {k.lower(): v for k, v in owner_ids.items()}[owner_email]
    return properties


def properties_hash(properties: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(properties, sort_keys=True).encode()).hexdigest()[:20]


class HubSpotTasksClient:
    """HubSpot-shaped tasks API: batch upsert by a unique id property, Bearer token."""

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        id_property: str = DEFAULT_ID_PROPERTY,
        timeout: float = 30.0,
        after_push: AfterPush | None = None,
    ) -> None:
        self._token = token
        self.base_url = base_url.rstrip("/")
        self.id_property = id_property
        self._timeout = timeout
        self._after_push = after_push

    def __repr__(self) -> str:
        return f"HubSpotTasksClient(base_url={self.base_url!r}, id_property={self.id_property!r})"

    def redact(self, text: str) -> str:
        return redact(text, self._token)[:MAX_ERROR_CHARS]

    def upsert(self, inputs: list[dict[str, Any]]) -> HttpResult:
        result = post_json(
            self.base_url + UPSERT_PATH,
            {"inputs": inputs},
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=self._timeout,
        )
        if self._after_push is not None:
            self._after_push([str(i["id"]) for i in inputs], result)
        return result


@dataclass(frozen=True)
class PushSummary:
    candidates: int = 0  # tasks whose CRM copy is missing or out of date
    pushed: int = 0
    deferred: int = 0  # retryable failure: a later run retries
    failed: int = 0
    waiting: int = 0  # due but not tried: rate limited for longer than a run waits
    requests: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class _Candidate:
    task_id: str
    properties: dict[str, str]
    hash: str
    attempts: int  # for this hash
    throttled: int


def _candidates(
    con: duckdb.DuckDBPyConnection,
    client: HubSpotTasksClient,
    now: datetime,
    owner_ids: Mapping[str, str] | None,
) -> list[_Candidate]:
    cursor = con.execute(f"select * from {TASKS_TABLE} order by priority, due_at nulls last, task_id")
    names = [d[0] for d in cursor.description]
    due: list[_Candidate] = []
    for values in cursor.fetchall():
        task = dict(zip(names, values, strict=True))
        if task["status"] != "open" and task["pushed_hash"] is None:
            continue  # closed before it ever reached the CRM: nothing to complete there
        properties = task_properties(task, client.id_property, owner_ids)
        digest = properties_hash(properties)
        if digest == task["pushed_hash"]:
            continue
        same_content = digest == task["push_hash"]
        if same_content and task["push_status"] == "failed":
            continue  # failed for good with this content: a person looks at it (or the content changes)
        if same_content and task["next_push_at"] is not None and task["next_push_at"] > now:
            continue
        due.append(
            _Candidate(
                task_id=str(task["task_id"]),
                properties=properties,
                hash=digest,
                attempts=int(task["push_attempts"] or 0) if same_content else 0,
                throttled=int(task["push_throttled"] or 0) if same_content else 0,
            )
        )
    return due


def _record(
    con: duckdb.DuckDBPyConnection,
    candidate: _Candidate,
    status: str,
    now: datetime,
    *,
    error: str | None = None,
    next_push_at: datetime | None = None,
    object_id: str | None = None,
    rate_limited: bool = False,
) -> None:
    con.execute(
        f"""
        update {TASKS_TABLE}
        set push_status = $status,
            push_hash = $hash,
            pushed_hash = case when $status = 'pushed' then $hash else pushed_hash end,
            push_attempts = $attempts,
            push_throttled = $throttled,
            next_push_at = $next_push_at,
            crm_object_id = coalesce($object_id, crm_object_id),
            push_error = $error,
            pushed_at = case when $status = 'pushed' then $now else pushed_at end
        where task_id = $task_id
        """,
        {
            "status": status,
            "hash": candidate.hash,
            "attempts": candidate.attempts + 1,
            "throttled": candidate.throttled + int(rate_limited),
            "next_push_at": next_push_at,
            "object_id": object_id,
            "error": error,
            "now": now,
            "task_id": candidate.task_id,
        },
    )


def _result_ids(body: Any, id_property: str) -> tuple[dict[str, str], list[str]]:
    """Object ids by our task id from a batch answer, and the errors' messages."""
    ids: dict[str, str] = {}
    errors: list[str] = []
    if isinstance(body, dict):
        for result in body.get("results") or []:
            properties = result.get("properties") or {}
            if properties.get(id_property) is not None and result.get("id") is not None:
                ids[str(properties[id_property])] = str(result["id"])
        for error in body.get("errors") or []:
            errors.append(str(error.get("message") or error))
    return ids, errors


def push_crm_tasks(
    con: duckdb.DuckDBPyConnection,
    client: HubSpotTasksClient,
    *,
    clock: Callable[[], datetime] = utcnow,
    policy: RetryPolicy = DEFAULT_POLICY,
    sleep: Callable[[float], None] = time.sleep,
    batch_size: int = BATCH_SIZE,
    owner_ids: Mapping[str, str] | None = None,
) -> PushSummary:
    """Upsert every task whose CRM copy is missing or out of date, in batches; record each outcome."""
    ensure_tasks_table(con)
    due = _candidates(con, client, clock(), owner_ids)
    counts = {"pushed": 0, "deferred": 0, "failed": 0, "waiting": 0, "requests": 0}
    batches: list[Sequence[_Candidate]] = [due[i : i + batch_size] for i in range(0, len(due), batch_size)]
    index = 0
    inline_retries = 0
    while index < len(batches):
        batch = batches[index]
        inputs = [
            {"id": c.task_id, "idProperty": client.id_property, "properties": c.properties} for c in batch
        ]
        counts["requests"] += 1
        result = client.upsert(inputs)
        now = clock()
        verdict = "retry" if result.status == 0 else classify(result.status)
        if verdict == "delivered":
            ids, errors = _result_ids(result.json(), client.id_property)
            for candidate in batch:
                if candidate.task_id in ids or (not errors and result.status != 207):
                    _record(con, candidate, "pushed", now, object_id=ids.get(candidate.task_id))
                    counts["pushed"] += 1
                else:
                    reason = client.redact("; ".join(errors) or f"HTTP {result.status}: not in the results")
                    _record(con, candidate, "failed", now, error=reason)
                    counts["failed"] += 1
            index += 1
            inline_retries = 0
            continue
        error = client.redact(result.error or f"HTTP {result.status}: {result.text()}")
        if verdict == "fail":
            for candidate in batch:
                _record(con, candidate, "failed", now, error=error)
            counts["failed"] += len(batch)
            log.warning("crm push: %d task(s) failed: %s", len(batch), error)
            index += 1
            continue
        rate_limited = result.status == 429
        wait = provider_wait_seconds(result.headers, now) if result.status else None
        # One decision for the batch, from its most-tried task.
        worst = max(batch, key=lambda c: c.attempts - c.throttled)
        decision = policy.after_failure(
            failures=worst.attempts + 1 - worst.throttled - int(rate_limited),
            error=error,
            now=now,
            provider_wait=wait,
            rate_limited=rate_limited,
        )
        if policy.can_wait_inline(decision) and inline_retries < policy.max_inline_retries:
            inline_retries += 1
            for candidate in batch:
                _record(
                    con,
                    candidate,
                    "pending",
                    now,
                    error=error,
                    next_push_at=decision.next_attempt_at,
                    rate_limited=rate_limited,
                )
            batches[index] = [
                _Candidate(c.task_id, c.properties, c.hash, c.attempts + 1, c.throttled + int(rate_limited))
                for c in batch
            ]
            if decision.wait_seconds > 0:
                sleep(decision.wait_seconds)
            continue
        for candidate in batch:
            own = policy.after_failure(
                failures=candidate.attempts + 1 - candidate.throttled - int(rate_limited),
                error=error,
                now=now,
                provider_wait=wait,
                rate_limited=rate_limited,
            )
            status = "failed" if own.status == "failed" else "pending"
            _record(
                con,
                candidate,
                status,
                now,
                error=own.error,
                next_push_at=own.next_attempt_at,
                rate_limited=rate_limited,
            )
            counts["failed" if status == "failed" else "deferred"] += 1
        log.warning("crm push: %d task(s) not pushed: %s", len(batch), error)
        index += 1
        inline_retries = 0
        if rate_limited:
            # The whole API is limited: leave the remaining batches for a later run.
            counts["waiting"] = sum(len(b) for b in batches[index:])
            break
    summary = PushSummary(candidates=len(due), **counts)
    log.info("crm push: %s", summary)
    return summary
