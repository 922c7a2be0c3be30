"""SendGrid's own client against a real HTTP server on 127.0.0.1 standing in for its v3 API."""

import logging
import socket
import time
from datetime import timedelta

import pytest

from delivery.outbox import Mail, SendGridTransport, deliver, deliver_with, enqueue, requeue_failed
from delivery.pipeline import send_outbox
from delivery.retry import RetryPolicy

API_KEY = "SG.test-key-0123456789abcdef"
OUTBOX = "select * from alerts.email_outbox order by mail_id"
POLICY = RetryPolicy(max_attempts=3, base_delay_seconds=60, max_inline_wait_seconds=10)


def _mail(recipient_id: str = "csm-ana", subject: str = "healthwatch · 1 account needs you today") -> Mail:
    return Mail(
        kind="daily_digest",
        recipient_id=recipient_id,
        recipient_email=f"{recipient_id}@example.com",
        period="2026-02-27",
        subject=subject,
        html_body="<p>Acme Corp</p>",
        text_body="Acme Corp",
    )


def _enqueue(warehouse, *recipients: str) -> list[str]:
    mails = [_mail(r) for r in recipients or ("csm-ana",)]
    enqueue(warehouse.con, mails)
    return [m.mail_id for m in mails]


def _deliver(warehouse, server, clock, **kwargs):
    return deliver(
        warehouse.con,
        warehouse.settings,
        API_KEY,
        server.host,
        clock=clock,
        sleep=clock.sleep,
        policy=kwargs.pop("policy", POLICY),
        **kwargs,
    )


def _assert_no_key_anywhere(warehouse):
    for row in warehouse.rows(OUTBOX):
        assert all(API_KEY not in str(value) for value in row.values())
    for path in warehouse.settings.data_dir.rglob("*"):
        if path.is_file() and path.suffix != ".duckdb":
            assert API_KEY not in path.read_text(errors="replace"), path
    warehouse.con.execute("checkpoint")
    assert API_KEY.encode() not in warehouse.path.read_bytes()


class Crash(BaseException):
    """The process dies: raised after SendGrid answered and before the outbox recorded it."""


def _crash(mail, outcome):
    raise Crash


def test_202_marks_the_mail_sent(warehouse, sendgrid_server, caplog):
    caplog.set_level(logging.DEBUG)
    (mail_id,) = _enqueue(warehouse)
    sendgrid_server.message_id = "sg-msg-42"

    summary = send_outbox(warehouse.con, warehouse.settings, api_key=API_KEY, host=sendgrid_server.host)

    assert (summary.attempted, summary.sent) == (1, 1)
    (row,) = warehouse.rows(OUTBOX)
    assert row["status"] == "sent" and row["attempts"] == 1
    assert row["provider_message_id"] == "sg-msg-42"
    assert row["sent_at"] is not None and row["last_error"] is None and not row["possible_duplicate"]
    (request,) = sendgrid_server.requests
    assert request.path == "/v3/mail/send"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.body["custom_args"]["mail_id"] == mail_id
    assert request.body["personalizations"][0]["to"] == [{"email": "csm-ana@example.com"}]
    assert [c["type"] for c in request.body["content"]] == ["text/plain", "text/html"]
    assert not warehouse.settings.outbox_dir.exists()  # sent, not rendered
    # python_http_client logs the request headers at debug level: the filter redacts them.
    assert "Bearer [redacted]" in caplog.text and API_KEY not in caplog.text
    _assert_no_key_anywhere(warehouse)

    # Sent is final: delivering again sends nothing.
    assert deliver(warehouse.con, warehouse.settings, API_KEY, sendgrid_server.host).attempted == 0
    assert len(sendgrid_server.requests) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_backs_off_to_a_later_run(warehouse, sendgrid_server, clock, status):
    _enqueue(warehouse)
    sendgrid_server.status = status

    summary = _deliver(warehouse, sendgrid_server, clock)

    assert (summary.deferred, summary.sent, summary.failed) == (1, 0, 0)
    (row,) = warehouse.rows(OUTBOX)
    assert row["status"] == "pending" and row["attempts"] == 1
    assert str(status) in row["last_error"] and API_KEY not in row["last_error"]
    assert row["next_attempt_at"] == clock.now + timedelta(seconds=60)
    assert clock.slept == []  # a 60 s back-off is not slept within the run

    # A run before the back-off is over does not touch it: no busy loop.
    clock.advance(seconds=30)
    assert _deliver(warehouse, sendgrid_server, clock).attempted == 0
    assert len(sendgrid_server.requests) == 1

    clock.advance(seconds=31)
    sendgrid_server.status = 202
    assert _deliver(warehouse, sendgrid_server, clock).sent == 1
    (row,) = warehouse.rows(OUTBOX)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 2, None)
    assert len(sendgrid_server.accepted()) == 1
    _assert_no_key_anywhere(warehouse)


def test_429_then_202_waits_for_the_reset_and_delivers_once(warehouse, sendgrid_server, clock):
    (mail_id,) = _enqueue(warehouse)
    sendgrid_server.script.append((429, {"X-RateLimit-Reset": str(clock.epoch(3))}, {"errors": []}))

    summary = _deliver(warehouse, sendgrid_server, clock)

    assert clock.slept == [3.0]  # one wait, as long as SendGrid asked: no busy loop
    assert [r.status for r in sendgrid_server.requests] == [429, 202]
    assert sendgrid_server.accepted_ids() == [mail_id]
    assert (summary.attempted, summary.sent, summary.deferred) == (2, 1, 0)
    (row,) = warehouse.rows(OUTBOX)
    assert (row["status"], row["attempts"], row["throttled"]) == ("sent", 2, 1)


def test_a_long_rate_limit_leaves_everything_for_a_later_run(warehouse, sendgrid_server, clock):
    ids = _enqueue(warehouse, "csm-ana", "csm-bo", "csm-cy")
    sendgrid_server.script.append((429, {"X-RateLimit-Reset": str(clock.epoch(120))}, {"errors": []}))

    first = _deliver(warehouse, sendgrid_server, clock)

    # One request, then the run stops: the other mails are not thrown at a rate-limited API.
    assert len(sendgrid_server.requests) == 1 and clock.slept == []
    assert (first.deferred, first.waiting, first.sent) == (1, 2, 0)
    limited = [r for r in warehouse.rows(OUTBOX) if r["throttled"]]
    assert len(limited) == 1 and limited[0]["next_attempt_at"] == clock.now + timedelta(seconds=120)

    clock.advance(seconds=60)
    _deliver(warehouse, sendgrid_server, clock)  # the two untried mails go; the limited one waits
    clock.advance(seconds=61)
    _deliver(warehouse, sendgrid_server, clock)
    _deliver(warehouse, sendgrid_server, clock)

    assert sorted(sendgrid_server.accepted_ids()) == sorted(ids)  # each exactly once
    assert {r["status"] for r in warehouse.rows(OUTBOX)} == {"sent"}


def test_rate_limiting_does_not_use_up_the_attempts(warehouse, sendgrid_server, clock):
    _enqueue(warehouse)
    for _ in range(POLICY.max_attempts + 2):
        sendgrid_server.script.append((429, {"Retry-After": "300"}, {"errors": []}))
        _deliver(warehouse, sendgrid_server, clock)
        clock.advance(seconds=301)
    (row,) = warehouse.rows(OUTBOX)
    assert row["status"] == "pending" and row["throttled"] == POLICY.max_attempts + 2
    assert _deliver(warehouse, sendgrid_server, clock).sent == 1


def test_repeated_500s_fail_with_the_reason_and_lose_nothing(warehouse, sendgrid_server, clock):
    doomed, fine = _enqueue(warehouse, "csm-ana", "csm-bo")

    def respond(request):
        if request.body["custom_args"]["mail_id"] == doomed:
            return 500, {}, {"errors": [{"message": "upstream exploded"}]}
        return 202, {"X-Message-Id": "ok-1"}, b""

    sendgrid_server.api._respond = respond
    for _ in range(POLICY.max_attempts + 2):
        _deliver(warehouse, sendgrid_server, clock)
        clock.advance(hours=2)

    rows = {r["mail_id"]: r for r in warehouse.rows(OUTBOX)}
    assert rows[fine]["status"] == "sent"
    failed = rows[doomed]
    assert failed["status"] == "failed" and failed["attempts"] == POLICY.max_attempts
    assert "HTTP 500" in failed["last_error"] and "upstream exploded" in failed["last_error"]
    assert f"gave up after {POLICY.max_attempts} attempts" in failed["last_error"]
    # Back-off doubled between the attempts, and the run never retried in a loop.
    doomed_requests = [r for r in sendgrid_server.requests if r.body["custom_args"]["mail_id"] == doomed]
    assert len(doomed_requests) == POLICY.max_attempts
    # Nothing is lost: the failed mail keeps its bodies and can be queued again.
    assert failed["html_body"] == "<p>Acme Corp</p>"
    sendgrid_server.api._respond = lambda request: (202, {"X-Message-Id": "ok-2"}, b"")
    assert requeue_failed(warehouse.con, [doomed], now=clock.now) == 1
    assert _deliver(warehouse, sendgrid_server, clock).sent == 1
    assert sorted(sendgrid_server.accepted_ids()) == sorted([doomed, fine])


def test_400_fails_at_once_with_the_reason(warehouse, sendgrid_server, clock):
    _enqueue(warehouse)
    sendgrid_server.status = 400

    summary = _deliver(warehouse, sendgrid_server, clock)
    clock.advance(days=1)
    _deliver(warehouse, sendgrid_server, clock)

    assert summary.failed == 1
    (row,) = warehouse.rows(OUTBOX)
    assert row["status"] == "failed" and row["attempts"] == 1
    assert row["last_error"].startswith("HTTP 400") and "status 400" in row["last_error"]
    assert len(sendgrid_server.requests) == 1
    _assert_no_key_anywhere(warehouse)


def test_an_error_body_echoing_the_key_is_redacted(warehouse, sendgrid_server, clock):
    _enqueue(warehouse)
    sendgrid_server.status = 401
    sendgrid_server.echo_authorization = True

    _deliver(warehouse, sendgrid_server, clock)

    (row,) = warehouse.rows(OUTBOX)
    assert row["status"] == "failed"
    assert "[redacted]" in row["last_error"]
    _assert_no_key_anywhere(warehouse)


def test_network_error_backs_off(warehouse, clock):
    _enqueue(warehouse)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    summary = deliver(
        warehouse.con,
        warehouse.settings,
        API_KEY,
        f"http://127.0.0.1:{port}",
        timeout=5,
        clock=clock,
        sleep=clock.sleep,
        policy=POLICY,
    )

    assert summary.deferred == 1
    (row,) = warehouse.rows(OUTBOX)
    assert row["status"] == "pending" and row["attempts"] == 1 and row["next_attempt_at"] > clock.now
    assert row["last_error"].startswith("network error") and not row["possible_duplicate"]
    _assert_no_key_anywhere(warehouse)


def test_a_crash_between_send_and_record_costs_at_most_one_duplicate(warehouse, sendgrid_server, clock):
    (mail_id,) = _enqueue(warehouse)
    crashing = SendGridTransport(API_KEY, sendgrid_server.host, after_send=_crash, clock=clock)
    with pytest.raises(Crash):
        deliver_with(warehouse.con, crashing, clock=clock, sleep=clock.sleep, policy=POLICY)

    (row,) = warehouse.rows(OUTBOX)
    assert (row["status"], row["attempts"]) == ("sending", 1)
    assert sendgrid_server.accepted_ids() == [mail_id]  # it did reach SendGrid

    # A run soon after leaves the claim alone: it could be a run still in flight.
    clock.advance(minutes=5)
    assert _deliver(warehouse, sendgrid_server, clock).attempted == 0

    # Once the claim is stale, the row is reconciled: sent once more, and marked as such.
    clock.advance(minutes=10)
    summary = _deliver(warehouse, sendgrid_server, clock)
    assert (summary.reconciled, summary.possible_duplicates, summary.sent) == (1, 1, 1)
    (row,) = warehouse.rows(OUTBOX)
    assert (row["status"], row["attempts"], row["possible_duplicate"]) == ("sent", 2, True)
    assert "may get it twice" in row["reconciliation"] and row["reconciled_at"] is not None

    clock.advance(days=1)
    assert _deliver(warehouse, sendgrid_server, clock).attempted == 0
    assert sendgrid_server.accepted_ids() == [mail_id, mail_id]  # at most one duplicate


def test_a_second_unknown_outcome_fails_instead_of_a_third_send(warehouse, sendgrid_server, clock):
    (mail_id,) = _enqueue(warehouse)
    crashing = SendGridTransport(API_KEY, sendgrid_server.host, after_send=_crash, clock=clock)
    for _ in range(2):
        with pytest.raises(Crash):
            deliver_with(warehouse.con, crashing, clock=clock, sleep=clock.sleep, policy=POLICY)
        clock.advance(minutes=11)

    summary = _deliver(warehouse, sendgrid_server, clock)

    assert (summary.reconciled, summary.failed, summary.attempted) == (1, 1, 0)
    (row,) = warehouse.rows(OUTBOX)
    assert row["status"] == "failed" and row["possible_duplicate"]
    assert mail_id in row["last_error"] and "at most twice" in row["last_error"]
    assert sendgrid_server.accepted_ids() == [mail_id, mail_id]


def test_without_a_key_nothing_is_sent(warehouse, sendgrid_server):
    _enqueue(warehouse)
    summary = send_outbox(warehouse.con, warehouse.settings, api_key=None, host=sendgrid_server.host)
    assert summary.rendered == 1
    assert sendgrid_server.requests == []
    (row,) = warehouse.rows(OUTBOX)
    assert row["status"] == "rendered" and row["rendered_path"].endswith(".html")


def test_a_lost_answer_is_retried_once_and_marked(warehouse, sendgrid_server, clock):
    (mail_id,) = _enqueue(warehouse)
    slow = {"first": True}

    def respond(request):
        if slow.pop("first", False):
            time.sleep(1.0)  # longer than the client's timeout: SendGrid got it, we never hear back
        return 202, {"X-Message-Id": "late"}, b""

    sendgrid_server.api._respond = respond
    summary = _deliver(warehouse, sendgrid_server, clock, timeout=0.3)

    assert summary.deferred == 1
    (row,) = warehouse.rows(OUTBOX)
    assert row["status"] == "pending" and row["possible_duplicate"]
    assert "network error after sending" in row["last_error"] and "duplicate" in row["last_error"]

    clock.advance(minutes=2)
    assert _deliver(warehouse, sendgrid_server, clock, timeout=5).sent == 1
    (row,) = warehouse.rows(OUTBOX)
    assert (row["status"], row["possible_duplicate"]) == ("sent", True)
    assert [r.body["custom_args"]["mail_id"] for r in sendgrid_server.requests] == [mail_id, mail_id]
