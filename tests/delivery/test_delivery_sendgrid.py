"""Sending through SendGrid's own client against a real HTTP server on 127.0.0.1."""

import logging
import socket

import pytest

from delivery.outbox import Mail, deliver, enqueue
from delivery.pipeline import send_outbox

API_KEY = "SG.test-key-0123456789abcdef"
OUTBOX = "select * from alerts.email_outbox"


def _enqueue(warehouse) -> str:
    mail = Mail(
        kind="daily_digest",
        recipient_id="csm-ana",
        recipient_email="ana@example.com",
        period="2026-02-27",
        subject="healthwatch · 1 account needs you today",
        html_body="<p>Acme Corp</p>",
        text_body="Acme Corp",
    )
    enqueue(warehouse.con, [mail])
    return mail.mail_id


def _assert_no_key_anywhere(warehouse):
    for row in warehouse.rows(OUTBOX):
        assert all(API_KEY not in str(value) for value in row.values())
    data_dir = warehouse.settings.data_dir
    for path in data_dir.rglob("*"):
        if path.is_file() and path.suffix != ".duckdb":
            assert API_KEY not in path.read_text(errors="replace"), path
    assert API_KEY.encode() not in warehouse.path.read_bytes()


def test_202_marks_the_mail_sent(warehouse, sendgrid_server, caplog):
    caplog.set_level(logging.DEBUG)
    mail_id = _enqueue(warehouse)
    sendgrid_server.message_id = "sg-msg-42"

    summary = send_outbox(warehouse.con, warehouse.settings, api_key=API_KEY, host=sendgrid_server.host)

    assert (summary.attempted, summary.sent) == (1, 1)
    (row,) = warehouse.rows(OUTBOX)
    assert row["status"] == "sent" and row["attempts"] == 1
    assert row["provider_message_id"] == "sg-msg-42"
    assert row["sent_at"] is not None and row["last_error"] is None
    (request,) = sendgrid_server.requests
    assert request.path == "/v3/mail/send"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.body["custom_args"]["mail_id"] == mail_id
    assert request.body["personalizations"][0]["to"] == [{"email": "ana@example.com"}]
    assert [c["type"] for c in request.body["content"]] == ["text/plain", "text/html"]
    assert not warehouse.settings.outbox_dir.exists()  # sent, not rendered
    # python_http_client logs the request headers at debug level: the filter redacts them.
    assert "Bearer [redacted]" in caplog.text and API_KEY not in caplog.text
    _assert_no_key_anywhere(warehouse)

    # Sent is final: delivering again sends nothing.
    assert deliver(warehouse.con, warehouse.settings, API_KEY, sendgrid_server.host).attempted == 0
    assert len(sendgrid_server.requests) == 1


@pytest.mark.parametrize("status", [500, 503, 429])
def test_retryable_errors_stay_pending(warehouse, sendgrid_server, status):
    _enqueue(warehouse)
    sendgrid_server.status = status

    summary = deliver(warehouse.con, warehouse.settings, API_KEY, sendgrid_server.host)

    assert (summary.deferred, summary.sent, summary.failed) == (1, 0, 0)
    (row,) = warehouse.rows(OUTBOX)
    assert row["status"] == "pending" and row["attempts"] == 1
    assert str(status) in row["last_error"] and API_KEY not in row["last_error"]
    assert row["sent_at"] is None

    deliver(warehouse.con, warehouse.settings, API_KEY, sendgrid_server.host)
    (row,) = warehouse.rows(OUTBOX)
    assert row["status"] == "pending" and row["attempts"] == 2
    _assert_no_key_anywhere(warehouse)


def test_the_retry_that_succeeds_sends_once(warehouse, sendgrid_server):
    _enqueue(warehouse)
    sendgrid_server.status = 500
    deliver(warehouse.con, warehouse.settings, API_KEY, sendgrid_server.host)
    sendgrid_server.status = 202
    deliver(warehouse.con, warehouse.settings, API_KEY, sendgrid_server.host)
    deliver(warehouse.con, warehouse.settings, API_KEY, sendgrid_server.host)

    (row,) = warehouse.rows(OUTBOX)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 2, None)
    assert len(sendgrid_server.requests) == 2


def test_400_fails_and_is_not_retried(warehouse, sendgrid_server):
    _enqueue(warehouse)
    sendgrid_server.status = 400

    summary = deliver(warehouse.con, warehouse.settings, API_KEY, sendgrid_server.host)
    deliver(warehouse.con, warehouse.settings, API_KEY, sendgrid_server.host)

    assert summary.failed == 1
    (row,) = warehouse.rows(OUTBOX)
    assert row["status"] == "failed" and row["attempts"] == 1
    assert "400" in row["last_error"]
    assert len(sendgrid_server.requests) == 1
    _assert_no_key_anywhere(warehouse)


def test_an_error_body_echoing_the_key_is_redacted(warehouse, sendgrid_server):
    _enqueue(warehouse)
    sendgrid_server.status = 401
    sendgrid_server.echo_authorization = True

    deliver(warehouse.con, warehouse.settings, API_KEY, sendgrid_server.host)

    (row,) = warehouse.rows(OUTBOX)
    assert row["status"] == "failed"
    assert "[redacted]" in row["last_error"]
    _assert_no_key_anywhere(warehouse)


def test_network_error_stays_pending(warehouse):
    _enqueue(warehouse)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    summary = deliver(warehouse.con, warehouse.settings, API_KEY, f"http://127.0.0.1:{port}", timeout=5)

    assert summary.deferred == 1
    (row,) = warehouse.rows(OUTBOX)
    assert row["status"] == "pending" and row["attempts"] == 1
    assert row["last_error"].startswith("network error")
    _assert_no_key_anywhere(warehouse)


def test_without_a_key_nothing_is_sent(warehouse, sendgrid_server):
    _enqueue(warehouse)
    summary = send_outbox(warehouse.con, warehouse.settings, api_key=None, host=sendgrid_server.host)
    assert summary.rendered == 1
    assert sendgrid_server.requests == []
