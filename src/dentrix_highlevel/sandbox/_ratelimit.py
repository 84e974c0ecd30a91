"""HighLevel's rate limits per (token, location): a sliding burst window and a daily cap (API-NOTES §12).

The burst rule is exact: a request is admitted only if fewer than ``max`` admitted requests lie in the
half-open window ``(now - window, now]``, so *every* window of that length holds at most ``max`` admitted
requests, which is what :func:`max_in_window` checks over the request log.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable

import attrs

__all__ = ["RateDecision", "RateLimiter", "max_in_window"]


@attrs.frozen(kw_only=True)
class RateDecision:
    """The outcome for one request and the values of the five ``X-RateLimit-*`` headers."""

    admitted: bool
    burst_max: int
    burst_remaining: int
    window_ms: int
    daily_max: int
    daily_remaining: int
    retry_after_s: float | None = None

    def headers(self) -> dict[str, str]:
        out = {
            "X-RateLimit-Limit-Daily": str(self.daily_max),
            "X-RateLimit-Daily-Remaining": str(self.daily_remaining),
            "X-RateLimit-Interval-Milliseconds": str(self.window_ms),
            "X-RateLimit-Max": str(self.burst_max),
            "X-RateLimit-Remaining": str(self.burst_remaining),
        }
        if self.retry_after_s is not None:
            out["Retry-After"] = format_retry_after(self.retry_after_s)
        return out


def format_retry_after(seconds: float) -> str:
    """Seconds with millisecond precision (``"2"``, ``"0.35"``), never below 1 ms.

    HighLevel documents no ``Retry-After`` (API-NOTES §12); a fractional value keeps scaled-down windows
    (e.g. 100 per 1000 ms) honest. Clients should parse it as a float.
    """
    millis = max(1, math.ceil(seconds * 1000))
    whole, rest = divmod(millis, 1000)
    return str(whole) if rest == 0 else f"{whole}.{rest:03d}".rstrip("0")


class _Bucket:
    __slots__ = ("admitted", "day", "day_count")

    def __init__(self) -> None:
        self.admitted: deque[float] = deque()
        self.day = 0
        self.day_count = 0


class RateLimiter:
    """Sliding-window burst limit plus a daily cap, per key. Not thread-safe: one event loop owns it."""

    def __init__(
        self, *, window_ms: int, burst_max: int, daily_max: int, day_length_s: float, epoch_s: float
    ):
        self.window_ms = window_ms
        self.burst_max = burst_max
        self.daily_max = daily_max
        self.day_length_s = day_length_s
        self.epoch_s = epoch_s
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def reset(self, *, epoch_s: float) -> None:
        self._buckets.clear()
        self.epoch_s = epoch_s

    def _bucket(self, key: tuple[str, str], now_s: float) -> _Bucket:
        bucket = self._buckets.setdefault(key, _Bucket())
        day = int((now_s - self.epoch_s) // self.day_length_s)
        if day != bucket.day:
            bucket.day, bucket.day_count = day, 0
        window_s = self.window_ms / 1000
        while bucket.admitted and bucket.admitted[0] <= now_s - window_s:
            bucket.admitted.popleft()
        return bucket

    def _decision(
        self, limit: int, burst_remaining: int, daily_remaining: int, retry_after_s: float | None = None
    ) -> RateDecision:
        """A decision under this limiter's window and daily cap: refused exactly when it names a wait."""
        return RateDecision(
            admitted=retry_after_s is None,
            burst_max=limit,
            burst_remaining=burst_remaining,
            window_ms=self.window_ms,
            daily_max=self.daily_max,
            daily_remaining=daily_remaining,
            retry_after_s=retry_after_s,
        )

    def peek(
        self, key: tuple[str, str] | None, now_s: float, *, burst_max: int | None = None
    ) -> RateDecision:
        """Header values without consuming budget (for requests refused before the limiter)."""
        limit = min(self.burst_max, burst_max or self.burst_max)
        if key is None:
            return self._decision(limit, limit, self.daily_max)
        bucket = self._bucket(key, now_s)
        return self._decision(
            limit, max(0, limit - len(bucket.admitted)), max(0, self.daily_max - bucket.day_count)
        )

    def acquire(self, key: tuple[str, str], now_s: float, *, burst_max: int | None = None) -> RateDecision:
        """Admit (and count) one request at ``now_s``, or refuse it with the wait until it could pass."""
        limit = min(self.burst_max, burst_max or self.burst_max)
        bucket = self._bucket(key, now_s)
        window_s = self.window_ms / 1000
        if bucket.day_count >= self.daily_max:
            next_day_s = self.epoch_s + (bucket.day + 1) * self.day_length_s
            return self._decision(
                limit, max(0, limit - len(bucket.admitted)), 0, max(0.001, next_day_s - now_s)
            )
        if len(bucket.admitted) >= limit:
            # The request can pass once enough of the oldest admitted ones have left the window.
            oldest_blocking = bucket.admitted[len(bucket.admitted) - limit]
            wait_s = max(0.001, oldest_blocking + window_s - now_s)
            return self._decision(limit, 0, self.daily_max - bucket.day_count, wait_s)
        bucket.admitted.append(now_s)
        bucket.day_count += 1
        return self._decision(limit, limit - len(bucket.admitted), self.daily_max - bucket.day_count)


def max_in_window(times_s: Iterable[float], window_ms: float) -> int:
    """The most timestamps that fall in any half-open window ``(t - window, t]``."""
    ordered = sorted(times_s)
    window_s = window_ms / 1000
    best = 0
    for i, t in enumerate(ordered):
        first = bisect.bisect_right(ordered, t - window_s)
        best = max(best, i + 1 - first)
    return best
