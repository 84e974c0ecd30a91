"""How fully does the client spend a sub-account's rate budget without ever overspending it?

Drives a few thousand requests through the in-process sandbox with HighLevel's window scaled down
(100 requests per 1000 ms instead of per 10 s) and realistic latency (150-400 ms per request), from enough
concurrent workers to cover the round trip. Prints the achieved rate ÷ budget (target ≥ 0.97), the most
requests the sandbox saw in any window (target ≤ 100) and the count of 429s (target 0), then one JSON line.

    python -m benchmarks.client_rate [--quick] [--requests N] [--workers N]
"""

from __future__ import annotations

import argparse
import bisect
import json
import time
from collections import Counter

import anyio
from aiolimiter import AsyncLimiter

from dentrix_highlevel.highlevel import (
    ContactInput,
    HighLevelClient,
    LimiterRegistry,
    RateBudget,
    RateLimiter,
    RetryPolicy,
)
from dentrix_highlevel.sandbox import FaultConfig, Sandbox, SandboxConfig

WINDOW_MS = 1000
RATE_MAX = 100


async def run(
    requests: int, workers: int, latency_ms: tuple[float, float], seed: int, margin_ms: int | None
) -> dict[str, float]:
    sandbox = Sandbox(
        SandboxConfig(rate_window_ms=WINDOW_MS, rate_max=RATE_MAX, seed=seed),
        faults=FaultConfig(latency_ms=latency_ms),
    )
    loc = sandbox.create_location()
    budget = RateBudget(max_requests=RATE_MAX, window_ms=WINDOW_MS, margin_ms=margin_ms)
    queue_send, queue_receive = anyio.create_memory_object_stream[int](requests)
    for i in range(requests):
        queue_send.send_nowait(i)
    queue_send.close()

    async with HighLevelClient(
        location_id=loc.location_id,
        auth=loc.token,
        transport=sandbox.transport(),
        budget=budget,
        retry=RetryPolicy(seed=seed),
        limiter_registry=LimiterRegistry(),
        max_connections=workers,
    ) as hl:
        contact_ids: list[str] = []

        async def worker() -> None:
            async with queue_receive.clone() as jobs:
                async for i in jobs:
                    # A migration-like mix: two upserts (writes), then a read-back of an earlier one.
                    if i % 3 == 2 and contact_ids:
                        await hl.contacts.get(contact_ids[i % len(contact_ids)])
                    else:
                        result = await hl.contacts.upsert(ContactInput(email=f"bench{i}@example.com"))
                        contact_ids.append(result.contact.id)

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(workers):
                tg.start_soon(worker)
        elapsed_s = time.perf_counter() - started
        queue_receive.close()

    log = sandbox.request_log
    times = sorted(r.time_s for r in log)
    statuses = Counter(r.status for r in log)
    budget_per_s = RATE_MAX / (WINDOW_MS / 1000)
    # Steady state = the slope of "requests sent so far" against time (least squares), after the first
    # window. A plain count / span is biased by up to one window's worth of requests at the edges.
    steady = [t for t in times if t > times[0] + WINDOW_MS / 1000]
    achieved_per_s = _slope(steady)
    overall_per_s = len(times) / (times[-1] - times[0]) if len(times) > 1 else float("nan")
    return {
        "requests": len(log),
        "workers": workers,
        "latency_ms_min": latency_ms[0],
        "latency_ms_max": latency_ms[1],
        "window_ms": WINDOW_MS,
        "margin_ms": budget.effective_margin_ms,
        "rate_max": RATE_MAX,
        "elapsed_s": round(elapsed_s, 3),
        "achieved_per_s": round(achieved_per_s, 2),
        "rate_ratio": round(achieved_per_s / budget_per_s, 4),
        "overall_rate_ratio": round(overall_per_s / budget_per_s, 4),
        "max_in_any_window": sandbox.max_requests_in_window(),
        "count_429": statuses.get(429, 0),
        "count_5xx": sum(v for k, v in statuses.items() if k >= 500),
    }


def max_in_window(times: list[float], window_ms: float) -> int:
    """The most timestamps in any half-open window ``(t - window, t]``."""
    ordered = sorted(times)
    window_s = window_ms / 1000
    return max((i + 1 - bisect.bisect_right(ordered, t - window_s) for i, t in enumerate(ordered)), default=0)


async def limiter_alone(requests: int) -> dict[str, int]:
    """Why not plain aiolimiter: its bucket starts empty, so one window can admit ~2x the budget."""
    window_s = WINDOW_MS / 1000
    naive = AsyncLimiter(RATE_MAX, window_s)
    naive_times: list[float] = []
    for _ in range(requests):
        await naive.acquire()
        naive_times.append(time.monotonic())
    ours = RateLimiter(RateBudget(max_requests=RATE_MAX, window_ms=WINDOW_MS))
    our_times = [(await ours.acquire()).sent_at for _ in range(requests)]
    return {
        "aiolimiter_alone_max_in_window": max_in_window(naive_times, WINDOW_MS),
        "our_limiter_max_in_window": max_in_window(our_times, WINDOW_MS),
    }


def _slope(times: list[float]) -> float:
    n = len(times)
    if n < 2:
        return float("nan")
    mean_t = sum(times) / n
    mean_i = (n - 1) / 2
    var = sum((t - mean_t) ** 2 for t in times)
    cov = sum((t - mean_t) * (i - mean_i) for i, t in enumerate(times))
    return cov / var if var > 0 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="600 requests instead of 3000")
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--workers", type=int, default=64, help="concurrent tasks (cover rate x latency)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--margin-ms",
        type=int,
        default=20,
        help="limiter margin (default 20 ms = 2%% of the scaled window: a process stall on a shared box "
        "does not shrink with the window; the library default is 1%%, i.e. 100 ms at HighLevel's 10 s)",
    )
    args = parser.parse_args()
    requests = args.requests or (600 if args.quick else 3000)
    result = anyio.run(run, requests, args.workers, (150.0, 400.0), args.seed, args.margin_ms)
    sent, workers = result["requests"], result["workers"]
    print(f"requests sent              {sent} from {workers} workers, 150-400 ms latency")
    print(f"budget                     {RATE_MAX} per {WINDOW_MS} ms (HighLevel's 100 per 10 s, scaled 10x)")
    print(f"limiter margin             {result['margin_ms']} ms")
    print(f"achieved rate / budget     {result['rate_ratio']:.4f}   (target >= 0.97; steady-state slope)")
    print(f"  count / span, whole run  {result['overall_rate_ratio']:.4f}   (edge-biased upwards)")
    print(f"max requests in any window {result['max_in_any_window']}   (target <= {RATE_MAX})")
    print(f"429 responses              {result['count_429']}   (target 0)")
    compared = anyio.run(limiter_alone, 2 * RATE_MAX + 50)
    naive_max = compared["aiolimiter_alone_max_in_window"]
    print(f"aiolimiter({RATE_MAX}, {WINDOW_MS} ms) alone  {naive_max} in one window")
    print(f"our limiter, same budget   {compared['our_limiter_max_in_window']} in one window")
    print(json.dumps({**result, **compared}, sort_keys=True))


if __name__ == "__main__":
    main()
