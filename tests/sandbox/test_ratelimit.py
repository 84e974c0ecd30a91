"""Rate limits per (token, location): sliding burst window, daily cap, 429 + Retry-After, storms, and the
request log proving no window ever admitted more than the max."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dentrix_highlevel.sandbox import FaultConfig, Sandbox, SandboxConfig
from dentrix_highlevel.sandbox._ratelimit import RateLimiter, format_retry_after, max_in_window

from ._helpers import make_client

pytestmark = pytest.mark.anyio


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@settings(max_examples=60, deadline=None)
@given(
    gaps_ms=st.lists(st.integers(min_value=0, max_value=120), min_size=1, max_size=200),
    burst=st.integers(min_value=1, max_value=12),
)
def test_limiter_never_admits_more_than_max_in_any_window(gaps_ms: list[int], burst: int) -> None:
    limiter = RateLimiter(window_ms=1000, burst_max=burst, daily_max=10**9, day_length_s=86_400, epoch_s=0.0)
    now = 0.0
    admitted: list[float] = []
    for gap in gaps_ms:
        now += gap / 1000
        decision = limiter.acquire(("t", "loc"), now)
        if decision.admitted:
            admitted.append(now)
        else:
            # Refused only when the window really is full, and the hint is when it frees up.
            assert sum(1 for t in admitted if now - 1.0 < t <= now) == burst
            assert decision.retry_after_s is not None
            assert 0 < decision.retry_after_s <= 1.0
    assert max_in_window(admitted, 1000) <= burst


def test_max_in_window_counts_half_open_windows() -> None:
    assert max_in_window([0.0, 0.5, 1.0, 1.5], 1000) == 2
    assert max_in_window([0.0, 0.0, 0.0], 1000) == 3
    assert max_in_window([], 1000) == 0


def test_retry_after_format() -> None:
    assert format_retry_after(2.0) == "2"
    assert format_retry_after(0.35) == "0.35"
    assert format_retry_after(0.0) == "0.001"


async def test_burst_429_headers_and_recovery() -> None:
    clock = FakeClock()
    sandbox = Sandbox(SandboxConfig(clock=clock))
    loc = sandbox.create_location()
    path = f"/locations/{loc.location_id}"
    async with make_client(sandbox, loc.token) as client:
        statuses = []
        for i in range(105):
            response = await client.get(path)
            statuses.append(response.status_code)
            if i < 100:
                assert response.headers["X-RateLimit-Remaining"] == str(99 - i)
            clock.now += 0.01
        assert statuses.count(200) == 100
        assert statuses[100:] == [429] * 5
        assert response.json() == {
            "statusCode": 429,
            "message": "Too Many Requests",
            "traceId": response.json()["traceId"],
        }
        # The first request (t=1000.00) leaves the window at 1010.00; now is 1001.04.
        assert float(response.headers["Retry-After"]) == pytest.approx(8.96, abs=0.011)
        assert response.headers["X-RateLimit-Remaining"] == "0"
        clock.now += float(response.headers["Retry-After"])
        assert (await client.get(path)).status_code == 200
    assert sandbox.max_requests_in_window(admitted_only=True) == 100
    assert sandbox.max_requests_in_window() == 105  # the 106th came after the first left the window


async def test_request_log_proves_every_window_scaled() -> None:
    """Drive a scaled budget (20 per 200 ms) far past its limit; no window admits more than 20."""
    clock = FakeClock()
    sandbox = Sandbox(SandboxConfig(clock=clock, rate_window_ms=200, rate_max=20))
    loc = sandbox.create_location()
    async with make_client(sandbox, loc.token) as client:
        for i in range(400):
            await client.get(f"/locations/{loc.location_id}")
            clock.now += 0.002 if i % 50 else 0.05  # bursts with pauses
    log = sandbox.request_log
    rejected = [r for r in log if r.status == 429]
    assert rejected
    assert all(not r.admitted for r in rejected)
    assert sandbox.max_requests_in_window() > 20  # the client really overspent...
    assert sandbox.max_requests_in_window(admitted_only=True) == 20  # ...and no window admitted more
    assert sandbox.max_requests_in_window(admitted_only=True, location_id=loc.location_id) == 20
    assert sandbox.max_requests_in_window(window_ms=100, admitted_only=True) <= 20


async def test_budgets_are_per_token_and_location() -> None:
    clock = FakeClock()
    sandbox = Sandbox(SandboxConfig(clock=clock, rate_max=2))
    a, b = sandbox.create_location(), sandbox.create_location()
    async with make_client(sandbox, a.token) as ca, make_client(sandbox, b.token) as cb:
        assert [(await ca.get(f"/locations/{a.location_id}")).status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]
        assert (await cb.get(f"/locations/{b.location_id}")).status_code == 200


async def test_daily_cap_and_day_reset() -> None:
    clock = FakeClock()
    sandbox = Sandbox(SandboxConfig(clock=clock, daily_max=3, day_length_s=60))
    loc = sandbox.create_location()
    async with make_client(sandbox, loc.token) as client:
        path = f"/locations/{loc.location_id}"
        remaining = []
        for _ in range(3):
            response = await client.get(path)
            remaining.append(response.headers["X-RateLimit-Daily-Remaining"])
            clock.now += 1
        assert remaining == ["2", "1", "0"]
        capped = await client.get(path)
        assert capped.status_code == 429
        assert capped.headers["X-RateLimit-Daily-Remaining"] == "0"
        assert capped.headers["X-RateLimit-Limit-Daily"] == "3"
        assert float(capped.headers["Retry-After"]) == pytest.approx(57.0, abs=0.01)
        clock.now += 57
        assert (await client.get(path)).status_code == 200


async def test_429_storm_and_lowered_max() -> None:
    clock = FakeClock()
    sandbox = Sandbox(SandboxConfig(clock=clock), faults=FaultConfig(storm_after_s=1, storm_duration_s=2))
    loc = sandbox.create_location()
    async with make_client(sandbox, loc.token) as client:
        path = f"/locations/{loc.location_id}"
        assert (await client.get(path)).status_code == 200
        clock.now += 1.5
        storm = await client.get(path)
        assert storm.status_code == 429
        assert storm.headers["Retry-After"] == "1"
        assert storm.headers["X-RateLimit-Remaining"] == "0"
        clock.now += 2
        after = await client.get(path)
        assert after.status_code == 200
        assert after.headers["X-RateLimit-Remaining"] == "98"
        sandbox.set_faults(FaultConfig(advertised_rate_max=3))
        lowered = [await client.get(path) for _ in range(2)]
        assert lowered[0].headers["X-RateLimit-Max"] == "3"
        assert [r.status_code for r in lowered] == [200, 429]  # 3 already admitted in this window
        # Admin routes never count or fault.
        assert (await client.get("/_sandbox/state")).status_code == 200


async def test_storm_spares_oauth_and_admin(sandbox: Sandbox) -> None:
    sandbox.set_faults(FaultConfig(storm_after_s=0, storm_duration_s=3600, error_rate=1.0))
    sandbox.register_oauth_app(client_id="c", client_secret="s")
    async with make_client(sandbox) as client:
        oauth = await client.post(
            "/oauth/token", data={"client_id": "c", "client_secret": "s", "grant_type": "x"}
        )
        assert oauth.status_code == 422
        assert (await client.get("/_sandbox/requests")).status_code == 200
        assert isinstance((await client.get("/_sandbox/faults")).json()["faults"], dict)
