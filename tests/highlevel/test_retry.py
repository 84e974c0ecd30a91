"""RetryPolicy: capped exponential backoff with full jitter, reproducible with a seed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dentrix_highlevel.errors import ConfigurationError
from dentrix_highlevel.highlevel import RetryPolicy


@given(attempt=st.integers(1, 40), seed=st.integers(0, 2**32))
def test_delay_is_within_the_capped_exponential_bound(attempt: int, seed: int) -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=8.0, seed=seed)
    delay = policy.delay_s(attempt, policy.rng())
    assert 0.0 <= delay <= min(8.0, 0.5 * 2 ** (attempt - 1))


def test_same_seed_same_jitter_and_jitter_actually_varies() -> None:
    policy = RetryPolicy(seed=42)
    first = [policy.delay_s(5, rng) for rng in [policy.rng()] for _ in range(5)]
    second = [policy.delay_s(5, rng) for rng in [policy.rng()] for _ in range(5)]
    assert first == second
    assert len(set(first)) == 5


@pytest.mark.parametrize(
    "kwargs", [{"max_attempts": 0}, {"base_delay_s": -1}, {"base_delay_s": 2, "max_delay_s": 1}]
)
def test_bad_policies_are_configuration_errors(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
