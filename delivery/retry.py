"""The one retry discipline shared by every channel that leaves the machine: SendGrid, the CRM
push and Slack.

A failed call is classified once (`classify`): 2xx delivered; 429 and 5xx and network errors may
succeed later; any other 4xx will not, and fails at once with the reason. A retryable failure is
not retried in a loop: the row gets a `next_attempt_at` and a later run picks it up. Only a wait
the provider asked for (`Retry-After`, `X-RateLimit-Reset`) that is at most `max_inline_wait`
seconds is slept within the run. After `max_attempts` retryable failures the row is failed with
the last reason; rate limiting (429) does not use up that budget.
"""

import email.utils
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

Verdict = Literal["delivered", "retry", "fail"]

# Above this an `X-RateLimit-Reset` value is a Unix time, below it a number of seconds (APIs differ).
_EPOCH_THRESHOLD = 1_000_000_000


def classify(status_code: int) -> Verdict:
    """2xx delivered; 429 and 5xx may succeed later; any other status will not."""
    if 200 <= status_code < 300:
        return "delivered"
    if status_code == 429 or status_code >= 500:
        return "retry"
    return "fail"


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def provider_wait_seconds(headers: Mapping[str, str] | None, now: datetime) -> float | None:
    """How long the provider asked us to wait, from `Retry-After` (seconds or an HTTP date) or
    `X-RateLimit-Reset` (SendGrid: the Unix time the limit resets); None when it did not say.

    `now` is naive UTC, like every timestamp here.
    """
    now_epoch = now.replace(tzinfo=UTC).timestamp()
    retry_after = _header(headers, "Retry-After")
    if retry_after:
        text = retry_after.strip()
        try:
            return max(0.0, float(text))
        except ValueError:
            try:
                moment = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError):
                moment = None
            if moment is not None:
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
                return max(0.0, moment.timestamp() - now_epoch)
    reset = _header(headers, "X-RateLimit-Reset")
    if reset:
        try:
            value = float(reset.strip())
        except ValueError:
            return None
        return max(0.0, value - now_epoch if value > _EPOCH_THRESHOLD else value)
    return None


@dataclass(frozen=True)
class Decision:
    """What to do with a row after one attempt."""

    status: Literal["done", "pending", "failed"]
    next_attempt_at: datetime | None = None
    wait_seconds: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """Max attempts, exponential back-off with optional jitter, and how long a run may sleep.

    `seed=None` means no jitter (deterministic); a seed gives reproducible jitter of ±`jitter`.
    """

    max_attempts: int = 6
    base_delay_seconds: float = 60.0
    max_delay_seconds: float = 3600.0
    jitter: float = 0.2
    seed: int | None = None
    max_inline_wait_seconds: float = 10.0
    max_inline_retries: int = (
        3  # per message and run: a provider that keeps saying "wait 1 s" is not looped on
    )
    _rng: random.Random | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.seed is not None:
            object.__setattr__(self, "_rng", random.Random(self.seed))

    def backoff_seconds(self, failures: int) -> float:
        """Delay after the `failures`-th retryable failure: base × 2^(failures − 1), capped, jittered."""
        delay = min(self.max_delay_seconds, self.base_delay_seconds * 2 ** max(0, failures - 1))
        if self._rng is not None and self.jitter:
            delay *= 1 + self._rng.uniform(-self.jitter, self.jitter)
        return max(0.0, delay)

    def after_failure(
        self,
        *,
        failures: int,
        error: str,
        now: datetime,
        provider_wait: float | None = None,
        rate_limited: bool = False,
    ) -> Decision:
        """A retryable failure: wait and retry, or give up after `max_attempts` failures.

        `failures` counts the retryable failures so far, this one included; rate-limited attempts
        are not counted by the caller, and the provider's own wait always wins over back-off.
        """
        if not rate_limited and failures >= self.max_attempts:
            return Decision(status="failed", error=f"{error} (gave up after {failures} attempts)")
        wait = provider_wait if provider_wait is not None else self.backoff_seconds(max(failures, 1))
        return Decision(
            status="pending",
            next_attempt_at=now + timedelta(seconds=wait),
            wait_seconds=wait,
            error=error,
        )

    def can_wait_inline(self, decision: Decision) -> bool:
        return decision.status == "pending" and decision.wait_seconds <= self.max_inline_wait_seconds


DEFAULT_POLICY = RetryPolicy()
