"""When and how long to wait before retrying a request that may be retried at all."""

from __future__ import annotations

import random

import attrs

from dentrix_highlevel._errors import ConfigurationError

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
        if self.max_attempts < 1:
            raise ConfigurationError("RetryPolicy.max_attempts must be >= 1")
        if self.base_delay_s < 0 or self.max_delay_s < self.base_delay_s:
            raise ConfigurationError("RetryPolicy delays must satisfy 0 <= base_delay_s <= max_delay_s")

    def rng(self) -> random.Random:
        return random.Random(self.seed)

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """The wait after failed attempt number ``attempt`` (1-based)."""
        cap = min(self.max_delay_s, self.base_delay_s * 2 ** max(attempt - 1, 0))
        return rng.uniform(0.0, cap)
