"""When and how long to wait before retrying a request that may be retried at all."""

from __future__ import annotations

import random

import attrs

from dentrix_highlevel._backoff import check_backoff, jittered_delay_s

__all__ = ["RetryPolicy"]


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Capped exponential backoff with full jitter.

    ``max_attempts`` counts the first try. Attempt ``n`` (1-based) that failed waits a random time in
    ``[0, min(max_delay_s, base_delay_s * 2**(n-1))]`` before the next; ``seed`` fixes the jitter for tests.
    Which failures are retried is the client's rule (idempotent requests: 429, 5xx, timeouts, connection
    errors; creates: only failures that prove nothing was sent), not the policy's.
    """

    max_attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    seed: int | None = None

    def __attrs_post_init__(self) -> None:
        check_backoff("RetryPolicy", self.max_attempts, self.base_delay_s, self.max_delay_s)

    def rng(self) -> random.Random:
        return random.Random(self.seed)

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """The wait after failed attempt number ``attempt`` (1-based)."""
        return jittered_delay_s(attempt, self.base_delay_s, self.max_delay_s, rng)
