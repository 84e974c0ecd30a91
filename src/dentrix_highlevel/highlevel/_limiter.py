"""One rate limiter per HighLevel sub-account: a sliding-window log with aiolimiter pacing in front.

HighLevel counts requests per (app, location) in a sliding burst window (100 per 10 s) and per day
(200,000); the server stamps a request when it arrives. The limiter keeps a log of the send times of the last
``max_requests`` requests and admits a request only when fewer than the ceiling were sent in the last window
(plus a small margin for the jitter between our stamp and the server's).

A request's time in the log is taken when it *leaves* (:meth:`RateLimiter.sent`, called by the client just
before the request goes to the transport), not when it was admitted: the server's stamp comes after our
send stamp, never before it, so a request admitted at the end of one window but sent early in the next one
is counted where the server counts it. Between admission and sending a request holds a slot that counts as
"in every window" (it can only be stamped later than now). Together that proves the invariant "never more
than the ceiling in any window" up to the one-way delay, which the margin absorbs. aiolimiter's leaky bucket
runs in front of the guard with a small capacity, so requests leave evenly paced instead of in bursts.
"""

from __future__ import annotations

import asyncio
import bisect
import contextvars
import gc
import itertools
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Mapping

import anyio
import attrs
from aiolimiter import AsyncLimiter

from dentrix_highlevel._errors import ConfigurationError, DailyCapReachedError

__all__ = ["LimiterRegistry", "RateBudget", "RateLimiter", "SendTicket", "default_registry"]

_log = logging.getLogger("dentrix_highlevel.highlevel")

_DAY_S = 86_400.0

RATE_WAIT_HOOK: contextvars.ContextVar[Callable[[float], None] | None] = contextvars.ContextVar(
    "dentrix_highlevel_rate_wait", default=None
)
"""Told each time a request waits for the window (seconds). A context variable, not a limiter
attribute: one limiter serves every client of its location, and only the migration whose task waited
should hear of it (child tasks inherit it)."""

# -- process stalls ---------------------------------------------------------------------------------
# A garbage collection freezes every task of the process. One that falls between a request's send stamp and
# the moment the request really leaves (or, with the in-process sandbox, is counted) delays the server's
# stamp by the whole pause, which no margin of a scaled-down window covers: the pauses of a large heap reach
# tens of milliseconds. So every pause is noted (monotonic start and end), and each limiter moves the
# stamps of the requests sent just before it to its end. Only limiters on the real monotonic clock apply them.
_STALL_MIN_S = 0.0002
_STALL_LOOKBACK_S = 0.005
"""How long before a pause a request may have been stamped and still not left when the pause began."""
_STALLS: deque[tuple[int, float, float]] = deque(maxlen=64)
_STALL_SEQ = itertools.count(1)
_gc_started = 0.0


def _on_gc(phase: str, info: Mapping[str, int]) -> None:
    global _gc_started
    now = time.monotonic()
    if phase == "start":
        _gc_started = now
    elif now - _gc_started >= _STALL_MIN_S:
        _STALLS.append((next(_STALL_SEQ), _gc_started, now))


gc.callbacks.append(_on_gc)

# The other process stall: the scheduler runs someone else (a busy machine). Linux counts, per thread, the
# time it was runnable but waiting for a CPU (the second field of /proc/self/task/<tid>/schedstat); a request
# sent before such a wait and still on its way when it began arrives late by at most that wait.
_schedstat = threading.local()


def _runqueue_wait_s() -> float | None:
    """This thread's total time waiting for a CPU so far (seconds), or None where the OS does not say."""
    fd = getattr(_schedstat, "fd", None)
    if fd is None:
        if getattr(_schedstat, "failed", False):
            return None
        try:
            fd = os.open(f"/proc/self/task/{threading.get_native_id()}/schedstat", os.O_RDONLY)
        except OSError:
            _schedstat.failed = True
            return None
        _schedstat.fd = fd
    try:
        return int(os.pread(fd, 64, 0).split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


_MIN_MARGIN_MS = 2
"""The default margin's floor: a stamp-to-count delay of a process on a busy machine, whatever the window."""


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value <= 0:
        raise ConfigurationError(f"RateBudget.{attribute.name} must be > 0")


@attrs.frozen(kw_only=True)
class RateBudget:
    """A sub-account's request budget and how the limiter spends it.

    ``max_requests`` per ``window_ms`` is HighLevel's burst limit; ``daily_max`` its daily cap. When the
    daily remaining budget (ours or the server's ``X-RateLimit-Daily-Remaining``) falls to
    ``daily_reserve`` the limiter raises :class:`DailyCapReachedError` so the engine can checkpoint.
    ``margin_ms`` widens the window we enforce (default 1% of it, at least 2 ms) to absorb the delay between
    our send stamp and the server's count (which does not shrink with a scaled-down window);
    ``burst`` is the pacer's capacity (0 disables pacing). A 429 without ``Retry-After`` pauses all tasks
    for ``backoff_429_s``, doubling per consecutive 429 up to ``max_backoff_429_s``.
    """

    max_requests: int = attrs.field(default=100, validator=_positive)
    window_ms: int = attrs.field(default=10_000, validator=_positive)
    daily_max: int = attrs.field(default=200_000, validator=_positive)
    daily_reserve: int = 1_000
    margin_ms: int | None = None
    burst: int = 10
    backoff_429_s: float = 1.0
    max_backoff_429_s: float = 60.0

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.daily_reserve < self.daily_max:
            raise ConfigurationError("RateBudget.daily_reserve must be in [0, daily_max)")
        if self.margin_ms is not None and self.margin_ms < 0:
            raise ConfigurationError("RateBudget.margin_ms must be >= 0")
        if not 0 <= self.burst <= self.max_requests:
            raise ConfigurationError("RateBudget.burst must be in [0, max_requests]")
        if self.backoff_429_s <= 0 or self.max_backoff_429_s < self.backoff_429_s:
            raise ConfigurationError("RateBudget backoff must satisfy 0 < backoff_429_s <= max_backoff_429_s")

    @classmethod
    def scaled(cls, *, max_requests: int, window_ms: int, daily_max: int) -> RateBudget:
        """A budget for these limits with the defaults scaled to fit them: HighLevel's daily reserve of
        1,000 (at most a tenth of a small cap, as in a sandbox) and a pacer burst of 10 (at most
        ``max_requests``)."""
        return cls(
            max_requests=max_requests,
            window_ms=window_ms,
            daily_max=daily_max,
            daily_reserve=min(1_000, daily_max // 10),
            burst=min(10, max_requests),
        )

    @property
    def effective_margin_ms(self) -> int:
        return max(self.window_ms // 100, _MIN_MARGIN_MS) if self.margin_ms is None else self.margin_ms


@attrs.frozen
class SendTicket:
    """One admitted request: when it was sent (or admitted, until sent), and our own count at that moment.

    ``in_window`` is how many of our bookings (this one included) lay in the server's window at send time;
    ``booked_before`` is the limiter's running total, so later bookings can be told apart. ``pending`` is
    true for a ticket from :meth:`RateLimiter.admit` until :meth:`RateLimiter.sent` stamps it.
    """

    sent_at: float
    in_window: int
    booked_before: int
    pending: bool = False


class RateLimiter:
    """Admits requests for one sub-account; shared by every task and client that writes to it.

    ``acquire()`` returns a :class:`SendTicket`; pass it back to ``observe()`` with the response's
    rate-limit headers so the limiter can compare its own count with the server's.
    ``clock`` and ``sleep`` are test seams (a fake clock and a sleep that advances it).
    """

    def __init__(
        self,
        budget: RateBudget | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        pace: bool = True,
    ) -> None:
        self.budget = budget or RateBudget()
        self._clock = clock
        self._sleep = sleep
        self._pace = pace and self.budget.burst > 0
        self._sends: list[float] = []  # sorted send times (and phantoms), newest last
        self._booked = 0  # running total of our own bookings
        self._pending = 0  # admitted, not sent yet: they count in every window
        self._stall_seen = next(_STALL_SEQ)  # the pauses this limiter has applied (or predate it)
        # Sends not checked for a CPU wait yet: (stamp, thread id, the thread's wait total at the stamp).
        self._unchecked: list[tuple[float, int, float]] = []
        self._ceiling = self.budget.max_requests
        self._window_s = self.budget.window_ms / 1000.0
        self._margin_s = self.budget.effective_margin_ms / 1000.0
        self._paused_until = float("-inf")
        self._consecutive_429 = 0
        self._day_started: float | None = None
        self._daily_sent = 0
        self._server_daily_remaining: int | None = None
        self._server_daily_seen_at = 0.0
        self._lock: anyio.Lock | None = None
        self._pacer: AsyncLimiter | None = None
        self._pacer_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return (
            f"RateLimiter(ceiling={self._ceiling}, window_ms={round(self._window_s * 1000)}, "
            f"sent_in_window={self.sent_in_window()}, daily_sent={self._daily_sent})"
        )

    # -- what tests and progress output read --------------------------------------------------------
    @property
    def ceiling(self) -> int:
        """Requests allowed per window now (the configured max, or lower when the server said so)."""
        return self._ceiling

    @property
    def window_s(self) -> float:
        return self._window_s

    @property
    def paused_until(self) -> float:
        return self._paused_until

    @property
    def daily_sent(self) -> int:
        return self._daily_sent

    @property
    def server_daily_remaining(self) -> int | None:
        """What HighLevel last said is left of today's budget (``X-RateLimit-Daily-Remaining``), if it
        said so in the last day."""
        if self._server_daily_remaining is None or self._clock() - self._server_daily_seen_at >= _DAY_S:
            return None
        return self._server_daily_remaining

    def sent_in_window(self, now: float | None = None) -> int:
        now = self._clock() if now is None else now
        start = now - self._window_s - self._margin_s
        return len(self._sends) - bisect.bisect_right(self._sends, start) + self._pending

    # -- admission -----------------------------------------------------------------------------------
    async def acquire(self) -> SendTicket:
        """Wait until one request may be sent now, book it as sent now, and return its ticket.

        For callers that send at once; the client uses :meth:`admit` and :meth:`sent` so the log holds the
        time the request actually left.
        """
        return self.sent(await self.admit())

    async def admit(self) -> SendTicket:
        """Wait until one request may be sent now and hold a slot for it; returns a pending ticket.

        Pass the ticket to :meth:`sent` just before the request leaves, or to :meth:`withdraw` if it never
        does. Until then the slot counts in every window.
        """
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if self._pace:
                # Inside the lock the pacer sees one consumer, so it paces the queue, not a herd.
                await self._pacer_for_loop().acquire()
            while True:
                self._apply_stalls()
                now = self._clock()
                self._check_daily(now)
                wait = max(self._paused_until - now, self._window_wait(now))
                if wait <= 0:
                    break
                hook = RATE_WAIT_HOOK.get()
                if hook is not None:
                    hook(wait)
                await self._sleep(wait)
            self._pending += 1
            self._count_daily(now)
            self._booked += 1
            return SendTicket(now, 0, self._booked, pending=True)

    def sent(self, ticket: SendTicket) -> SendTicket:
        """Stamp a pending ticket with the time its request leaves (now); returns the stamped ticket."""
        if not ticket.pending:
            return ticket
        now = self._clock()
        self._pending = max(0, self._pending - 1)
        if not self._sends or now >= self._sends[-1]:
            self._sends.append(now)
        else:
            bisect.insort(self._sends, now)  # another clock (a test's) may step back; keep the log sorted
        self._prune(now)
        if self._clock is time.monotonic:
            waited = _runqueue_wait_s()
            if waited is not None:
                self._unchecked.append((now, threading.get_ident(), waited))
        in_window = len(self._sends) - bisect.bisect_right(self._sends, now - self._window_s)
        return attrs.evolve(ticket, sent_at=now, in_window=in_window, pending=False)

    def withdraw(self, ticket: SendTicket) -> None:
        """Give back a pending ticket's slot: its request was never sent."""
        if ticket.pending:
            self._pending = max(0, self._pending - 1)
            self._daily_sent = max(0, self._daily_sent - 1)

    def _apply_stalls(self) -> None:
        if self._clock is not time.monotonic:
            return
        if self._unchecked:
            self._apply_cpu_waits()
        if not _STALLS or _STALLS[-1][0] <= self._stall_seen:
            return
        lookback = max(self._margin_s, _STALL_LOOKBACK_S)
        sends = self._sends
        for seq, start, end in list(_STALLS):
            if seq <= self._stall_seen:
                continue
            self._stall_seen = seq
            # Sorted stays sorted: every later send is at or after the pause's end.
            for k in range(bisect.bisect_left(sends, start - lookback), bisect.bisect_left(sends, end)):
                sends[k] = end

    def _apply_cpu_waits(self) -> None:
        # Another task runs now, so each of these requests has left (or, in-process, been counted) since
        # its stamp; if the thread waited for a CPU in between, it may have left that much later.
        waited_now = _runqueue_wait_s()
        thread = threading.get_ident()
        for stamp, sent_by, waited_then in self._unchecked:
            late = 0.0 if waited_now is None or sent_by != thread else waited_now - waited_then
            if late >= _STALL_MIN_S:
                k = bisect.bisect_left(self._sends, stamp)
                if k < len(self._sends) and self._sends[k] == stamp:
                    del self._sends[k]
                    bisect.insort(self._sends, stamp + late)
        self._unchecked.clear()

    def _window_wait(self, now: float) -> float:
        held = len(self._sends) + self._pending
        if held < self._ceiling:
            return 0.0
        if self._pending >= self._ceiling:
            # Every slot is held by a request not sent yet: each will be stamped now or later.
            return self._window_s + self._margin_s
        # The ceiling-th newest send (pending slots being the newest) must have left the widened window.
        return self._sends[-(self._ceiling - self._pending)] + self._window_s + self._margin_s - now

    def _count_daily(self, now: float) -> None:
        if self._day_started is None or now - self._day_started >= _DAY_S:
            self._day_started = now
            self._daily_sent = 0
        self._daily_sent += 1

    def _prune(self, now: float) -> None:
        start = now - self._window_s - self._margin_s
        cut = bisect.bisect_right(self._sends, start)
        keep_from = max(cut, len(self._sends) - self.budget.max_requests)
        if keep_from > 0:
            del self._sends[:keep_from]

    def _pacer_for_loop(self) -> AsyncLimiter:
        # aiolimiter binds to the running event loop; a process may run several loops one after another.
        loop = asyncio.get_running_loop()
        if self._pacer is None or self._pacer_loop is not loop:
            burst = self.budget.burst
            period = burst * (self._window_s + self._margin_s) / self.budget.max_requests
            self._pacer = AsyncLimiter(burst, period)
            self._pacer_loop = loop
        return self._pacer

    def _check_daily(self, now: float) -> None:
        reserve = self.budget.daily_reserve
        server = self._server_daily_remaining
        if server is not None and now - self._server_daily_seen_at >= _DAY_S:
            server = self._server_daily_remaining = None
        own_remaining = self.budget.daily_max - self._daily_sent
        if self._day_started is not None and now - self._day_started >= _DAY_S:
            own_remaining = self.budget.daily_max
        remaining = own_remaining if server is None else min(server, own_remaining)
        if remaining <= reserve:
            raise DailyCapReachedError(
                f"daily request budget down to its reserve ({remaining} left, reserve {reserve})",
                remaining=remaining,
            )

    def reset_daily(self) -> None:
        """Forget the daily count (call after HighLevel's daily reset, before resuming)."""
        self._day_started = None
        self._daily_sent = 0
        self._server_daily_remaining = None

    # -- feedback from responses ---------------------------------------------------------------------
    def observe(self, ticket: SendTicket, headers: Mapping[str, str], *, status_code: int) -> None:
        """Adapt to one response's ``X-RateLimit-*`` headers (a stricter server always wins)."""
        now = self._clock()
        headers = {k.lower(): v for k, v in headers.items()}
        server_max = _int_header(headers, "x-ratelimit-max")
        remaining = _int_header(headers, "x-ratelimit-remaining")
        interval_ms = _int_header(headers, "x-ratelimit-interval-milliseconds")
        daily_remaining = _int_header(headers, "x-ratelimit-daily-remaining")
        if interval_ms is not None and interval_ms / 1000.0 > self._window_s:
            self._window_s = interval_ms / 1000.0
        if server_max is not None and 0 < server_max < self._ceiling:
            _log.debug("rate ceiling lowered from %d to %d by the server", self._ceiling, server_max)
            self._ceiling = server_max
        if server_max is not None and remaining is not None:
            self._reconcile(ticket, now, server_count=server_max - remaining)
        if daily_remaining is not None:
            self._server_daily_remaining = daily_remaining
            self._server_daily_seen_at = now
        if 200 <= status_code < 300:
            self._consecutive_429 = 0

    def _reconcile(self, ticket: SendTicket, now: float, *, server_count: int) -> None:
        if now - ticket.sent_at > self._window_s:
            return  # the answer took longer than a window: its count says nothing about the present one
        # The server may also have counted requests we booked after this one (they can overtake it), so
        # our side is the count at send time plus everything booked since: what exceeds that is not ours.
        ours = ticket.in_window + (self._booked - ticket.booked_before)
        extra = min(server_count - ours, self.budget.max_requests)
        if extra > 0:
            # Someone else spends this budget too (another process or app on the same token): count the
            # difference as phantom sends at that time so the window fills up as the server sees it.
            _log.debug("server counts %d requests we did not send; treating them as ours", extra)
            for _ in range(extra):
                bisect.insort(self._sends, ticket.sent_at)
            self._prune(now)

    def on_429(self, retry_after_s: float | None) -> float:
        """Pause every task of this sub-account; returns the pause in seconds."""
        self._consecutive_429 += 1
        if retry_after_s is None or retry_after_s <= 0:
            pause = min(
                self.budget.backoff_429_s * float(2 ** (self._consecutive_429 - 1)),
                self.budget.max_backoff_429_s,
            )
        else:
            pause = float(retry_after_s)
        self.pause(pause)
        return pause

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + seconds)


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return int(float(raw))
    except ValueError:
        return None


_Key = tuple[str, str]


class LimiterRegistry:
    """Hands out one :class:`RateLimiter` per (base URL, location) while someone holds it.

    A :class:`HighLevelClient` *holds* its limiter from construction to ``aclose()`` (:meth:`hold`,
    :meth:`release`): clients open at the same time share one limiter (and must agree on its budget), and
    once the last of them is closed the entry is gone, so the next client may bring another
    :class:`RateBudget` without waiting for the garbage collector. :meth:`get` shares a limiter while the
    caller keeps a reference to it (entries are held weakly).

    The process-wide registry is :func:`default_registry`; tests pass a fresh ``LimiterRegistry()`` to
    the client instead of reaching into module state.
    """

    def __init__(self) -> None:
        self._limiters: weakref.WeakValueDictionary[_Key, RateLimiter] = weakref.WeakValueDictionary()
        # Open clients per key, with the limiter they hold (a strong reference: the entry lives until the
        # last holder releases it, even if a holder dropped its own reference without closing).
        self._holds: dict[_Key, tuple[RateLimiter, int]] = {}
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"LimiterRegistry(limiters={len(self._limiters)})"

    @staticmethod
    def _key(base_url: str, location_id: str) -> _Key:
        return (base_url.rstrip("/").lower(), location_id)

    def get(self, base_url: str, location_id: str, budget: RateBudget | None = None) -> RateLimiter:
        with self._guard:
            return self._get(self._key(base_url, location_id), location_id, budget)

    def _get(self, key: _Key, location_id: str, budget: RateBudget | None) -> RateLimiter:
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = RateLimiter(budget)
            self._limiters[key] = limiter
        elif budget is not None and budget != limiter.budget:
            raise ConfigurationError(
                f"location {location_id} already has a limiter with a different RateBudget; "
                "every open client of one sub-account must share one budget (close the others first)"
            )
        return limiter

    def hold(self, base_url: str, location_id: str, budget: RateBudget | None = None) -> RateLimiter:
        """:meth:`get`, and count the caller as a holder until :meth:`release`."""
        key = self._key(base_url, location_id)
        with self._guard:
            limiter = self._get(key, location_id, budget)
            held, count = self._holds.get(key, (limiter, 0))
            self._holds[key] = (limiter, count + 1 if held is limiter else 1)
            return limiter

    def release(self, base_url: str, location_id: str, limiter: RateLimiter) -> None:
        """One holder of ``limiter`` is done; the last one removes the entry (idempotent per hold)."""
        key = self._key(base_url, location_id)
        with self._guard:
            held, count = self._holds.get(key, (None, 0))
            if held is not limiter:
                return  # already released, or the entry was replaced since
            if count > 1:
                self._holds[key] = (limiter, count - 1)
                return
            del self._holds[key]
            if self._limiters.get(key) is limiter:
                del self._limiters[key]

    def __len__(self) -> int:
        return len(self._limiters)


_DEFAULT_REGISTRY = LimiterRegistry()


def default_registry() -> LimiterRegistry:
    """The registry every client uses unless given another."""
    return _DEFAULT_REGISTRY
