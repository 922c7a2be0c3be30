from datetime import UTC, datetime, timedelta

import pytest

from delivery.retry import RetryPolicy, classify, provider_wait_seconds

NOW = datetime(2026, 2, 27, 12, 0)
NOW_EPOCH = int(NOW.replace(tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        *[(code, "delivered") for code in (200, 202, 207)],
        *[(code, "retry") for code in (429, 500, 503)],
        *[(code, "fail") for code in (400, 401, 403, 404, 413)],
    ],
)
def test_classify(status, verdict):
    assert classify(status) == verdict


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "Fri, 27 Feb 2026 12:00:30 GMT"}, 30.0),
        ({"X-RateLimit-Reset": str(NOW_EPOCH + 12)}, 12.0),  # SendGrid: a Unix time
        ({"X-RateLimit-Reset": "5"}, 5.0),  # other APIs: seconds to wait
        ({"X-RateLimit-Reset": str(NOW_EPOCH - 50)}, 0.0),  # already reset
        ({"Retry-After": "soon"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_provider_wait(headers, seconds):
    assert provider_wait_seconds(headers, NOW) == seconds


def test_backoff_doubles_up_to_the_cap_without_jitter():
    policy = RetryPolicy(base_delay_seconds=60, max_delay_seconds=300)
    assert [policy.backoff_seconds(n) for n in range(1, 6)] == [60, 120, 240, 300, 300]


def test_jitter_is_seeded_and_bounded():
    first = [RetryPolicy(jitter=0.2, seed=7).backoff_seconds(n) for n in (1, 2, 3)]
    again = [RetryPolicy(jitter=0.2, seed=7).backoff_seconds(n) for n in (1, 2, 3)]
    assert first == again
    assert all(
        0.8 * 60 * 2 ** (n - 1) <= d <= 1.2 * 60 * 2 ** (n - 1) for n, d in zip((1, 2, 3), first, strict=True)
    )
    assert first != [60, 120, 240]


def test_after_failure_waits_then_gives_up():
    policy = RetryPolicy(max_attempts=3, base_delay_seconds=10)
    first = policy.after_failure(failures=1, error="HTTP 500", now=NOW)
    assert (first.status, first.next_attempt_at, first.wait_seconds) == (
        "pending",
        NOW + timedelta(seconds=10),
        10,
    )
    assert policy.after_failure(failures=2, error="HTTP 500", now=NOW).wait_seconds == 20
    last = policy.after_failure(failures=3, error="HTTP 500", now=NOW)
    assert (last.status, last.error) == ("failed", "HTTP 500 (gave up after 3 attempts)")


def test_the_providers_wait_wins_and_rate_limits_never_fail():
    policy = RetryPolicy(max_attempts=1, max_inline_wait_seconds=5)
    limited = policy.after_failure(failures=9, error="HTTP 429", now=NOW, provider_wait=3, rate_limited=True)
    assert (limited.status, limited.wait_seconds) == ("pending", 3)
    assert policy.can_wait_inline(limited)
    assert not policy.can_wait_inline(policy.after_failure(failures=0, error="x", now=NOW, provider_wait=60))
