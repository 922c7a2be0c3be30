from datetime import timedelta

from delivery.pipeline import queue_weekly_digests
from delivery.weekly import build_weekly_digests

HOSTILE_NAME = "<script>alert(1)</script>"


def _by_recipient(warehouse):
    return {mail.recipient_id: mail for mail in build_weekly_digests(warehouse.con, warehouse.clock)}


def _add_rule_performance(warehouse, rows):
    warehouse.con.execute(
        "create table alerts.rule_performance (alert_type varchar, segment varchar, precision double, alerts integer)"
    )
    warehouse.con.executemany("insert into alerts.rule_performance values (?, ?, ?, ?)", rows)


def test_one_digest_per_manager_with_their_teams_accounts_only(warehouse):
    warehouse.add_alert("acc-acme", severity="high", priority=2)
    warehouse.add_alert("acc-initech", severity="medium", priority=6)
    warehouse.add_alert("acc-globex", severity="low", priority=8)  # below the manager's view
    warehouse.add_alert("acc-hooli", severity="critical", priority=1)

    mails = _by_recipient(warehouse)

    assert set(mails) == {"mgr-lee", "mgr-max"}  # managers only; the VP and CSMs get none
    lee, max_ = mails["mgr-lee"], mails["mgr-max"]
    assert (lee.kind, lee.period, lee.recipient_email) == ("weekly_digest", "2026-W09", "lee@example.com")
    for body in (lee.html_body, lee.text_body):
        assert "Acme Corp" in body and "Initech" in body
        assert "Hooli" not in body  # another team's account
        assert "Globex" not in body  # low severity
        assert "Ana Ruiz" in body and "Bo Chen" in body
        assert "Cy Okafor" not in body
    for body in (max_.html_body, max_.text_body):
        assert "Hooli" in body
        assert not any(name in body for name in ("Acme Corp", "Initech", "Globex", "Umbrella"))


def test_sla_breaches_are_open_alerts_past_due(warehouse):
    warehouse.add_alert(
        "acc-acme", sla_due_at=warehouse.clock - timedelta(hours=5), alert_type="payment_failure"
    )
    warehouse.add_alert(
        "acc-globex",
        status="acknowledged",
        sla_due_at=warehouse.clock - timedelta(hours=5),
        alert_type="ticket_spike",
    )
    warehouse.add_alert("acc-initech", severity="medium", priority=5, alert_type="usage_drop")

    lee = _by_recipient(warehouse)["mgr-lee"]

    assert lee.subject == "healthwatch · your team's week: 3 open alerts, 1 past SLA"
    text = lee.text_body
    breaches = text[text.index("PAST THEIR SLA") : text.index("BY CSM")]
    assert "Acme Corp — Payment failure (Ana Ruiz): overdue by 5 h" in breaches
    assert "Globex" not in breaches  # acknowledged in time counts as answered
    assert "- Ana Ruiz: 2 · 2 · 0 · 1" in text and "- Bo Chen: 1 · 0 · 0 · 0" in text


def test_precision_not_enough_outcomes_without_the_table(warehouse):
    warehouse.add_alert("acc-acme")
    lee = _by_recipient(warehouse)["mgr-lee"]
    for body in (lee.html_body, lee.text_body):
        assert "Not enough outcomes yet" in body


def test_precision_per_alert_type_from_rule_performance(warehouse):
    warehouse.add_alert("acc-acme")
    _add_rule_performance(
        warehouse,
        [
            ("usage_drop", "enterprise", 0.5, 10),
            ("usage_drop", "smb", 0.8, 30),
            ("payment_failure", "enterprise", None, 2),
        ],
    )
    lee = _by_recipient(warehouse)["mgr-lee"]
    assert "Usage drop: 72% of 40 alerts" in lee.text_body  # (0.5×10 + 0.8×30) / 40
    assert "Payment failure: not enough outcomes yet of 2 alerts" in lee.text_body
    assert "72%" in lee.html_body


def test_precision_is_weighted_by_alerts_with_an_outcome(warehouse):
    # The alerts engine's table: precision is over the alerts whose task came back with an outcome.
    warehouse.add_alert("acc-acme")
    warehouse.con.execute(
        "create table alerts.rule_performance (alert_type varchar, segment varchar, precision double,"
        " alerts integer, with_outcome integer)"
    )
    warehouse.con.executemany(
        "insert into alerts.rule_performance values (?, ?, ?, ?, ?)",
        [("usage_drop", "enterprise", 0.5, 30, 20), ("usage_drop", "smb", 1.0, 10, 5)],
    )
    lee = _by_recipient(warehouse)["mgr-lee"]
    assert "Usage drop: 60% of 40 alerts" in lee.text_body  # (0.5×20 + 1.0×5) / 25


def test_rule_performance_without_the_expected_columns_is_ignored(warehouse):
    warehouse.add_alert("acc-acme")
    warehouse.con.execute("create table alerts.rule_performance (rule varchar, hits integer)")
    assert "Not enough outcomes yet" in _by_recipient(warehouse)["mgr-lee"].text_body


def test_in_manager_digest_column_wins_when_present(warehouse):
    warehouse.con.execute("alter table alerts.health_alerts add column in_manager_digest boolean")
    warehouse.add_alert("acc-acme", severity="high", in_manager_digest=False)
    warehouse.add_alert("acc-globex", severity="low", priority=8, in_manager_digest=True)
    lee = _by_recipient(warehouse)["mgr-lee"]
    assert "Globex" in lee.text_body and "Acme Corp" not in lee.text_body


def test_week_counts_opened_and_resolved(warehouse):
    warehouse.add_alert("acc-acme", opened_at=warehouse.clock - timedelta(days=2))
    warehouse.add_alert("acc-globex", opened_at=warehouse.clock - timedelta(days=20))
    warehouse.add_alert(
        "acc-umbrella",
        status="resolved",
        opened_at=warehouse.clock - timedelta(days=9),
        resolved_at=warehouse.clock - timedelta(days=1),
    )
    text = _by_recipient(warehouse)["mgr-lee"].text_body
    counts = {
        " ".join(line.split()[:-1]): line.split()[-1] for line in text.splitlines() if "in 7 days" in line
    }
    assert counts == {"opened in 7 days": "1", "resolved in 7 days": "1"}


def test_manager_without_alerts_gets_an_all_quiet_digest(warehouse):
    warehouse.add_alert("acc-acme")
    max_ = _by_recipient(warehouse)["mgr-max"]
    assert "Your team has 0 open alerts." in max_.text_body
    assert "No open alerts of medium severity or above." in max_.text_body


def test_hostile_names_are_escaped(warehouse):
    warehouse.add_alert("acc-acme", account_name=HOSTILE_NAME, reason="<b>bold</b> & more")
    lee = _by_recipient(warehouse)["mgr-lee"]
    assert "<script>" not in lee.html_body and "<b>bold" not in lee.html_body
    assert "&lt;script&gt;" in lee.html_body and "&lt;b&gt;bold&lt;/b&gt; &amp; more" in lee.html_body
    assert HOSTILE_NAME in lee.text_body


def test_weekly_digest_is_queued_once_per_week(warehouse):
    warehouse.add_alert("acc-acme")
    assert queue_weekly_digests(warehouse.con, warehouse.settings) == 2
    assert (
        queue_weekly_digests(warehouse.con, warehouse.settings, clock=warehouse.clock + timedelta(days=1))
        == 0
    )
    assert (
        queue_weekly_digests(warehouse.con, warehouse.settings, clock=warehouse.clock + timedelta(days=7))
        == 2
    )
