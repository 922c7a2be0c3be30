"""The CRM push adapter (HubSpot-shaped tasks API) against a real HTTP server on 127.0.0.1."""

import logging
from datetime import timedelta

import pytest

from delivery.crm_push import HubSpotTasksClient, push_crm_tasks
from delivery.crm_tasks import build_crm_tasks
from delivery.pipeline import push_tasks_to_crm
from delivery.retry import RetryPolicy

TOKEN = "pat-na1-test-token-0123456789"  # what the fake HubSpot accepts (conftest.FakeHubSpot)
TASKS = "select * from alerts.crm_tasks order by task_id"
POLICY = RetryPolicy(max_attempts=3, base_delay_seconds=60)


class Crash(BaseException):
    """The process dies after HubSpot answered and before the task table recorded it."""


def _client(server, **kwargs) -> HubSpotTasksClient:
    return HubSpotTasksClient(kwargs.pop("token", TOKEN), server.url, **kwargs)


def _push(warehouse, server, clock, client=None, **kwargs):
    return push_crm_tasks(
        warehouse.con,
        client or _client(server),
        clock=clock,
        sleep=clock.sleep,
        policy=kwargs.pop("policy", POLICY),
        **kwargs,
    )


def _tasks(warehouse, *alerts: dict) -> None:
    for alert in alerts or ({"account_id": "acc-acme", "severity": "critical", "priority": 1},):
        warehouse.add_alert(**alert)
    build_crm_tasks(warehouse.con, warehouse.clock)


def _assert_no_token_anywhere(warehouse):
    for row in warehouse.rows(TASKS):
        assert all(TOKEN not in str(value) for value in row.values())
    warehouse.con.execute("checkpoint")
    assert TOKEN.encode() not in warehouse.path.read_bytes()


def test_each_task_is_upserted_once_across_runs(warehouse, hubspot_server, clock, caplog):
    caplog.set_level(logging.DEBUG)
    _tasks(
        warehouse,
        {"account_id": "acc-acme", "severity": "critical", "priority": 1, "needs_exec_outreach": True},
        {"account_id": "acc-initech", "severity": "medium", "priority": 7},
    )

    first = push_tasks_to_crm(
        warehouse.con,
        warehouse.settings,
        TOKEN,
        hubspot_server.url,
        policy=POLICY,
        clock=clock,
        sleep=clock.sleep,
    )
    build_crm_tasks(warehouse.con, warehouse.clock + timedelta(hours=1))
    second = _push(warehouse, hubspot_server, clock)

    assert (first.candidates, first.pushed, first.requests) == (3, 3, 1)
    assert (second.candidates, second.requests) == (0, 0)
    assert len(hubspot_server.objects) == 3 and set(hubspot_server.updates.values()) == {1}
    (request,) = hubspot_server.requests
    assert request.path == "/crm/v3/objects/tasks/batch/upsert"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    item = next(i for i in request.body["inputs"] if i["id"] == "alert-001")
    assert item["idProperty"] == "healthwatch_task_id"
    props = item["properties"]
    assert props["healthwatch_task_id"] == "alert-001"
    assert props["hs_task_subject"] == "[P1] Usage drop — Acme Corp"
    assert props["hs_task_priority"] == "HIGH" and props["hs_task_status"] == "NOT_STARTED"
    assert props["hs_task_type"] == "TODO"
    assert props["hs_timestamp"] == "1772258400000"  # 2026-02-28 06:00 UTC in ms
    assert "Playbook: Call the champion" in props["hs_task_body"] and "<br>" in props["hs_task_body"]
    rows = {r["task_id"]: r for r in warehouse.rows(TASKS)}
    assert rows["alert-001"]["crm_object_id"] == hubspot_server.objects["alert-001"]["id"]
    assert {r["push_status"] for r in rows.values()} == {"pushed"}
    assert TOKEN not in caplog.text
    _assert_no_token_anywhere(warehouse)


def test_a_changed_or_closed_task_updates_the_same_object(warehouse, hubspot_server, clock):
    _tasks(warehouse)
    _push(warehouse, hubspot_server, clock)
    object_id = hubspot_server.objects["alert-001"]["id"]

    warehouse.update_alert("alert-001", priority=4, severity="high")
    build_crm_tasks(warehouse.con, warehouse.clock + timedelta(hours=1))
    assert _push(warehouse, hubspot_server, clock).pushed == 1
    assert hubspot_server.objects["alert-001"]["properties"]["hs_task_priority"] == "MEDIUM"

    warehouse.update_alert("alert-001", status="resolved")
    build_crm_tasks(warehouse.con, warehouse.clock + timedelta(hours=2))
    assert _push(warehouse, hubspot_server, clock).pushed == 1
    assert hubspot_server.objects["alert-001"]["properties"]["hs_task_status"] == "COMPLETED"
    assert (
        list(hubspot_server.objects) == ["alert-001"]
        and hubspot_server.objects["alert-001"]["id"] == object_id
    )


def test_a_task_closed_before_any_push_is_not_pushed(warehouse, hubspot_server, clock):
    _tasks(warehouse)
    warehouse.update_alert("alert-001", status="resolved")
    build_crm_tasks(warehouse.con, warehouse.clock + timedelta(hours=1))
    assert _push(warehouse, hubspot_server, clock).requests == 0


def test_a_crash_between_push_and_record_leaves_no_duplicate(warehouse, hubspot_server, clock):
    _tasks(warehouse, {"account_id": "acc-acme"}, {"account_id": "acc-initech"})

    def crash(task_ids, result):
        raise Crash

    with pytest.raises(Crash):
        _push(warehouse, hubspot_server, clock, client=_client(hubspot_server, after_push=crash))
    assert len(hubspot_server.objects) == 2  # HubSpot has them; our table does not know yet
    assert {r["push_status"] for r in warehouse.rows(TASKS)} == {None}

    summary = _push(warehouse, hubspot_server, clock)

    assert summary.pushed == 2
    assert len(hubspot_server.objects) == 2  # upsert by external id: updated, not duplicated
    assert set(hubspot_server.updates.values()) == {2}
    assert _push(warehouse, hubspot_server, clock).requests == 0


def test_429_then_200_waits_once(warehouse, hubspot_server, clock):
    _tasks(warehouse)
    hubspot_server.script.append((429, {"Retry-After": "4"}, {"status": "error", "message": "rate limit"}))

    summary = _push(warehouse, hubspot_server, clock)

    assert clock.slept == [4.0]
    assert [r.status for r in hubspot_server.requests] == [429, 200]
    assert (summary.pushed, summary.requests) == (1, 2)
    (row,) = warehouse.rows(TASKS)
    assert (row["push_status"], row["push_throttled"]) == ("pushed", 1)


def test_a_long_rate_limit_waits_for_a_later_run(warehouse, hubspot_server, clock):
    _tasks(warehouse, {"account_id": "acc-acme"}, {"account_id": "acc-initech"})
    hubspot_server.script.append((429, {"Retry-After": "90"}, {"status": "error", "message": "rate limit"}))

    first = _push(warehouse, hubspot_server, clock, batch_size=1)
    assert (first.deferred, first.waiting, first.requests) == (1, 1, 1) and clock.slept == []
    clock.advance(seconds=30)
    _push(warehouse, hubspot_server, clock, batch_size=1)  # the untried task goes, the limited one waits
    assert len(hubspot_server.objects) == 1
    clock.advance(seconds=61)
    _push(warehouse, hubspot_server, clock, batch_size=1)
    assert len(hubspot_server.objects) == 2 and set(hubspot_server.updates.values()) == {1}


def test_repeated_500s_fail_with_the_reason(warehouse, hubspot_server, clock):
    _tasks(warehouse)
    hubspot_server.status = 500
    for _ in range(POLICY.max_attempts + 2):
        _push(warehouse, hubspot_server, clock)
        clock.advance(hours=2)

    (row,) = warehouse.rows(TASKS)
    assert row["push_status"] == "failed" and row["push_attempts"] == POLICY.max_attempts
    assert "HTTP 500" in row["push_error"] and "gave up after 3 attempts" in row["push_error"]
    assert len(hubspot_server.requests) == POLICY.max_attempts

    # The task is not lost: when its content changes it gets a fresh attempt budget.
    hubspot_server.status = 200
    warehouse.update_alert("alert-001", priority=3)
    build_crm_tasks(warehouse.con, warehouse.clock + timedelta(hours=1))
    assert _push(warehouse, hubspot_server, clock).pushed == 1


def test_401_fails_at_once_and_the_token_stays_secret(warehouse, hubspot_server, clock):
    _tasks(warehouse)
    hubspot_server.echo_authorization = True

    summary = _push(warehouse, hubspot_server, clock, client=_client(hubspot_server, token=TOKEN + "-wrong"))

    assert (summary.failed, summary.requests) == (1, 1)
    (row,) = warehouse.rows(TASKS)
    assert row["push_status"] == "failed" and row["push_error"].startswith("HTTP 401")
    assert "[redacted]" in row["push_error"] and "pat-na1" not in row["push_error"]
    clock.advance(days=1)
    assert _push(warehouse, hubspot_server, clock).requests == 0  # not retried


def test_hostile_text_is_escaped_in_the_rich_text_body(warehouse, hubspot_server, clock):
    _tasks(
        warehouse,
        {"account_id": "acc-acme", "account_name": "<img src=x onerror=alert(1)>", "reason": "a & b"},
    )
    _push(warehouse, hubspot_server, clock)
    body = hubspot_server.objects["alert-001"]["properties"]["hs_task_body"]
    assert "<img" not in body and "&lt;img src=x onerror=alert(1)&gt;" in body and "a &amp; b" in body


def test_owner_ids_map_to_hubspot_owners(warehouse, hubspot_server, clock):
    _tasks(warehouse)
    _push(warehouse, hubspot_server, clock, owner_ids={"ANA@example.com": "77"})
    assert hubspot_server.objects["alert-001"]["properties"]["hubspot_owner_id"] == "77"
