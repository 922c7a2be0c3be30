import json
from datetime import timedelta

from delivery.critical import build_critical_mails
from delivery.outbox import mail_id
from delivery.pipeline import queue_critical_alerts, send_outbox

HOSTILE = "<script>alert(1)</script> & <@U123|boss>"


def _mails(warehouse, clock=None, **kwargs):
    return build_critical_mails(warehouse.con, clock or warehouse.clock, **kwargs)


def test_one_mail_per_routed_person(warehouse):
    alert_id = warehouse.add_alert("acc-acme", severity="critical", priority=1)
    warehouse.add_alert("acc-globex", severity="high", priority=2)  # not critical: no immediate mail

    mails = _mails(warehouse)

    assert {(m.recipient_id, m.recipient_email) for m in mails} == {
        ("csm-ana", "ana@example.com"),
        ("mgr-lee", "lee@example.com"),
        ("vp-kim", "kim@example.com"),
    }
    for mail in mails:
        assert (mail.kind, mail.period, mail.channel) == ("critical_alert", alert_id, "email")
        assert mail.mail_id == mail_id(mail.recipient_id, "critical_alert", alert_id)
        assert mail.subject == "Critical · Acme Corp — Usage drop (P1)"
        for body in (mail.html_body, mail.text_body):
            assert "Logins fell 42%" in body and "Call the champion" in body
            assert "Globex" not in body
    by_person = {m.recipient_id: m.text_body for m in mails}
    assert "an account you own" in by_person["csm-ana"]
    assert "an account of Ana Ruiz, on your team" in by_person["mgr-lee"]
    assert "Sat 28 Feb 01:00 EST" in by_person["csm-ana"]  # due in the reader's timezone


def test_a_rerun_queues_nothing_new(warehouse):
    warehouse.add_alert("acc-acme", severity="critical", priority=1)
    assert queue_critical_alerts(warehouse.con, warehouse.settings) == 3
    assert queue_critical_alerts(warehouse.con, warehouse.settings) == 0
    later = warehouse.clock + timedelta(hours=5)
    assert queue_critical_alerts(warehouse.con, warehouse.settings, clock=later) == 0


def test_only_new_leaves_out_what_the_outbox_holds_before_rendering(warehouse):
    first = warehouse.add_alert("acc-acme", severity="critical", priority=1)
    queue_critical_alerts(warehouse.con, warehouse.settings)
    assert (
        _mails(warehouse, only_new=True, slack=True) == _mails(warehouse, slack=True)[-1:]
    )  # Slack's not queued
    assert _mails(warehouse, only_new=True) == []
    second = warehouse.add_alert("acc-globex", severity="critical", priority=1)
    a_day_later = warehouse.clock + timedelta(hours=24)
    new = _mails(warehouse, a_day_later, only_new=True)
    assert new == _mails(warehouse, a_day_later)  # nothing of that day queued yet
    assert {m.period for m in new} == {f"{first}#r1", f"{second}#r1"}
    queue_critical_alerts(warehouse.con, warehouse.settings, clock=a_day_later)
    assert _mails(warehouse, a_day_later, only_new=True) == []
    third = warehouse.add_alert("acc-initech", severity="critical", priority=1)
    mixed = _mails(warehouse, a_day_later, only_new=True)
    assert mixed and {m.period for m in mixed} == {f"{third}#r1"}
    assert mixed == [m for m in _mails(warehouse, a_day_later) if m.period == f"{third}#r1"]


def test_a_reminder_after_the_repeat_interval_only_while_unacknowledged(warehouse):
    alert_id = warehouse.add_alert("acc-acme", severity="critical", priority=1)
    queue_critical_alerts(warehouse.con, warehouse.settings)

    a_day_later = warehouse.clock + timedelta(hours=24)
    reminders = _mails(warehouse, a_day_later)
    assert {m.period for m in reminders} == {f"{alert_id}#r1"}
    assert all(m.subject.startswith("Reminder: ") for m in reminders)
    assert "still open and not acknowledged" in reminders[0].text_body
    assert queue_critical_alerts(warehouse.con, warehouse.settings, clock=a_day_later) == 3

    warehouse.update_alert(alert_id, status="acknowledged")
    assert (
        queue_critical_alerts(warehouse.con, warehouse.settings, clock=a_day_later + timedelta(days=3)) == 0
    )
    assert _mails(warehouse, a_day_later, repeat=None)[0].period == alert_id


def test_escalation_to_critical_is_a_new_notification(warehouse):
    # escalated_at is optional for delivery: read when the alerts engine writes it.
    warehouse.con.execute("alter table alerts.health_alerts add column escalated_at timestamp")
    warehouse.con.execute("alter table alerts.health_alerts add column escalated_from varchar")
    alert_id = warehouse.add_alert("acc-acme", severity="high", priority=2)
    assert _mails(warehouse) == []

    escalated = warehouse.clock + timedelta(hours=2)
    warehouse.update_alert(
        alert_id, severity="critical", priority=1, escalated_at=escalated, escalated_from="high"
    )
    mails = _mails(warehouse, escalated)
    assert {m.period for m in mails} == {f"{alert_id}:critical:20260227T140000"}
    # The repeat interval counts from the escalation, not from the opening.
    assert {m.period for m in _mails(warehouse, escalated + timedelta(hours=23))} == {mails[0].period}


def test_the_alerts_engines_notification_key_wins(warehouse):
    warehouse.con.execute("alter table alerts.health_alerts add column notification_key varchar")
    alert_id = warehouse.add_alert("acc-acme", severity="critical", priority=1, notification_key="n2")
    assert {m.period for m in _mails(warehouse, warehouse.clock + timedelta(days=3))} == {f"{alert_id}:n2"}


def test_the_current_owner_replaces_a_previous_one(warehouse):
    warehouse.add_alert(
        "acc-initech",  # Bo's account; the alert row still routes to Ana
        severity="critical",
        priority=1,
        owner_id="csm-ana",
        notify_member_ids=["csm-ana", "mgr-lee", "vp-kim"],
    )
    assert {m.recipient_id for m in _mails(warehouse)} == {"csm-bo", "mgr-lee", "vp-kim"}


def test_hostile_text_cannot_inject_markup(warehouse):
    warehouse.add_alert("acc-acme", severity="critical", priority=1, account_name=HOSTILE, reason=HOSTILE)
    mail = _mails(warehouse)[0]
    assert "<script>" not in mail.html_body and "&lt;script&gt;" in mail.html_body
    assert HOSTILE in mail.text_body


def test_no_slack_messages_without_a_webhook(warehouse):
    warehouse.add_alert("acc-acme", severity="critical", priority=1)
    assert {m.channel for m in _mails(warehouse)} == {"email"}
    queue_critical_alerts(warehouse.con, warehouse.settings)
    assert warehouse.rows("select count(*) as n from alerts.email_outbox where channel = 'slack'") == [
        {"n": 0}
    ]


def test_slack_block_kit_escapes_mrkdwn(warehouse):
    alert_id = warehouse.add_alert(
        "acc-acme", severity="critical", priority=1, account_name=HOSTILE, reason=HOSTILE
    )
    (slack,) = [m for m in _mails(warehouse, slack=True) if m.channel == "slack"]

    assert (slack.recipient_id, slack.period) == ("slack", alert_id)
    payload = json.loads(slack.payload)
    texts = [payload["text"]]
    for block in payload["blocks"]:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts += [f["text"] for f in block.get("fields", [])]
        texts += [e["text"] for e in block.get("elements", [])]
    joined = "\n".join(texts)
    assert "<" not in joined and ">" not in joined.replace("&gt;", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;@U123|boss&gt;" in joined
    assert "*Owner*\nAna Ruiz" in joined
    assert payload["blocks"][0]["type"] == "section"


def test_slack_messages_are_delivered_once(warehouse, slack_server, clock):
    warehouse.add_alert("acc-acme", severity="critical", priority=1)
    warehouse.add_alert("acc-hooli", severity="critical", priority=1)
    url = slack_server.webhook_url
    for _ in range(2):
        queue_critical_alerts(warehouse.con, warehouse.settings, slack_webhook_url=url)
        send_outbox(warehouse.con, warehouse.settings, slack_webhook_url=url, clock=clock, sleep=clock.sleep)

    assert len(slack_server.requests) == 2
    assert {r.path for r in slack_server.requests} == {"/services/T000/B000/secret-XXXXXXXXXXXXXXXX"}
    assert all("blocks" in r.body for r in slack_server.requests)
    rows = warehouse.rows("select status, channel from alerts.email_outbox where channel = 'slack'")
    assert rows == [{"status": "sent", "channel": "slack"}] * 2


def test_slack_errors_follow_the_retry_discipline_and_hide_the_url(warehouse, slack_server, clock):
    warehouse.add_alert("acc-acme", severity="critical", priority=1)
    url = slack_server.webhook_url
    queue_critical_alerts(warehouse.con, warehouse.settings, slack_webhook_url=url)
    slack_server.script.append((429, {"Retry-After": "2"}, "rate_limited"))
    slack_server.script.append((404, {}, f"no_service {url}"))

    send_outbox(warehouse.con, warehouse.settings, slack_webhook_url=url, clock=clock, sleep=clock.sleep)

    assert clock.slept == [2.0]
    (row,) = warehouse.rows("select * from alerts.email_outbox where channel = 'slack'")
    assert row["status"] == "failed" and row["last_error"].startswith("HTTP 404")
    assert "secret-XXXX" not in row["last_error"] and "[redacted]" in row["last_error"]


def test_the_alerts_engines_repeat_reason_marks_a_reminder(warehouse):
    for column in (
        "notification_key varchar",
        "notify_reason varchar",
        "escalated_from varchar",
        "escalation_reason varchar",
    ):
        warehouse.con.execute(f"alter table alerts.health_alerts add column {column}")
    warehouse.con.execute("alter table alerts.health_alerts add column playbook_steps json")
    warehouse.add_alert(
        "acc-acme",
        severity="critical",
        priority=1,
        notification_key="3-repeat",
        notify_reason="repeat",
        escalated_from="high",
        escalation_reason="sla_breach",
        playbook_steps='["Call the <b>sponsor</b>", "Send the recap"]',
    )
    mail = next(m for m in _mails(warehouse) if m.recipient_id == "csm-ana")
    assert mail.period == "alert-001:3-repeat" and mail.subject.startswith("Reminder: ")
    assert "Escalated from high after its SLA passed." in mail.text_body
    assert "1. Call the <b>sponsor</b>" in mail.text_body and "2. Send the recap" in mail.text_body
    assert "<li>Call the &lt;b&gt;sponsor&lt;/b&gt;</li>" in mail.html_body
