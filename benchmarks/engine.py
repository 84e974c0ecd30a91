"""How close does a full migration run come to the minimum time HighLevel's rate budget allows?

Writes a synthetic practice as a G export, migrates it into the in-process sandbox with HighLevel's window
scaled down (100 requests per 1000 ms instead of per 10 s; ``--window-ms``) and a little latency, then prints
requests per patient by object kind and the wall time ÷ the minimum the budget allows for the requests sent
(requests × window ÷ max). 1,000 patients with ``--quick``, 10,000 without. It prints; it asserts nothing.

    python -m benchmarks.engine [--quick] [--patients N] [--window-ms MS] [--concurrency N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import anyio

from dentrix_highlevel.highlevel import HighLevelClient, RateBudget, RateLimiter, RetryPolicy
from dentrix_highlevel.migration import Migration, build_plan
from dentrix_highlevel.sandbox import FaultConfig, Sandbox, SandboxConfig
from dentrix_highlevel.sources import GExportSource
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

RATE_MAX = 100
HEARTBEAT_S = 0.005


class LoopWatch:
    """A heartbeat task: sleeps ``HEARTBEAT_S`` in a loop and keeps the longest lateness it sees.

    Lateness is how much longer than asked a sleep took: time the event loop spent on something else
    without yielding (what an embedding web service would feel as a stall). Reported, never asserted.
    """

    def __init__(self) -> None:
        self.max_stall_s = 0.0
        self.phase = "plan"
        self.by_phase: dict[str, float] = {}

    async def beat(self) -> None:
        while True:
            asked = time.perf_counter()
            await anyio.sleep(HEARTBEAT_S)
            stall = time.perf_counter() - asked - HEARTBEAT_S
            self.max_stall_s = max(self.max_stall_s, stall)
            self.by_phase[self.phase] = max(self.by_phase.get(self.phase, 0.0), stall)


def kind_of(method: str, path: str) -> str:
    """Which object kind a request served (paths hold ids only)."""
    if "/notes" in path:
        return "note"
    if "/tasks" in path:
        return "task"
    if path.startswith("/medias"):
        return "document"
    if path.startswith("/associations/relations"):
        return "relation"
    if path.startswith("/opportunities/pipelines"):
        return "setup"
    if path.startswith("/opportunities"):
        return "opportunity"
    if path.startswith("/calendars/events"):
        return "appointment"
    if path == "/contacts/search":
        return "search"
    if path.startswith("/contacts"):
        return "contact"
    return "setup"


async def migrate(export: Path, workdir: Path, *, window_ms: int, concurrency: int) -> dict[str, object]:
    sandbox = Sandbox(
        SandboxConfig(rate_window_ms=window_ms, rate_max=RATE_MAX), faults=FaultConfig(latency_ms=(5.0, 25.0))
    )
    loc = sandbox.create_location()
    budget = RateBudget(max_requests=RATE_MAX, window_ms=window_ms, daily_reserve=0)
    async with (
        HighLevelClient(
            location_id=loc.location_id,
            token=loc.token,
            transport=sandbox.transport(),
            budget=budget,
            limiter=RateLimiter(budget),
            retry=RetryPolicy(seed=0),
            max_connections=concurrency,
        ) as hl,
        GExportSource(export) as source,
        Migration(source, hl, workdir=workdir, concurrency=concurrency) as migration,
    ):
        watch = LoopWatch()
        async with anyio.create_task_group() as beats:
            beats.start_soon(watch.beat)
            await build_plan(source, options=migration.options)
            await migration.aapprove(by="benchmark")
            watch.phase = "run"
            started = time.perf_counter()
            result = await migration.run()
            wall_s = time.perf_counter() - started
            beats.cancel_scope.cancel()
        patients = source.patient_count
    log = sandbox.request_log
    by_kind = Counter(kind_of(r.method, r.path) for r in log)
    status = Counter(r.status for r in log)
    minimum_s = len(log) * window_ms / 1000 / RATE_MAX
    return {
        "patients": patients,
        "status": result.status.value,
        "reconciles": result.reconciliation.reconciles,
        "requests": len(log),
        "requests_per_patient": round(len(log) / patients, 3),
        "per_patient_by_kind": {k: round(v / patients, 3) for k, v in sorted(by_kind.items())},
        "http_429": status.get(429, 0),
        "max_in_window": sandbox.max_requests_in_window(),
        "wall_s": round(wall_s, 2),
        "minimum_s": round(minimum_s, 2),
        "wall_over_minimum": round(wall_s / minimum_s, 3) if minimum_s else None,
        # The longest the event loop went without running the heartbeat, during plan and run.
        "max_loop_stall_ms": round(watch.max_stall_s * 1000, 1),
        "max_loop_stall_ms_by_phase": {k: round(v * 1000, 1) for k, v in sorted(watch.by_phase.items())},
    }


def _thread_cpu_s(thread: threading.Thread | None) -> float:
    if thread is None or thread.ident is None or not hasattr(time, "pthread_getcpuclockid"):
        return 0.0
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


async def client_cpu(export: Path, workdir: Path, *, concurrency: int) -> dict[str, float]:
    """Client CPU per request: a migration against the sandbox served over loopback HTTP (uvicorn in a
    thread), with the server thread's CPU time taken out of the process's. The budget is wide (1,000 per
    second) so the run is CPU-bound; the figure is CPU time, not wall time."""
    from dentrix_highlevel.sandbox import SandboxServer

    sandbox = Sandbox(SandboxConfig(rate_window_ms=1000, rate_max=1000))
    with SandboxServer(sandbox) as server:
        assert server.location is not None
        budget = RateBudget(max_requests=1000, window_ms=1000, daily_reserve=0)
        thread = server._thread  # the benchmark subtracts the server thread's CPU
        cpu_before, server_before = time.process_time(), _thread_cpu_s(thread)
        async with (
            HighLevelClient(
                location_id=server.location.location_id,
                token=server.location.token,
                base_url=server.base_url,
                budget=budget,
                limiter=RateLimiter(budget),
                retry=RetryPolicy(seed=0),
                max_connections=concurrency,
            ) as hl,
            GExportSource(export) as source,
            Migration(source, hl, workdir=workdir, concurrency=concurrency) as migration,
        ):
            migration.approve(by="benchmark")
            await migration.run()
        client_s = (time.process_time() - cpu_before) - (_thread_cpu_s(thread) - server_before)
        requests = len(sandbox.request_log)
    return {
        "requests": requests,
        "client_cpu_s": round(client_s, 3),
        "client_cpu_ms_per_request": round(client_s * 1000 / requests, 3) if requests else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1,000 patients instead of 10,000")
    parser.add_argument("--patients", type=int, default=None)
    parser.add_argument("--window-ms", type=int, default=1000, help="the sandbox's (scaled) rate window")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    patients = args.patients or (1_000 if args.quick else 10_000)
    with tempfile.TemporaryDirectory(prefix="dentrix-highlevel-bench-") as tmp:
        export = Path(tmp) / "export"
        write_g_export(SyntheticPractice(SynthConfig(patients=patients, seed=args.seed)), export)
        report = anyio.run(
            lambda: migrate(
                export, Path(tmp) / "work", window_ms=args.window_ms, concurrency=args.concurrency
            )
        )
    print(
        f"patients              {report['patients']}  ({report['status']}, reconciles={report['reconciles']})"
    )
    print(f"requests              {report['requests']}  ({report['requests_per_patient']} per patient)")
    for kind, per in report["per_patient_by_kind"].items():  # type: ignore[attr-defined]
        print(f"  {kind:<20}{per} per patient")
    print(f"429s / max in window  {report['http_429']} / {report['max_in_window']} (budget {RATE_MAX})")
    print(f"wall time             {report['wall_s']} s; budget minimum {report['minimum_s']} s")
    print(f"wall ÷ minimum        {report['wall_over_minimum']}")
    print(f"longest loop stall    {report['max_loop_stall_ms']} ms (plan and run)")
    print(json.dumps(report, sort_keys=True))


if __name__ == "__main__":
    main()
