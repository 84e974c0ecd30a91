"""Capped exponential backoff with full jitter: the rule the HighLevel client's ``RetryPolicy`` and the
Ascend adapter's ``AscendRetry`` both follow, so their bounds and waits cannot drift apart."""

from __future__ import annotations

import random

from dentrix_highlevel._errors import ConfigurationError

__all__ = ["check_backoff", "jittered_delay_s"]


def check_backoff(what: str, max_attempts: int, base_delay_s: float, max_delay_s: float) -> None:
    """Refuse settings that cannot back off: no attempt at all, or delays out of order."""
    if max_attempts < 1:
        raise ConfigurationError(f"{what}.max_attempts must be >= 1")
    if base_delay_s < 0 or max_delay_s < base_delay_s:
        raise ConfigurationError(f"{what} delays must satisfy 0 <= base_delay_s <= max_delay_s")


def jittered_delay_s(attempt: int, base_delay_s: float, max_delay_s: float, rng: random.Random) -> float:
    """The wait after failed attempt number ``attempt`` (1-based): uniform in
    ``[0, min(max_delay_s, base_delay_s * 2**(attempt-1))]``."""
    cap = min(max_delay_s, base_delay_s * 2 ** max(attempt - 1, 0))
    return rng.uniform(0.0, cap)
