"""Timeline tests in the style of Alertmanager's acceptance tests: scripted days of signals go into
a real DuckDB warehouse, the engine runs once a day, and the alerts, escalations, re-notifications
and resolutions that come out are compared with the expected timeline."""

from dataclasses import replace
from datetime import date, timedelta

import duckdb

from alerts.engine import evaluate_alerts
from healthwatch.config import Settings

from alert_world import AS_OF, CLOCK, AccountSpec, weekday_logins, write_world

# Sunday 9 Nov 2025 is day 0; the engine runs at 22:00 UTC every day.
STEADY = AccountSpec("acc_a", "Acme Corp", "enterprise", 250_000, "c1", weekday_logins(40))


def run_days(
    con: duckdb.DuckDBPyConnection, settings: Settings, script: dict[int, list[AccountSpec]], days: int
) -> list[tuple]:
    """Run the engine on days 0..days-1; the world on day d is the last scripted one at or before d.
    Returns the timeline: (day, dedup_key, status, severity, notify_reason or '-') for every alert
    whose row changed that day, in order."""
    timeline, previous = [], {}
    world = script[0]
    for d in range(days):
        world = script.get(d, world)
        clock = CLOCK + timedelta(days=d)
        write_world(con, world, AS_OF + timedelta(days=d), clock)
        evaluate_alerts(con, settings, clock=clock)
        rows = con.execute(
            "select alert_id, dedup_key, status, severity, notify_reason, last_notified_at "
            "from alerts.health_alerts order by dedup_key, opened_at"
        ).fetchall()
        for alert_id, key, status, severity, reason, notified in rows:
            state = (status, severity, notified)
            if previous.get(alert_id) != state:
                timeline.append((d, key, status, severity, reason if notified == clock else "-"))
            previous[alert_id] = state
    return timeline


def test_payment_failure_escalates_past_its_sla_renotifies_and_resolves(warehouse, settings) -> None:
    failed = replace(STEADY, payment_failures={date(2025, 11, 8): 1})
    paid = replace(STEADY, payment_failures={})
    # The failure stays in the 7-day window until Nov 14 (day 5); then it clears for 2 days.
    timeline = run_days(warehouse, settings, {0: [failed], 6: [paid]}, days=10)
    key = "acc_a:payment_failure"
    assert timeline == [
        (0, key, "open", "high", "opened"),
        # still failing and unacknowledged after high's repeat interval (72 h): a reminder
        (3, key, "open", "high", "repeat"),
        # 24 business hours from Monday 09:00 New York (Tuesday is Veterans Day): due Thursday 17:00
        # EST = 22:00 UTC, i.e. day 4's run — unacknowledged, it escalates one tier.
        (4, key, "open", "critical", "sla_breach"),
        # still firing and unacknowledged 24 h later (critical's repeat interval): a reminder
        (5, key, "open", "critical", "repeat"),
        # the last failure left the window on day 6; cleared for auto_resolve_days (2)
        (7, key, "resolved", "critical", "-"),
    ]


def test_a_run_scoped_to_other_accounts_still_escalates_an_alert_past_its_sla(warehouse, settings) -> None:
    failed = replace(STEADY, payment_failures={date(2025, 11, 8): 1})
    run_days(warehouse, settings, {0: [failed]}, days=3)

    def scoped_run(day: int):  # a batch that names no account, as within a day of other changes
        clock = CLOCK + timedelta(days=day)
        write_world(warehouse, [failed], AS_OF + timedelta(days=day), clock)
        return evaluate_alerts(warehouse, settings, clock=clock, account_ids=[])

    assert scoped_run(3).evaluated_accounts == 0  # due on day 4: nothing to judge yet
    escalated = scoped_run(4)
    assert (escalated.evaluated_accounts, escalated.sla_escalated) == (1, 1)
    assert warehouse.execute(
        "select severity, escalation_reason from alerts.health_alerts where status = 'open'"
    ).fetchall() == [("critical", "sla_breach")]


def test_a_critical_alert_inhibits_the_lower_ones_until_it_resolves(warehouse, settings) -> None:
    tickets = {date(2025, 11, 4): 2, date(2025, 11, 6): 1, date(2025, 11, 7): 1}
    both = replace(
        STEADY,
        tickets=tickets,
        cancellation_requests={date(2025, 11, 9): 1},
        health=("At-Risk", "At-Risk", 0.4),
    )
    spike_only = replace(both, cancellation_requests={})
    timeline = run_days(warehouse, settings, {0: [both], 1: [spike_only]}, days=4)
    assert timeline == [
        (0, "acc_a:cancellation_request", "open", "critical", "opened"),
        (0, "acc_a:ticket_spike", "suppressed", "high", "-"),  # inhibited by the critical alert
        # the request is no longer in the data from day 1 on: two clear days resolve it
        (2, "acc_a:cancellation_request", "resolved", "critical", "-"),
        # the ticket spike left its window on day 2 as well, and goes without ever being sent
        (3, "acc_a:ticket_spike", "resolved", "high", "-"),
    ]
    inhibited_by = warehouse.execute(
        "select suppressed_by from alerts.health_alerts where dedup_key = 'acc_a:ticket_spike'"
    ).fetchone()
    assert inhibited_by == (None,)  # cleared on resolution


def test_inhibition_ends_and_the_held_alert_is_sent(warehouse, settings) -> None:
    tickets = {AS_OF + timedelta(days=d): 1 for d in range(-6, 8)}
    tickets |= {AS_OF - timedelta(days=1): 3}
    both = replace(
        STEADY,
        tickets=tickets,
        cancellation_requests={date(2025, 11, 9): 1},
        health=("At-Risk", "At-Risk", 0.4),
    )
    other = replace(both, account_id="acc_b", name="Other", cancellation_requests={})
    no_request = replace(both, cancellation_requests={})
    timeline = run_days(warehouse, settings, {0: [both, other], 1: [no_request, other]}, days=3)
    a_spike = [t for t in timeline if t[1] == "acc_a:ticket_spike"]
    b_spike = [t for t in timeline if t[1] == "acc_b:ticket_spike"]
    # the other account's spike is never held back: inhibition is per account
    assert b_spike[0] == (0, "acc_b:ticket_spike", "open", "high", "opened")
    assert a_spike[0] == (0, "acc_a:ticket_spike", "suppressed", "high", "-")
    # the critical alert resolves on day 2; the held spike is then sent for the first time
    assert (2, "acc_a:cancellation_request", "resolved", "critical", "-") in timeline
    assert a_spike[-1] == (2, "acc_a:ticket_spike", "open", "high", "opened")


def test_a_usage_drop_on_a_healthy_account_is_downgraded_by_the_model_gate(warehouse, settings) -> None:
    from alert_world import dropping_logins

    dropping = replace(
        STEADY, segment="mid_market", logins=dropping_logins(40, 0.5, AS_OF - timedelta(days=5))
    )
    healthy = replace(dropping, health=("Healthy", "Healthy", 0.04))
    risky = replace(dropping, account_id="acc_r", name="Risky", health=("At-Risk", "At-Risk", 0.4))
    run_days(warehouse, settings, {0: [healthy, risky]}, days=1)
    rows = dict(
        (r[0], r[1:])
        for r in warehouse.execute(
            "select dedup_key, severity, rule_severity, gate_action, gate_reason from alerts.health_alerts"
        ).fetchall()
    )
    assert rows["acc_r:usage_drop"] == ("medium", "medium", "none", None)
    assert rows["acc_a:usage_drop"][:3] == ("low", "medium", "downgraded")
    assert (
        rows["acc_a:usage_drop"][3]
        == "medium → low: the model scores the account Healthy, churn probability 4%"
    )
