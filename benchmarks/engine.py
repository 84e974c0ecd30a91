"""How close does a full migration run come to the minimum time HighLevel's rate budget allows?

Writes a synthetic practice as a G export, migrates it into the in-process sandbox with HighLevel's window
scaled down (100 requests per 1000 ms instead of per 10 s; ``--window-ms``) and a little latency, then prints
requests per patient by object kind and the wall time ÷ the minimum the budget allows for the requests sent
(requests × window ÷ max). 1,000 patients with ``--quick``, 10,000 without. It prints; it asserts nothing.

The longest event-loop stall is measured twice: with the sandbox in another process (``dentrix-highlevel
sandbox serve``; ``max_loop_stall_ms``, what an embedding program feels) and with it in-process, answering
on the same loop (``max_loop_stall_ms_in_process``). ``--stall-stacks MS`` samples the stacks while the
loop is more than MS late; ``--stall-only`` runs only the first.

    python -m benchmarks.engine [--quick] [--patients N] [--window-ms MS] [--concurrency N]
        [--stall-stacks MS] [--stall-only]
"""

from __future__ import annotations

import argparse
import gc
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import anyio
import anyio.lowlevel
import anyio.to_thread
import httpx

from dentrix_highlevel.highlevel import HighLevelClient, RateBudget, RateLimiter, RetryPolicy
from dentrix_highlevel.migration import Migration, RunResult, build_plan
from dentrix_highlevel.sandbox import FaultConfig, Sandbox, SandboxConfig
from dentrix_highlevel.sandbox._config import DEFAULT_SEARCH_INDEX_LAG_MS
from dentrix_highlevel.sources import GExportSource
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

RATE_MAX = 100
HEARTBEAT_S = 0.005
LATENCY_MS = (5.0, 25.0)


def _schedstat(native_id: int) -> tuple[float, float]:
    """A thread's (time on a CPU, time runnable but waiting for one) so far, in seconds (Linux), or 0s."""
    try:
        with open(f"/proc/self/task/{native_id}/schedstat", "rb") as stat:
            ran, waited = stat.read().split()[:2]
            return int(ran) / 1e9, int(waited) / 1e9
    except (OSError, ValueError):
        return 0.0, 0.0


def _runqueue_s(native_id: int) -> float:
    return _schedstat(native_id)[1]


class LoopWatch:
    """A heartbeat task: sleeps ``HEARTBEAT_S`` in a loop and keeps the longest lateness it sees.

    Lateness is how much longer than asked a sleep took: time the event loop spent on something else
    without yielding (what an embedding web service would feel as a stall). Reported, never asserted.
    Each late beat is also split by what the loop's thread did meanwhile: ``busy`` is its own CPU time
    (work on the loop, the garbage collector's included), ``cpu_wait`` the time it was runnable while the
    OS ran something else (a loaded machine); the rest is waiting for the GIL or for a blocking call.
    ``gc`` is the longest full collection (CPU time, on any thread: it holds the GIL, so the loop waits).
    """

    def __init__(self, *, sample_after_s: float | None = None) -> None:
        self.max_stall_s = 0.0
        self.max_busy_s = 0.0
        self.max_cpu_wait_s = 0.0
        self.max_gc_s = 0.0
        self._gc_started = threading.local()
        self.phase = "plan"
        self.by_phase: dict[str, float] = {}
        # With ``sample_after_s``, a watchdog thread samples the stacks while a beat is that late: where
        # the loop's thread is during a stall, and what the other threads run meanwhile.
        self.sample_after_s = sample_after_s
        self.stacks: Counter[str] = Counter()
        self._asked = time.perf_counter()
        self._loop_thread = self._loop_native_id = 0
        self._stop = threading.Event()

    async def beat(self) -> None:
        self._loop_thread = threading.get_ident()
        native_id = self._loop_native_id = threading.get_native_id()
        if self.sample_after_s is not None:
            threading.Thread(target=self._watch, name="loop-watchdog", daemon=True).start()
        gc.callbacks.append(self._on_gc)
        try:
            while True:
                asked = self._asked = time.perf_counter()
                cpu, queued = time.thread_time(), _runqueue_s(native_id)
                await anyio.sleep(HEARTBEAT_S)
                stall = time.perf_counter() - asked - HEARTBEAT_S
                self.max_stall_s = max(self.max_stall_s, stall)
                self.by_phase[self.phase] = max(self.by_phase.get(self.phase, 0.0), stall)
                self.max_busy_s = max(self.max_busy_s, time.thread_time() - cpu)
                self.max_cpu_wait_s = max(self.max_cpu_wait_s, _runqueue_s(native_id) - queued)
        finally:
            gc.callbacks.remove(self._on_gc)
            self._stop.set()

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._gc_started.cpu = time.thread_time()
        elif (started := getattr(self._gc_started, "cpu", None)) is not None:
            self.max_gc_s = max(self.max_gc_s, time.thread_time() - started)

    def _watch(self) -> None:
        assert self.sample_after_s is not None
        ran: dict[int, float] = {}
        while not self._stop.wait(0.002):
            native = {t.ident: t.native_id for t in threading.enumerate()}
            ran_before, ran = ran, {i: _schedstat(n)[0] for i, n in native.items() if i and n}
            if time.perf_counter() - self._asked - HEARTBEAT_S < self.sample_after_s:
                continue
            for ident, frame in sys._current_frames().items():
                if ident == threading.get_ident():
                    continue
                # Running: the thread was on a CPU for part of the last poll (holding the GIL, mostly).
                running = ran.get(ident, 0.0) - ran_before.get(ident, 0.0) > 0.0005
                who = "loop" if ident == self._loop_thread else "other thread"
                who += ", running" if running else ", not running"
                lines = traceback.format_stack(frame, limit=10)
                self.stacks[f"[{self.phase}, {who}]\n" + "".join(lines[-6:])] += 1

    def top_stacks(self, n: int = 20) -> list[tuple[int, str]]:
        return [(count, stack) for stack, count in self.stacks.most_common(n)]

    def figures(self, suffix: str = "") -> dict[str, object]:
        return {
            f"max_loop_stall_ms{suffix}": round(self.max_stall_s * 1000, 1),
            f"max_loop_stall_ms{suffix}_by_phase": {
                k: round(v * 1000, 1) for k, v in sorted(self.by_phase.items())
            },
            f"max_loop_busy_ms{suffix}": round(self.max_busy_s * 1000, 1),
            f"max_loop_cpu_wait_ms{suffix}": round(self.max_cpu_wait_s * 1000, 1),
            f"max_gc_pause_ms{suffix}": round(self.max_gc_s * 1000, 1),
        }


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


async def _plan_and_run(
    connect: Callable[[], HighLevelClient], export: Path, workdir: Path, *, concurrency: int, watch: LoopWatch
) -> tuple[RunResult, float, int]:
    """Open, plan, approve, run and close one practice with ``watch`` beating throughout (the client's
    and the migration's opening and closing are the embedding program's loop too).
    Returns (result, run wall s, patients)."""
    async with anyio.create_task_group() as beats:
        beats.start_soon(watch.beat)
        await anyio.lowlevel.checkpoint()  # the first beat is under way before the client is made
        async with (
            connect() as hl,
            GExportSource(export) as source,
            Migration(source, hl, workdir=workdir, concurrency=concurrency) as migration,
        ):
            await build_plan(source, options=migration.options)
            await migration.aapprove(by="benchmark")
            watch.phase = "run"
            started = time.perf_counter()
            result = await migration.run()
            wall_s = time.perf_counter() - started
            patients = source.patient_count
        beats.cancel_scope.cancel()
    return result, wall_s, patients


def _print_stacks(watch: LoopWatch, where: str) -> None:
    for count, stack in watch.top_stacks():
        print(f"--- {where}: {count} samples in a stall:\n{stack}", file=sys.stderr)


async def migrate(
    export: Path,
    workdir: Path,
    *,
    window_ms: int,
    concurrency: int,
    stall_stacks_ms: float | None = None,
) -> dict[str, object]:
    sandbox = Sandbox(
        SandboxConfig(rate_window_ms=window_ms, rate_max=RATE_MAX), faults=FaultConfig(latency_ms=LATENCY_MS)
    )
    loc = sandbox.create_location()
    budget = RateBudget(max_requests=RATE_MAX, window_ms=window_ms, daily_reserve=0)
    watch = LoopWatch(sample_after_s=None if stall_stacks_ms is None else stall_stacks_ms / 1000)
    result, wall_s, patients = await _plan_and_run(
        lambda: HighLevelClient(
            location_id=loc.location_id,
            token=loc.token,
            transport=sandbox.transport(),
            budget=budget,
            limiter=RateLimiter(budget),
            retry=RetryPolicy(seed=0),
            max_connections=concurrency,
        ),
        export,
        workdir,
        concurrency=concurrency,
        watch=watch,
    )
    _print_stacks(watch, "in-process sandbox")
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
        # The longest the event loop went without running the heartbeat, during plan and run, with the
        # sandbox answering on that same loop (its request handling and its heap are the loop's too).
        **watch.figures("_in_process"),
    }


class SandboxProcess:
    """``dentrix-highlevel sandbox serve`` in a child process on a free loopback port, as a context manager.

    What an embedding program sees: HighLevel is elsewhere, so neither its request handling nor its heap
    (every contact, note and event, and the request log) shares the client's interpreter and GIL.
    """

    def __init__(self, *, window_ms: int, rate_max: int, latency_ms: tuple[float, float]) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.args = [
            sys.executable, "-m", "dentrix_highlevel", "sandbox", "serve",
            "--port", str(self.port),
            "--rate-window-ms", str(window_ms),
            "--rate-max", str(rate_max),
            "--latency-ms", f"{latency_ms[0]}:{latency_ms[1]}",
            "--search-lag-ms", str(DEFAULT_SEARCH_INDEX_LAG_MS),
        ]  # fmt: skip
        self.location_id = self.token = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> SandboxProcess:
        self._process = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        for line in self._process.stdout:
            key, _, value = line.partition(":")
            if key == "location id":
                self.location_id = value.strip()
            elif key == "token":
                self.token = value.strip()
            elif line.startswith("admin:"):
                break
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{self.base_url}/_sandbox/requests", timeout=1).raise_for_status()
                return self
            except httpx.HTTPError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    self.__exit__()
                    raise RuntimeError("the sandbox process did not start") from None
                time.sleep(0.05)

    def __exit__(self, *_: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def requests(self) -> dict[str, Any]:
        answer = httpx.get(f"{self.base_url}/_sandbox/requests", timeout=60)
        answer.raise_for_status()
        return cast(dict[str, Any], answer.json())


async def loop_stall(
    export: Path,
    workdir: Path,
    *,
    window_ms: int,
    concurrency: int,
    stall_stacks_ms: float | None = None,
) -> dict[str, object]:
    """The same plan and run against the sandbox in another process (HighLevel is never in the embedding
    program's interpreter): the loop stall an embedding program feels, ``max_loop_stall_ms``."""
    watch = LoopWatch(sample_after_s=None if stall_stacks_ms is None else stall_stacks_ms / 1000)
    budget = RateBudget(max_requests=RATE_MAX, window_ms=window_ms, daily_reserve=0)
    with SandboxProcess(window_ms=window_ms, rate_max=RATE_MAX, latency_ms=LATENCY_MS) as server:
        result, wall_s, patients = await _plan_and_run(
            lambda: HighLevelClient(
                location_id=server.location_id,
                token=server.token,
                base_url=server.base_url,
                budget=budget,
                limiter=RateLimiter(budget),
                retry=RetryPolicy(seed=0),
                max_connections=concurrency,
            ),
            export,
            workdir,
            concurrency=concurrency,
            watch=watch,
        )
        log = await anyio.to_thread.run_sync(server.requests)
    _print_stacks(watch, "sandbox in another process")
    return {
        "patients": patients,
        "status": result.status.value,
        "reconciles": result.reconciliation.reconciles,
        "requests": len(log["requests"]),
        "max_in_window": log["maxInWindow"],
        "wall_s": round(wall_s, 2),
        **watch.figures(),
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
    parser.add_argument(
        "--stall-stacks",
        type=float,
        default=None,
        metavar="MS",
        help="sample the loop thread's stack while it is stalled longer than MS; print the commonest",
    )
    parser.add_argument(
        "--stall-only",
        action="store_true",
        help="only the loop-stall run against the sandbox in another process",
    )
    args = parser.parse_args()
    patients = args.patients or (1_000 if args.quick else 10_000)
    with tempfile.TemporaryDirectory(prefix="dentrix-highlevel-bench-") as tmp:
        export = Path(tmp) / "export"
        write_g_export(SyntheticPractice(SynthConfig(patients=patients, seed=args.seed)), export)
        options = {
            "window_ms": args.window_ms,
            "concurrency": args.concurrency,
            "stall_stacks_ms": args.stall_stacks,
        }
        stall = anyio.run(lambda: loop_stall(export, Path(tmp) / "work-stall", **options))
        if args.stall_only:
            print(_stall_line(stall))
            print(json.dumps(stall, sort_keys=True))
            return
        report = anyio.run(lambda: migrate(export, Path(tmp) / "work", **options))
    report.update(stall_figures_of(stall))
    print(
        f"patients              {report['patients']}  ({report['status']}, reconciles={report['reconciles']})"
    )
    print(f"requests              {report['requests']}  ({report['requests_per_patient']} per patient)")
    for kind, per in report["per_patient_by_kind"].items():  # type: ignore[attr-defined]
        print(f"  {kind:<20}{per} per patient")
    print(f"429s / max in window  {report['http_429']} / {report['max_in_window']} (budget {RATE_MAX})")
    print(f"wall time             {report['wall_s']} s; budget minimum {report['minimum_s']} s")
    print(f"wall ÷ minimum        {report['wall_over_minimum']}")
    print(_stall_line(report))
    print(f"  in-process sandbox  {report['max_loop_stall_ms_in_process']} ms (its work shares the loop)")
    print(json.dumps(report, sort_keys=True))


def _stall_line(figures: dict[str, object]) -> str:
    return (
        f"longest loop stall    {figures['max_loop_stall_ms']} ms (plan and run, sandbox in another "
        f"process; loop busy {figures['max_loop_busy_ms']} ms, waiting for a CPU "
        f"{figures['max_loop_cpu_wait_ms']} ms, longest full GC {figures['max_gc_pause_ms']} ms)"
    )


def stall_figures_of(stall: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in stall.items() if key.startswith(("max_loop_", "max_gc_"))}


if __name__ == "__main__":
    main()
