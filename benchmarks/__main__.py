"""The whole benchmark suite in one run, ending with one JSON object on its last line.

    python -m benchmarks            # client 3,000 requests; 1,000 patients; staging 100,000 and 1,000,000
    python -m benchmarks --quick    # client 600 requests; 100 patients; staging 2,000 (about a minute)

Runs, one after the other so they do not compete for the cores: the client against the budget
(``benchmarks.client_rate``), a whole migration by the engine (``benchmarks.engine``), the naive integration
on the same practice in the same scaled window (``benchmarks.naive``), and staging in subprocesses
(``benchmarks.staging``). HighLevel's 10 s window is scaled to ``--window-ms`` so a run takes seconds; the
figures are ratios that transfer between machines, never wall-clock targets.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import anyio
import attrs

from benchmarks import client_rate, engine, naive, staging
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

REQUIRED_KEYS = (
    "requests_per_patient",
    "rate_utilization",
    "max_requests_in_window",
    "http_429",
    "wall_over_minimum",
    "stage_records_per_s",
    "peak_rss_mb_100k",
    "peak_rss_mb_1m",
    "naive_requests_per_patient",
    "naive_wall_over_ours",
    "max_loop_stall_ms",
    "machine",
    "scale",
)
"""The keys of the final JSON line that issue #7 and the docs rely on."""


@attrs.frozen(kw_only=True)
class Sizes:
    client_requests: int
    patients: int
    staging_patients: tuple[int, ...]
    bundle_sample: int = 20_000


FULL = Sizes(client_requests=3_000, patients=1_000, staging_patients=(100_000, 1_000_000))
QUICK = Sizes(client_requests=600, patients=100, staging_patients=(2_000,))
# Hidden, for the test suite: every step runs, at sizes that only prove the wiring.
SMOKE = Sizes(client_requests=250, patients=15, staging_patients=(300,), bundle_sample=300)


def _finite(value: float) -> float | None:
    # A tiny run can leave the steady-state slope undefined (NaN), which is not valid JSON.
    return value if math.isfinite(value) else None


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.machine(),
        "python": platform.python_version(),
    }


async def _http_benchmarks(
    sizes: Sizes, export: Path, workdir: Path, *, window_ms: int, concurrency: int, seed: int
) -> tuple[dict[str, float], dict[str, Any], dict[str, Any]]:
    # client_rate keeps its own fixed 1,000 ms window: its figures are about the limiter, not the scale.
    client = await client_rate.run(sizes.client_requests, 64, (150.0, 400.0), seed, 20)
    ours = await engine.migrate(export, workdir, window_ms=window_ms, concurrency=concurrency)
    theirs = await naive.run_naive(export, window_ms=window_ms, concurrency=concurrency, seed=seed)
    # Client CPU per request: the same practice again, over loopback HTTP with the server's CPU taken out.
    cpu = await engine.client_cpu(export, workdir.with_name("work-cpu"), concurrency=concurrency)
    # The loop stall an embedding program feels: the same practice against the sandbox in another process.
    stall = await engine.loop_stall(
        export, workdir.with_name("work-stall"), window_ms=window_ms, concurrency=concurrency
    )
    ours = {**ours, **engine.stall_figures_of(stall)}
    return client, {**ours, "client_cpu_ms_per_request": cpu["client_cpu_ms_per_request"]}, theirs


def run_suite(sizes: Sizes, *, window_ms: int, concurrency: int, seed: int, quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="dentrix-highlevel-bench-") as tmp:
        root = Path(tmp)
        export = root / "export"
        write_g_export(SyntheticPractice(SynthConfig(patients=sizes.patients, seed=seed)), export)
        client, ours, theirs = anyio.run(
            lambda: _http_benchmarks(
                sizes, export, root / "work", window_ms=window_ms, concurrency=concurrency, seed=seed
            )
        )
        stages = {
            n: staging.measure_size(n, root, bundle_sample=sizes.bundle_sample)[1]
            for n in sizes.staging_patients
        }
    first_stage = stages[sizes.staging_patients[0]]
    result: dict[str, Any] = {
        "requests_per_patient": ours["requests_per_patient"],
        "per_patient_by_kind": ours["per_patient_by_kind"],
        "rate_utilization": _finite(client["rate_ratio"]),
        "max_requests_in_window": max(
            client["max_in_any_window"], ours["max_in_window"], theirs["max_in_window"]
        ),
        "rate_budget": client_rate.RATE_MAX,
        "http_429": client["count_429"] + ours["http_429"] + theirs["http_429"],
        # Which benchmark saw them: the client's load, the engine's run or the naive run.
        "http_429_by_benchmark": {
            "client": client["count_429"],
            "engine": ours["http_429"],
            "naive": theirs["http_429"],
        },
        "max_in_window_by_benchmark": {
            "client": client["max_in_any_window"],
            "engine": ours["max_in_window"],
            "naive": theirs["max_in_window"],
        },
        "wall_over_minimum": ours["wall_over_minimum"],
        # Sandbox in another process (what an embedding program feels), and with the sandbox on the loop.
        **{k: v for k, v in ours.items() if k.startswith(("max_loop_", "max_gc_"))},
        "client_cpu_ms_per_request": _finite(ours["client_cpu_ms_per_request"]),
        "reconciles": ours["reconciles"],
        "stage_records_per_s": round(first_stage["records_per_s"]),
        "stage_patients": sizes.staging_patients[0],
        "peak_rss_mb_100k": _rss(stages, 100_000),
        "peak_rss_mb_1m": _rss(stages, 1_000_000),
        "naive_requests_per_patient": theirs["requests_per_patient"],
        "naive_per_patient_by_kind": theirs["per_patient_by_kind"],
        "naive_duplicates_skipped": theirs["duplicates_skipped"],
        "naive_requests_per_created_contact": theirs["requests_per_created_contact"],
        "naive_wall_over_ours": round(theirs["wall_s"] / ours["wall_s"], 3) if ours["wall_s"] else None,
        "naive_wall_over_minimum": theirs["wall_over_minimum"],
        "machine": machine(),
        "scale": {
            "window_ms": window_ms,
            "rate_max": engine.RATE_MAX,
            "client_window_ms": client_rate.WINDOW_MS,
            "client_requests": client["requests"],
            "patients": ours["patients"],
            "staging_patients": list(sizes.staging_patients),
        },
    }
    if quick:
        result["peak_rss_note"] = "not measured in --quick; run without --quick"
    elif None in (result["peak_rss_mb_100k"], result["peak_rss_mb_1m"]):
        result["peak_rss_note"] = "a size was not staged in this run (--staging-patients)"
    return result


def _rss(stages: dict[int, dict[str, float]], patients: int) -> float | None:
    found = stages.get(patients)
    return round(found["peak_rss_mb"], 1) if found is not None else None


def table(result: dict[str, Any]) -> list[str]:
    """The short human summary printed before the JSON line."""
    scale = result["scale"]
    rss = result.get("peak_rss_note") or f"{result['peak_rss_mb_100k']} MB / {result['peak_rss_mb_1m']} MB"
    rows = [
        ("requests per patient (engine)", result["requests_per_patient"]),
        ("requests per patient (naive)", result["naive_requests_per_patient"]),
        ("naive wall ÷ ours", result["naive_wall_over_ours"]),
        ("wall ÷ minimum (engine)", result["wall_over_minimum"]),
        ("client CPU ms per request", result["client_cpu_ms_per_request"]),
        ("rate ÷ budget (client)", result["rate_utilization"]),
        ("max requests in a window", f"{result['max_requests_in_window']} (budget {result['rate_budget']})"),
        ("429 responses", result["http_429"]),
        ("longest event-loop stall (plan, run)", f"{result['max_loop_stall_ms']} ms"),
        ("  with the sandbox in-process", f"{result['max_loop_stall_ms_in_process']} ms"),
        (f"staging records/s ({result['stage_patients']:,} patients)", result["stage_records_per_s"]),
        ("peak RSS 100k / 1m patients", rss),
    ]
    width = max(len(name) for name, _ in rows)
    head = (
        f"{scale['patients']} patients, {scale['rate_max']} requests per {scale['window_ms']} ms (scaled), "
        f"{result['machine']['cpu_count']} CPUs, Python {result['machine']['python']}"
    )
    return [head, *(f"{name:<{width}}  {value}" for name, value in rows)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: about a minute")
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--window-ms", type=int, default=1000, help="the sandbox's scaled rate window")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--staging-patients",
        type=int,
        action="append",
        help="staging sizes instead of the preset's (repeatable); 1,000,000 takes about an hour",
    )
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else QUICK if args.quick else FULL
    if args.staging_patients:
        sizes = attrs.evolve(sizes, staging_patients=tuple(args.staging_patients))
    result = run_suite(
        sizes,
        window_ms=args.window_ms,
        concurrency=args.concurrency,
        seed=args.seed,
        quick=args.quick or args.smoke,
    )
    for line in table(result):
        print(line)
    print(json.dumps(result, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
