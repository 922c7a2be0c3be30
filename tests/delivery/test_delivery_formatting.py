from datetime import datetime

import pytest

from delivery import formatting
from delivery.alert_view import driver_sentences
from delivery.outbox import is_retryable_status, redact


@pytest.mark.parametrize(
    ("priority", "band"), [(1, "High"), (3, "High"), (4, "Normal"), (6, "Normal"), (7, "Low"), (9, "Low")]
)
def test_crm_priority(priority, band):
    assert formatting.crm_priority(priority) == band


@pytest.mark.parametrize(
    ("evidence", "text"),
    [
        (
            {"metric": "logins_7d", "baseline": 120, "current": 70, "change": -0.4167, "window": "7d"},
            "Logins 7d: 70 vs baseline 120 (−42%) · 7d",
        ),
        (
            {"metric": "tickets_7d", "baseline": 2, "current": 6, "change": 2.0},
            "Tickets 7d: 6 vs baseline 2 (+200%)",
        ),
        (
            {"metric": "nps", "baseline": 8.5, "current": 4, "change": None, "window": 30},
            "Nps: 4 vs baseline 8.5 · 30 days",
        ),
        (
            {"metric": "health_class", "baseline": "At-Risk", "current": "Critical"},
            "Health class: Critical vs baseline At-Risk",
        ),
        (
            {"metric": "api_error_rate", "current": 0.1234, "change": "3× baseline"},
            "Api error rate: 0.12 (3× baseline)",
        ),
        ({}, ""),
        (None, ""),
    ],
)
def test_evidence_text(evidence, text):
    assert formatting.evidence_text(evidence) == text


def test_money_and_trend():
    assert [formatting.money(v) for v in (950, 120_000, 1_200_000, 2_000_000, None)] == [
        "$950",
        "$120k",
        "$1.2M",
        "$2M",
        "n/a",
    ]
    assert formatting.trend_text((72.4, 61.0, 48.6)) == "72 → 61 → 49"


def test_local_time_and_relative_due():
    due = datetime(2026, 7, 1, 14, 0)
    assert formatting.local_time(due, "Europe/Berlin") == "Wed 1 Jul 16:00 CEST"
    assert formatting.local_time(due, "Not/AZone") == "Wed 1 Jul 14:00 UTC"
    assert formatting.due_relative(due, datetime(2026, 7, 1, 11, 0)) == "in 3 h"
    assert formatting.due_relative(due, datetime(2026, 7, 4, 14, 0)) == "overdue by 3 d"
    assert formatting.due_relative(due, datetime(2026, 7, 1, 13, 40)) == "in 20 min"


def test_top_drivers_by_absolute_contribution():
    drivers = '[{"feature": "a", "contribution": 0.1, "sentence": "A"}, {"feature": "b", "contribution": -0.9, "sentence": "B"}, {"feature": "c_rate", "value": 2, "contribution": 0.5}, {"feature": "d", "contribution": 0.05, "sentence": "D"}]'
    assert driver_sentences(drivers) == ("B", "C rate = 2", "A")
    assert driver_sentences(None) == ()


@pytest.mark.parametrize(
    ("status", "retry"), [(429, True), (500, True), (503, True), (400, False), (401, False), (404, False)]
)
def test_retryable_statuses(status, retry):
    assert is_retryable_status(status) is retry


def test_redact():
    assert redact("key SG.abc rejected", "SG.abc") == "key [redacted] rejected"
    assert redact("{'Authorization': 'Bearer SG.xyz'}", None) == "{'Authorization': 'Bearer [redacted]'}"
