"""The limiter's invariant (never more than the ceiling in any window) and its adaptation, on a fake clock."""

from __future__ import annotations

import bisect
import gc
from collections.abc import Sequence

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dentrix_highlevel.errors import ConfigurationError, DailyCapReachedError
from dentrix_highlevel.highlevel import LimiterRegistry, RateBudget, RateLimiter, SendTicket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await anyio.lowlevel.checkpoint()


def max_in_window(times: Sequence[float], window_s: float) -> int:
    ordered = sorted(times)
    return max((i + 1 - bisect.bisect_right(ordered, t - window_s) for i, t in enumerate(ordered)), default=0)


def fake_limiter(budget: RateBudget) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(budget, clock=clock, sleep=clock.sleep, pace=False), clock


@settings(max_examples=60, deadline=None)
@given(
    max_requests=st.integers(1, 30),
    window_ms=st.integers(50, 2000),
    gaps_ms=st.lists(st.integers(0, 400), min_size=1, max_size=150),
)
def test_no_window_ever_holds_more_than_the_ceiling(
    max_requests: int, window_ms: int, gaps_ms: list[int]
) -> None:
    budget = RateBudget(max_requests=max_requests, window_ms=window_ms, margin_ms=0, burst=0)
    limiter, clock = fake_limiter(budget)
    sent: list[float] = []

    async def run() -> None:
        for gap in gaps_ms:
            clock.now += gap / 1000  # the caller's own work between requests
            sent.append((await limiter.acquire()).sent_at)

    anyio.run(run)
    assert max_in_window(sent, window_ms / 1000) <= max_requests
    # Sends are booked at the clock time they were admitted, in order.
    assert sent == sorted(sent)


@settings(max_examples=40, deadline=None)
@given(max_requests=st.integers(1, 50), window_ms=st.integers(100, 5000), windows=st.integers(2, 6))
def test_with_work_always_queued_it_spends_the_whole_budget(
    max_requests: int, window_ms: int, windows: int
) -> None:
    budget = RateBudget(max_requests=max_requests, window_ms=window_ms, margin_ms=0, burst=0)
    limiter, clock = fake_limiter(budget)
    start = clock.now
    sent: list[float] = []

    async def run() -> None:
        for _ in range(max_requests * windows):
            sent.append((await limiter.acquire()).sent_at)

    anyio.run(run)
    # Exactly `windows` full windows of budget took (windows - 1) window lengths: 100% of the budget.
    assert sent[-1] - start == pytest.approx((windows - 1) * window_ms / 1000)
    assert max_in_window(sent, window_ms / 1000) == max_requests


def test_margin_widens_the_enforced_window() -> None:
    budget = RateBudget(max_requests=2, window_ms=1000, margin_ms=100, burst=0)
    limiter, _clock = fake_limiter(budget)

    async def run() -> list[float]:
        return [(await limiter.acquire()).sent_at for _ in range(3)]

    first, _, third = anyio.run(run)
    assert third - first == pytest.approx(1.1)


@pytest.mark.anyio
async def test_concurrent_tasks_share_the_window_in_real_time() -> None:
    budget = RateBudget(max_requests=10, window_ms=100, burst=3)
    limiter = RateLimiter(budget)
    sent: list[float] = []

    async def worker() -> None:
        for _ in range(5):
            sent.append((await limiter.acquire()).sent_at)

    async with anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(worker)
    assert len(sent) == 40
    assert max_in_window(sent, 0.1) <= 10


@pytest.mark.anyio
async def test_pacing_spreads_requests_instead_of_bursting() -> None:
    # aiolimiter alone would admit 2x max into the first window; with the guard it never exceeds max,
    # and the small pacer capacity keeps the first 10 ms from taking the whole window's budget.
    budget = RateBudget(max_requests=20, window_ms=200, burst=4)
    limiter = RateLimiter(budget)
    sent = [(await limiter.acquire()).sent_at for _ in range(30)]
    assert max_in_window(sent, 0.2) <= 20
    assert max_in_window(sent, 0.01) <= 5


def test_a_429_pauses_every_task_until_retry_after() -> None:
    budget = RateBudget(max_requests=100, window_ms=1000, burst=0)
    limiter, _clock = fake_limiter(budget)

    async def run() -> list[float]:
        first = (await limiter.acquire()).sent_at
        assert limiter.on_429(2.5) == 2.5
        sent = [first]

        async def other() -> None:
            sent.append((await limiter.acquire()).sent_at)

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(other)
        return sent

    first, *others = anyio.run(run)
    assert all(t >= first + 2.5 for t in others)


def test_a_429_without_retry_after_backs_off_exponentially_and_resets_on_success() -> None:
    budget = RateBudget(backoff_429_s=0.5, max_backoff_429_s=1.5, burst=0)
    limiter, _ = fake_limiter(budget)
    assert [limiter.on_429(None) for _ in range(4)] == [0.5, 1.0, 1.5, 1.5]
    limiter.observe(SendTicket(0.0, 1, 1), {}, status_code=200)
    assert limiter.on_429(None) == 0.5


def test_a_lower_server_max_lowers_the_ceiling_and_a_longer_interval_widens_the_window() -> None:
    limiter, _ = fake_limiter(RateBudget(max_requests=100, window_ms=10_000, burst=0))
    ticket = SendTicket(0.0, 1, 1)
    limiter.observe(
        ticket, {"X-RateLimit-Max": "150", "X-RateLimit-Interval-Milliseconds": "5000"}, status_code=200
    )
    assert (limiter.ceiling, limiter.window_s) == (100, 10.0)
    limiter.observe(
        ticket, {"x-ratelimit-max": "40", "x-ratelimit-interval-milliseconds": "12000"}, status_code=200
    )
    assert (limiter.ceiling, limiter.window_s) == (40, 12.0)


def test_a_lower_server_remaining_counts_as_sends_we_did_not_make() -> None:
    budget = RateBudget(max_requests=10, window_ms=1000, margin_ms=0, burst=0)
    limiter, _clock = fake_limiter(budget)

    async def run() -> list[float]:
        ticket = await limiter.acquire()
        # The server saw 8 requests in its window (someone else shares the token): only 2 left.
        limiter.observe(ticket, {"X-RateLimit-Max": "10", "X-RateLimit-Remaining": "2"}, status_code=200)
        return [ticket.sent_at] + [(await limiter.acquire()).sent_at for _ in range(3)]

    sent = anyio.run(run)
    assert sent[1] == sent[0]
    assert sent[2] == sent[0]
    assert sent[3] == pytest.approx(sent[0] + 1.0)


def test_a_remaining_that_agrees_with_our_count_changes_nothing() -> None:
    limiter, _ = fake_limiter(RateBudget(max_requests=10, window_ms=1000, margin_ms=0, burst=0))

    async def run() -> None:
        tickets = [await limiter.acquire() for _ in range(5)]
        # Later requests overtook earlier ones: the server had counted all five when it answered each.
        for ticket in reversed(tickets):
            limiter.observe(ticket, {"X-RateLimit-Max": "10", "X-RateLimit-Remaining": "5"}, status_code=200)

    anyio.run(run)
    assert limiter.sent_in_window() == 5


def test_daily_cap_raises_at_the_reserve_from_our_count_or_the_servers() -> None:
    limiter, _ = fake_limiter(RateBudget(max_requests=50, daily_max=10, daily_reserve=3, burst=0))

    async def run() -> None:
        for _ in range(7):
            await limiter.acquire()
        with pytest.raises(DailyCapReachedError) as caught:
            await limiter.acquire()
        assert caught.value.remaining == 3
        assert limiter.daily_sent == 7

    anyio.run(run)

    limiter2, _ = fake_limiter(RateBudget(daily_reserve=100, burst=0))

    async def run2() -> None:
        ticket = await limiter2.acquire()
        limiter2.observe(ticket, {"X-RateLimit-Daily-Remaining": "100"}, status_code=200)
        with pytest.raises(DailyCapReachedError):
            await limiter2.acquire()
        limiter2.reset_daily()
        await limiter2.acquire()

    anyio.run(run2)


def test_registry_shares_one_limiter_per_base_url_and_location() -> None:
    registry = LimiterRegistry()
    a = registry.get("https://x.example/", "loc1")
    assert registry.get("https://X.example", "loc1") is a
    b = registry.get("https://x.example", "loc2")
    assert b is not a
    with pytest.raises(ConfigurationError):
        registry.get("https://x.example", "loc1", RateBudget(max_requests=5, burst=5))
    assert len(registry) == 2
    del a, b
    gc.collect()
    assert len(registry) == 0  # nobody holds them any more: the registry holds limiters weakly


def test_a_held_limiter_is_gone_once_its_last_holder_releases_it() -> None:
    registry = LimiterRegistry()
    first = registry.hold("https://x.example", "loc1", RateBudget())
    second = registry.hold("https://x.example/", "loc1")
    assert second is first
    with pytest.raises(ConfigurationError, match="close the others first"):
        registry.hold("https://x.example", "loc1", RateBudget(max_requests=5, burst=5))
    registry.release("https://x.example", "loc1", first)
    with pytest.raises(ConfigurationError):  # one holder is still open
        registry.hold("https://x.example", "loc1", RateBudget(max_requests=5, burst=5))
    registry.release("https://x.example", "loc1", first)
    registry.release("https://x.example", "loc1", first)  # a second release of the same hold: a no-op
    # Released while the object is still referenced here: the next holder brings its own budget.
    other = registry.hold("https://x.example", "loc1", RateBudget(max_requests=5, burst=5))
    assert other is not first
    assert other.budget.max_requests == 5
    registry.release("https://x.example", "loc1", first)  # a stale release does not drop the new entry
    assert registry.hold("https://x.example", "loc1") is other


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_requests": 0},
        {"daily_reserve": 300_000},
        {"burst": 500},
        {"margin_ms": -1},
        {"backoff_429_s": 0},
    ],
)
def test_bad_budgets_are_configuration_errors(kwargs: dict[str, int]) -> None:
    with pytest.raises(ConfigurationError):
        RateBudget(**kwargs)


def test_a_scaled_budget_keeps_highlevels_reserve_and_burst_within_small_limits() -> None:
    real = RateBudget.scaled(max_requests=100, window_ms=10_000, daily_max=200_000)
    assert (real.daily_reserve, real.burst) == (1_000, 10)
    small = RateBudget.scaled(max_requests=5, window_ms=1_000, daily_max=300)
    assert (small.daily_reserve, small.burst) == (30, 5)
