"""How much memory does ``run`` take as the practice grows, and how soon does it send its first patient?

For each patient count: writes a synthetic practice as a G export (in a subprocess), then in a fresh
subprocess, as the command line's ``run`` would, opens the export (staging it), approves the plan and runs
it into the in-process sandbox with HighLevel's window scaled down, stopping the run after a bounded time
of sending (``--send-s``). That subprocess reports its peak resident set (``ru_maxrss``: staging, the
run's preparation and the sending so far), the time from ``run()`` to the first contact request, and the
resident set sampled over the run (for the plot in docs/performance.md). It prints; it asserts nothing.

    python -m benchmarks.run_memory [--patients 10000 100000] [--send-s 20] [--window-ms 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

RATE_MAX = 100
SAMPLE_EVERY_S = 0.5


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # KiB on Linux


async def _measure(
    export: Path, workdir: Path, *, window_ms: int, send_s: float, concurrency: int
) -> dict[str, object]:
    from dentrix_highlevel.highlevel import HighLevelClient, RateBudget, RateLimiter, RetryPolicy
    from dentrix_highlevel.migration import Migration
    from dentrix_highlevel.sandbox import Sandbox, SandboxConfig
    from dentrix_highlevel.sources import GExportSource

    sandbox = Sandbox(SandboxConfig(rate_window_ms=window_ms, rate_max=RATE_MAX))
    loc = sandbox.create_location()
    budget = RateBudget(max_requests=RATE_MAX, window_ms=window_ms, daily_reserve=0)
    samples: list[tuple[float, float]] = []
    first: list[float] = []
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
        await migration.aapprove(by="benchmark")
        started = time.perf_counter()

        async def watch() -> None:
            seen = 0
            while True:
                now = time.perf_counter() - started
                samples.append((round(now, 2), round(_rss_mb(), 1)))
                log = sandbox.request_log
                if not first:
                    for record in log[seen:]:
                        if record.method == "POST" and record.path.startswith("/contacts"):
                            first.append(now)
                            break
                    seen = len(log)
                if first and now - first[0] >= send_s:
                    group.cancel_scope.cancel()
                    return
                await anyio.sleep(SAMPLE_EVERY_S)

        async with anyio.create_task_group() as group:
            group.start_soon(watch)
            try:
                await migration.run()
            finally:
                group.cancel_scope.cancel()
        patients = source.patient_count
    return {
        "patients": patients,
        "run_peak_rss_mb": round(_peak_mb(), 1),
        "time_to_first_request_s": round(first[0], 2) if first else None,
        "requests": len(sandbox.request_log),
        "rss_mb_over_run": samples,
    }


def _child(args: argparse.Namespace) -> None:
    report = anyio.run(
        lambda: _measure(
            Path(args.export),
            Path(args.workdir),
            window_ms=args.window_ms,
            send_s=args.send_s,
            concurrency=args.concurrency,
        )
    )
    print(json.dumps(report))


def measure(patients: int, *, window_ms: int, send_s: float, concurrency: int) -> dict[str, object]:
    """One patient count, each step in its own process (the peak is the run's alone)."""
    with tempfile.TemporaryDirectory(prefix="dentrix-highlevel-rss-") as tmp:
        export = Path(tmp) / "export"
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path; "
                "from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export; "
                "write_g_export(SyntheticPractice(SynthConfig(patients=int(sys.argv[1]), seed=0)), "
                "Path(sys.argv[2]))",
                str(patients),
                str(export),
            ],
            check=True,
        )
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.run_memory",
                "--child",
                "--export",
                str(export),
                "--workdir",
                str(Path(tmp) / "work"),
                "--window-ms",
                str(window_ms),
                "--send-s",
                str(send_s),
                "--concurrency",
                str(concurrency),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    report: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, nargs="+", default=[10_000])
    parser.add_argument("--window-ms", type=int, default=1000, help="the sandbox's (scaled) rate window")
    parser.add_argument("--send-s", type=float, default=20.0, help="seconds of sending before the stop")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--export", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    out: dict[str, dict[str, object]] = {"run_peak_rss_mb": {}, "time_to_first_request_s": {}}
    for n in args.patients:
        report = measure(n, window_ms=args.window_ms, send_s=args.send_s, concurrency=args.concurrency)
        out["run_peak_rss_mb"][str(n)] = report["run_peak_rss_mb"]
        out["time_to_first_request_s"][str(n)] = report["time_to_first_request_s"]
        print(
            f"{n} patients: peak RSS {report['run_peak_rss_mb']} MB, first request after "
            f"{report['time_to_first_request_s']} s, {report['requests']} requests",
            file=sys.stderr,
        )
        print(json.dumps({"patients": n, "rss_mb_over_run": report["rss_mb_over_run"]}), file=sys.stderr)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
