from datetime import timedelta

from delivery.alert_view import TREND_DAYS, load_health_trends
from delivery.digest import build_daily_digests
from delivery.pipeline import queue_digests, send_outbox

HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_REASON = "O'Brien & Co said <b>cancel</b> on the call."


def _by_recipient(warehouse):
    return {mail.recipient_id: mail for mail in build_daily_digests(warehouse.con, warehouse.clock)}


def test_one_digest_per_csm_with_only_their_accounts(warehouse):
    warehouse.add_alert("acc-acme")
    warehouse.add_alert("acc-globex", severity="low", priority=8)
    warehouse.add_alert("acc-initech", severity="medium", priority=7)
    warehouse.add_alert("acc-umbrella", status="resolved")

    mails = _by_recipient(warehouse)

    assert set(mails) == {"csm-ana", "csm-bo"}  # nobody without open alerts gets a mail
    ana, bo = mails["csm-ana"], mails["csm-bo"]
    assert (ana.recipient_email, bo.recipient_email) == ("ana@example.com", "bo@example.com")
    for body in (ana.html_body, ana.text_body):
        assert "Acme Corp" in body and "Globex" in body
        assert "Initech" not in body
        assert "Umbrella Health" not in body  # resolved
    for body in (bo.html_body, bo.text_body):
        assert "Initech" in body
        assert "Acme Corp" not in body and "Globex" not in body
    assert {m.kind for m in mails.values()} == {"daily_digest"}
    assert {m.period for m in mails.values()} == {"2026-02-27"}


def test_alerts_sorted_by_priority_then_severity_then_arr(warehouse):
    warehouse.add_alert("acc-globex", severity="medium", priority=5, alert_type="nps_drop")
    warehouse.add_alert("acc-umbrella", severity="medium", priority=3, alert_type="ticket_spike")
    warehouse.add_alert("acc-acme", severity="critical", priority=1, alert_type="payment_failure")
    warehouse.add_alert("acc-globex", severity="high", priority=3, alert_type="champion_dark")
    warehouse.add_alert("acc-acme", severity="medium", priority=3, alert_type="escalation")

    ana = _by_recipient(warehouse)["csm-ana"]

    expected = ["Payment failure", "Champion dark", "Ticket spike", "Escalation", "Nps drop"]
    for body in (ana.text_body, ana.html_body):
        positions = [body.index(label) for label in expected]
        assert positions == sorted(positions), body
    # P3 ties: high before medium; among the mediums, the larger ARR (Umbrella) first.


def test_digest_content(warehouse):
    warehouse.add_alert("acc-acme", severity="critical", priority=1, alert_type="payment_failure")
    warehouse.add_alert(
        "acc-umbrella", severity="high", priority=1, sla_due_at=warehouse.clock - timedelta(hours=3)
    )
    warehouse.add_alert("acc-globex", severity="medium", priority=5)
    warehouse.add_scores("acc-acme", [72, 61, 48])
    warehouse.add_alert("acc-initech", severity="medium", priority=7)

    mails = _by_recipient(warehouse)
    ana, bo = mails["csm-ana"], mails["csm-bo"]

    assert ana.subject == "healthwatch · 3 accounts need you today (2 P1)"
    assert bo.subject == "healthwatch · 1 account needs you today"
    for body in (ana.html_body, ana.text_body):
        assert "72 → 61 → 48" in body  # health trend from the score history
        assert "Logins fell 42%" in body  # reason
        assert "Logins 7d: 70 vs baseline 120 (−42%) · 7d" in body  # evidence
        assert "logins −42% vs 4-week normal" in body and "NPS 4 (detractor)" in body  # top drivers
        assert "seat use at 40%" not in body
        assert "Call the champion within 24 h" in body  # playbook
        assert "Sat 28 Feb 01:00 EST" in body  # SLA due in the CSM's timezone (06:00 UTC)
        assert "overdue by 3 h" in body
    assert "Sat 28 Feb 07:00 CET" in bo.text_body  # Europe/Berlin
    assert ana.html_body.lstrip().startswith("<!DOCTYPE html>")
    assert 'name="viewport"' in ana.html_body


def test_hostile_text_is_escaped_in_html_and_readable_in_text(warehouse):
    warehouse.add_alert(
        "acc-acme",
        account_name=HOSTILE_NAME,
        reason=HOSTILE_REASON,
        playbook="Email <img src=x onerror=alert(2)> the sponsor",
        drivers=[{"feature": "x", "value": 1, "contribution": 1.0, "sentence": "<i>tickets</i> & more"}],
        evidence={"metric": "<svg/onload=alert(3)>", "baseline": 1, "current": 2, "change": 1},
    )
    warehouse.add_alert("acc-globex", account_name="O'Brien & Co")

    ana = _by_recipient(warehouse)["csm-ana"]

    html = ana.html_body
    assert "<script>" not in html and "<img" not in html and "<svg" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "O&#39;Brien &amp; Co said &lt;b&gt;cancel&lt;/b&gt;" in html
    assert "O&#39;Brien &amp; Co" in html
    assert "&lt;i&gt;tickets&lt;/i&gt; &amp; more" in html
    text = ana.text_body
    for raw in (HOSTILE_NAME, HOSTILE_REASON, "O'Brien & Co", "<i>tickets</i> & more"):
        assert raw in text
    assert "&lt;" not in text and "&amp;" not in text and "&#39;" not in text


def test_queue_digests_is_idempotent_and_renders(warehouse):
    warehouse.add_alert("acc-acme")
    warehouse.add_alert("acc-initech", severity="medium", priority=7)

    assert queue_digests(warehouse.con, warehouse.settings) == 2  # clock from the change tables
    assert queue_digests(warehouse.con, warehouse.settings) == 0
    assert send_outbox(warehouse.con, warehouse.settings).rendered == 2
    warehouse.add_alert("acc-globex")
    assert queue_digests(warehouse.con, warehouse.settings) == 0  # today's digests are out already

    rows = warehouse.rows("select recipient_id, period, status from alerts.email_outbox order by 1")
    assert rows == [
        {"recipient_id": "csm-ana", "period": "2026-02-27", "status": "rendered"},
        {"recipient_id": "csm-bo", "period": "2026-02-27", "status": "rendered"},
    ]
    html_files = list(warehouse.settings.outbox_dir.glob("*.html"))
    assert len(html_files) == 2
    assert any("Acme Corp" in p.read_text() for p in html_files)

    next_day = warehouse.clock + timedelta(days=1)
    assert queue_digests(warehouse.con, warehouse.settings, clock=next_day) == 2


def test_owner_without_team_entry_uses_the_alert_contact(warehouse):
    # An account the accounts mart does not know: the alert's own owner and contact stand.
    warehouse.con.execute("delete from signals.accounts where account_id = 'acc-acme'")
    warehouse.add_alert(
        "acc-acme",
        owner_id="csm-new",
        owner_name="Nia New",
        owner_email="nia@example.com",
        owner_timezone=None,
    )
    mails = _by_recipient(warehouse)
    assert mails["csm-new"].recipient_email == "nia@example.com"
    assert "Sat 28 Feb 06:00 UTC" in mails["csm-new"].text_body


def test_digest_follows_the_accounts_current_owner(warehouse):
    # The alert row still names Ana, but Initech is Bo's account: it goes to Bo, never to Ana.
    warehouse.add_alert(
        "acc-initech", owner_id="csm-ana", owner_name="Ana Ruiz", owner_email="ana@example.com"
    )
    warehouse.add_alert("acc-acme")

    mails = _by_recipient(warehouse)

    assert "Initech" in mails["csm-bo"].text_body and "Initech" in mails["csm-bo"].html_body
    assert "Initech" not in mails["csm-ana"].text_body and "Initech" not in mails["csm-ana"].html_body
    assert mails["csm-bo"].recipient_email == "bo@example.com"


def test_digest_works_with_later_alert_columns(warehouse):
    # The alerts engine adds columns over time; unknown ones are ignored, known optional ones read.
    warehouse.con.execute("alter table alerts.health_alerts add column escalated_at timestamp")
    warehouse.con.execute("alter table alerts.health_alerts add column renotify_count integer")
    warehouse.add_alert("acc-acme")
    assert "Acme Corp" in _by_recipient(warehouse)["csm-ana"].text_body


def test_subject_is_one_line(warehouse):
    warehouse.add_alert("acc-acme", priority=1, account_name="Evil\r\nBcc: x@example.com")
    ana = _by_recipient(warehouse)["csm-ana"]
    assert "\n" not in ana.subject and "\r" not in ana.subject


def test_health_trends_are_the_last_daily_scores_within_the_trend_days(warehouse):
    warehouse.add_scores("acc-acme", [90, 85, 72, 61, 48])
    old = warehouse.clock - timedelta(days=TREND_DAYS + 5)
    warehouse.con.execute(  # an account scored last long ago has no trend; later scores win a day
        "insert into scoring.account_health_score_history values "
        "('acc-globex', ?, 'v3', 0.5, 70, 'At-Risk'), ('acc-acme', ?, 'v3', 0.5, 60, 'At-Risk')",
        [old, warehouse.clock - timedelta(hours=1)],
    )
    trends = load_health_trends(warehouse.con, ["acc-acme", "acc-globex"], warehouse.clock)
    assert trends == {"acc-acme": (85.0, 72.0, 61.0, 48.0)}
