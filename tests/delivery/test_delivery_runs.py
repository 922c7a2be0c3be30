"""Whole delivery passes (what the pipeline's delivery assets run) against loopback SendGrid,
Slack and HubSpot servers: nothing lost, nothing doubled, nobody sees another's accounts."""

from collections import Counter
from datetime import timedelta

import pytest

from delivery.outbox import SendGridTransport, deliver_with
from delivery.pipeline import queue_critical_alerts, queue_digests, queue_weekly_digests, run_delivery
from delivery.retry import RetryPolicy

API_KEY = "SG.run-key-0123456789abcdef"
HUBSPOT_TOKEN = "pat-na1-test-token-0123456789"
POLICY = RetryPolicy(max_attempts=3, base_delay_seconds=60)

# Whose accounts are whose (tests/delivery/conftest.py).
ACCOUNTS_OF = {
    "csm-ana": {"Acme Corp", "Globex", "Umbrella Health"},
    "csm-bo": {"Initech"},
    "csm-cy": {"Hooli"},
}
TEAM_OF = {"mgr-lee": {"csm-ana", "csm-bo"}, "mgr-max": {"csm-cy"}}


class Crash(BaseException):
    pass


def _world(warehouse):
    warehouse.add_alert("acc-acme", severity="critical", priority=1, needs_exec_outreach=True)
    warehouse.add_alert(
        "acc-globex", severity="high", priority=2, sla_due_at=warehouse.clock - timedelta(hours=2)
    )
    warehouse.add_alert("acc-umbrella", severity="medium", priority=4)
    warehouse.add_alert("acc-initech", severity="critical", priority=1)
    warehouse.add_alert("acc-hooli", severity="high", priority=3)
    warehouse.add_scores("acc-acme", [80, 66, 48])


def _run(warehouse, clock, sendgrid, slack=None, hubspot=None):
    return run_delivery(
        warehouse.con,
        warehouse.settings,
        api_key=API_KEY,
        host=sendgrid.host,
        slack_webhook_url=slack.webhook_url if slack else None,
        crm_token=HUBSPOT_TOKEN if hubspot else None,
        crm_base_url=hubspot.url if hubspot else None,
        policy=POLICY,
        send_clock=clock,
        sleep=clock.sleep,
    )


def _body_text(request) -> str:
    return " ".join(c["value"] for c in request.body["content"])


def test_two_full_runs_deliver_every_message_exactly_once(
    warehouse, sendgrid_server, slack_server, hubspot_server, clock
):
    _world(warehouse)

    first = _run(warehouse, clock, sendgrid_server, slack_server, hubspot_server)
    clock.advance(minutes=30)
    second = _run(warehouse, clock, sendgrid_server, slack_server, hubspot_server)

    rows = warehouse.rows("select mail_id, kind, channel, status from alerts.email_outbox")
    kinds = Counter((r["kind"], r["channel"]) for r in rows)
    assert kinds == {
        ("critical_alert", "email"): 6,  # 2 critical alerts × CSM, manager, VP
        ("critical_alert", "slack"): 2,
        ("daily_digest", "email"): 3,  # Ana, Bo, Cy
        ("weekly_digest", "email"): 2,  # Lee, Max
    }
    assert {r["status"] for r in rows} == {"sent"}
    mail_ids = sendgrid_server.accepted_ids()
    assert sorted(mail_ids) == sorted(r["mail_id"] for r in rows if r["channel"] == "email")
    assert len(mail_ids) == len(set(mail_ids))  # each exactly once
    assert len(slack_server.requests) == 2
    assert first.sent.sent == 13 and second.sent.attempted == 0
    assert (second.queued_critical, second.queued_daily, second.queued_weekly) == (0, 0, 0)
    # Critical mails go out before the digests.
    kinds_in_order = [r.body["custom_args"]["kind"] for r in sendgrid_server.accepted()]
    assert kinds_in_order[:6] == ["critical_alert"] * 6
    # CRM tasks: pushed once, one object each (5 actionable alerts + 1 exec-outreach task).
    assert len(hubspot_server.objects) == 6 and set(hubspot_server.updates.values()) == {1}
    assert first.pushed.pushed == 6 and second.pushed.requests == 0


def test_what_each_person_receives_holds_only_their_accounts(warehouse, sendgrid_server, clock):
    _world(warehouse)
    _run(warehouse, clock, sendgrid_server)

    everyone = set().union(*ACCOUNTS_OF.values())
    seen: dict[tuple[str, str], str] = {}
    for request in sendgrid_server.accepted():
        kind = request.body["custom_args"]["kind"]
        recipient = request.body["personalizations"][0]["to"][0]["email"].split("@")[0]
        seen[(kind, recipient)] = _body_text(request)

    for csm, mine in (
        ("ana", ACCOUNTS_OF["csm-ana"]),
        ("bo", ACCOUNTS_OF["csm-bo"]),
        ("cy", ACCOUNTS_OF["csm-cy"]),
    ):
        body = seen[("daily_digest", csm)]
        assert all(name in body for name in mine)
        assert not any(name in body for name in everyone - mine), csm
    for manager, csms in TEAM_OF.items():
        team_accounts = set().union(*(ACCOUNTS_OF[c] for c in csms))
        body = seen[("weekly_digest", manager.removeprefix("mgr-"))]
        assert any(name in body for name in team_accounts)
        assert not any(name in body for name in everyone - team_accounts), manager
    # A CSM's critical mail is about their own account only.
    assert "Initech" in seen[("critical_alert", "bo")] and "Acme Corp" not in seen[("critical_alert", "bo")]


def test_a_crash_mid_run_is_reconciled_with_at_most_one_duplicate(warehouse, sendgrid_server, clock):
    _world(warehouse)
    sent_before_crash: list[str] = []

    def crash_on_third(mail, outcome):
        sent_before_crash.append(mail.mail_id)
        if len(sent_before_crash) == 3:
            raise Crash

    # Queue through the pipeline's own steps, then send with a transport that dies mid-run.
    queue_critical_alerts(warehouse.con, warehouse.settings)
    queue_digests(warehouse.con, warehouse.settings)
    queue_weekly_digests(warehouse.con, warehouse.settings)
    crashing = SendGridTransport(API_KEY, sendgrid_server.host, after_send=crash_on_third, clock=clock)
    with pytest.raises(Crash):
        deliver_with(warehouse.con, crashing, clock=clock, sleep=clock.sleep, policy=POLICY)

    clock.advance(minutes=20)  # past the stale-claim timeout
    second = _run(warehouse, clock, sendgrid_server)
    clock.advance(minutes=20)
    third = _run(warehouse, clock, sendgrid_server)

    counts = Counter(sendgrid_server.accepted_ids())
    rows = warehouse.rows("select mail_id, status, possible_duplicate from alerts.email_outbox")
    assert {r["status"] for r in rows} == {"sent"}
    assert set(counts) == {r["mail_id"] for r in rows}  # nothing lost
    duplicated = {m for m, n in counts.items() if n > 1}
    assert duplicated == {sent_before_crash[2]} and counts[sent_before_crash[2]] == 2
    assert {r["mail_id"] for r in rows if r["possible_duplicate"]} == duplicated  # recorded
    assert (second.sent.reconciled, second.sent.possible_duplicates) == (1, 1)
    assert third.sent.attempted == 0
