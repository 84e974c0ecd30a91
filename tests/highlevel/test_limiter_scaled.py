"""The limiter against the sandbox's exact sliding window at a tiny scaled window, on the real clock.

At 20 requests per 50 ms a request's send stamp and the sandbox's count are a fraction of a millisecond
apart, so whatever lets an extra request in (stamping at admission instead of sending, a garbage
collection or a scheduler pause between the stamp and the count) shows up as a 429 within a few thousand
requests. Nothing here measures time: the sandbox's own request log is the referee.
"""

from __future__ import annotations

from collections import Counter

import anyio

from dentrix_highlevel.highlevel import (
    ContactInput,
    HighLevelClient,
    LimiterRegistry,
    RateBudget,
    RateLimiter,
    RetryPolicy,
)
from dentrix_highlevel.sandbox import FaultConfig, Sandbox, SandboxConfig

WINDOW_MS = 50
RATE_MAX = 20
REQUESTS = 2_000
TASKS = 40


def test_no_429_over_thousands_of_requests_at_a_tiny_window() -> None:
    sandbox = Sandbox(
        SandboxConfig(rate_window_ms=WINDOW_MS, rate_max=RATE_MAX, seed=5),
        faults=FaultConfig(latency_ms=(0.0, 5.0)),
    )
    # The sandbox's first request imports and builds what its routes need (milliseconds of work between
    # our stamp and its count that neither a pause detector nor a 2 ms margin can know of): spend it on
    # another location, whose budget is its own.
    warm, loc = sandbox.create_location(), sandbox.create_location()
    # A 5 ms margin (10%): GC and CPU-wait pauses are detected, but a thread of another test still running
    # Python code can hold the GIL for a switch interval (5 ms) between our stamp and the count.
    budget = RateBudget(max_requests=RATE_MAX, window_ms=WINDOW_MS, margin_ms=5, daily_reserve=0)

    async def run() -> None:
        async with HighLevelClient(
            location_id=warm.location_id,
            auth=warm.token,
            transport=sandbox.transport(),
            limiter_registry=LimiterRegistry(),
        ) as first:
            await first.contacts.upsert(ContactInput(email="warm@example.com"))
        async with HighLevelClient(
            location_id=loc.location_id,
            auth=loc.token,
            transport=sandbox.transport(),
            budget=budget,
            retry=RetryPolicy(seed=5),
            limiter_registry=LimiterRegistry(),
            max_connections=TASKS,
        ) as hl:

            async def worker(k: int) -> None:
                for i in range(REQUESTS // TASKS):
                    await hl.contacts.upsert(ContactInput(email=f"w{k}-{i}@example.com"))

            async with anyio.create_task_group() as tg:
                for k in range(TASKS):
                    tg.start_soon(worker, k)

    anyio.run(run)
    log = [r for r in sandbox.request_log if r.location_id == loc.location_id]
    assert len(log) >= REQUESTS
    assert Counter(r.status for r in log)[429] == 0
    assert sandbox.max_requests_in_window(location_id=loc.location_id) <= RATE_MAX


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await anyio.lowlevel.checkpoint()


def test_a_request_is_logged_when_it_leaves_and_holds_its_slot_until_then() -> None:
    clock = _Clock()
    limiter = RateLimiter(
        RateBudget(max_requests=2, window_ms=1000, margin_ms=0, burst=0), clock=clock, sleep=clock.sleep
    )

    async def run() -> None:
        first = await limiter.admit()
        assert first.pending
        assert limiter.sent_in_window() == 1  # held, though not sent yet
        clock.now += 0.4  # it leaves 400 ms after its admission
        first = limiter.sent(first)
        assert not first.pending
        assert first.sent_at == 100.4
        await limiter.acquire()  # the second slot
        # A third request waits for the *send* time of the first to leave the window, not its admission.
        third = await limiter.admit()
        assert third.sent_at >= 101.4
        assert limiter.sent_in_window() == 1  # the third's slot: the first two have left the window
        limiter.withdraw(third)  # never sent: the slot is free again
        assert limiter.sent_in_window() == 0

    anyio.run(run)
