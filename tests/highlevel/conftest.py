"""Fixtures for the HighLevel client tests: a sandbox with its rate window scaled down (20 per 200 ms),
a client wired to it in-process, and a fresh limiter registry per test (no shared module state)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from dentrix_highlevel.highlevel import HighLevelClient, LimiterRegistry, RateBudget, RetryPolicy

WINDOW_MS = 200
RATE_MAX = 20


@pytest.fixture
def budget() -> RateBudget:
    # 10 ms margin = 5% of the scaled window: in-process send-to-count jitter under a loaded CI box is a few
    # ms, which the default 1% (2 ms at this scale) does not always cover.
    return RateBudget(max_requests=RATE_MAX, window_ms=WINDOW_MS, margin_ms=10, burst=5, backoff_429_s=0.05)


@pytest.fixture
def retry() -> RetryPolicy:
    return RetryPolicy(max_attempts=6, base_delay_s=0.005, max_delay_s=0.02, seed=7)


@pytest.fixture
def scaled_sandbox() -> Any:
    from dentrix_highlevel.sandbox import Sandbox, SandboxConfig

    return Sandbox(SandboxConfig(rate_window_ms=WINDOW_MS, rate_max=RATE_MAX, seed=3))


@pytest.fixture
def loc(scaled_sandbox: Any) -> Any:
    return scaled_sandbox.create_location(allow_duplicates=False)


@pytest.fixture
def registry() -> LimiterRegistry:
    return LimiterRegistry()


@pytest.fixture
def make_client(
    scaled_sandbox: Any, loc: Any, budget: RateBudget, retry: RetryPolicy, registry: LimiterRegistry
) -> Callable[..., HighLevelClient]:
    def make(**overrides: Any) -> HighLevelClient:
        options: dict[str, Any] = {
            "location_id": loc.location_id,
            "auth": loc.token,
            "transport": scaled_sandbox.transport(),
            "budget": budget,
            "retry": retry,
            "limiter_registry": registry,
            "timeout_s": 5.0,
        }
        options.update(overrides)
        return HighLevelClient(**options)

    return make


@pytest.fixture
async def client(make_client: Callable[..., HighLevelClient]) -> AsyncIterator[HighLevelClient]:
    async with make_client() as hl:
        yield hl
