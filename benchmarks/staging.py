"""Staging benchmark: records/s and peak RSS when a G export of N patients is staged and bundled.

    python -m benchmarks.staging                      # 100,000 and 1,000,000 patients
    python -m benchmarks.staging --quick              # 2,000 and 20,000 (a smoke run)
    python -m benchmarks.staging --patients 50000 --patients 500000

Each size runs in two fresh subprocesses, so peak RSS belongs to one step at one size: one writes the
synthetic export (its own time and RSS are shown too), one stages it with ``GExportSource`` and reads
``--bundle-sample`` bundles. Flat memory means the staging RSS does not grow with the practice: the last
line prints the RSS ratio between the largest and the smallest size (1.0 = perfectly flat). Timings are
machine-dependent; compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB (macOS in bytes); this benchmark targets Linux CI.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child_write(patients: int, out: Path) -> dict[str, float]:
    from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

    started = time.perf_counter()
    result = write_g_export(SyntheticPractice(SynthConfig(patients=patients, seed=1)), out)
    return {
        "write_s": time.perf_counter() - started,
        "rows": float(sum(result.rows.values())),
        "write_peak_rss_mb": _peak_rss_mb(),
        "export_mb": sum(p.stat().st_size for p in out.iterdir()) / 1e6,
    }


def _child_stage(out: Path, staging: Path, sample: int) -> dict[str, float]:
    from dentrix_highlevel.sources import GExportSource

    source = GExportSource(out, staging_dir=staging)
    try:
        started = time.perf_counter()
        cpu = time.process_time()
        source.stage()
        stage_s = time.perf_counter() - started
        stage_cpu_s = time.process_time() - cpu
        records = sum(c.records for c in source.counts.values())
        rss_after_stage = _peak_rss_mb()
        started = time.perf_counter()
        read = 0
        for _ in source.iter_bundles():
            read += 1
            if read >= sample:
                break
        bundle_s = time.perf_counter() - started
        issues = len(source.issues)
    finally:
        source.close()
    return {
        "stage_s": stage_s,
        "stage_cpu_s": stage_cpu_s,
        "records": float(records),
        "records_per_s": records / stage_s,
        "stage_peak_rss_mb": rss_after_stage,
        "bundles_read": float(read),
        "bundles_per_s": read / bundle_s if bundle_s else 0.0,
        "peak_rss_mb": _peak_rss_mb(),
        "issues": float(issues),
    }


def _run_child(*args: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.staging", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure_size(
    patients: int, root: Path, *, bundle_sample: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Write then stage one practice size in fresh subprocesses: (write figures, stage figures).

    The export goes under ``root`` and is removed afterwards; ``python -m benchmarks`` calls this too.
    """
    out = root / f"export-{patients}"
    try:
        w = _run_child("--child-write", str(patients), str(out))
        s = _run_child("--child-stage", str(out), str(root), str(bundle_sample))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return w, s


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2,000 and 20,000 patients")
    parser.add_argument("--patients", type=int, action="append", help="a practice size (repeatable)")
    parser.add_argument("--bundle-sample", type=int, default=20_000, help="bundles to read after staging")
    parser.add_argument("--workdir", type=Path, default=None, help="where exports and staging go (temp)")
    parser.add_argument("--child-write", nargs=2, metavar=("PATIENTS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--child-stage", nargs=3, metavar=("OUT", "STAGING", "SAMPLE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child_write:
        print(json.dumps(_child_write(int(args.child_write[0]), Path(args.child_write[1]))))
        return
    if args.child_stage:
        out, staging, sample = args.child_stage
        print(json.dumps(_child_stage(Path(out), Path(staging), int(sample))))
        return
    sizes = args.patients or ([2_000, 20_000] if args.quick else [100_000, 1_000_000])
    root = Path(tempfile.mkdtemp(prefix="dentrix-highlevel-bench-", dir=args.workdir))
    header = (
        f"{'patients':>10} {'rows':>11} {'export MB':>9} {'write s':>8} {'write RSS':>9} "
        f"{'stage s':>8} {'records/s':>10} {'CPU s':>7} {'rec/CPU-s':>10} {'stage RSS':>9} {'bundles/s':>9} "
        f"{'peak RSS':>9}"
    )
    print(header, flush=True)
    results = []
    try:
        for patients in sizes:
            w, s = measure_size(patients, root, bundle_sample=args.bundle_sample)
            results.append((patients, s))
            print(
                f"{patients:>10,} {int(w['rows']):>11,} {w['export_mb']:>9.0f} {w['write_s']:>8.1f} "
                f"{w['write_peak_rss_mb']:>8.0f}M {s['stage_s']:>8.1f} {s['records_per_s']:>10,.0f} "
                f"{s['stage_cpu_s']:>7.1f} {s['records'] / s['stage_cpu_s']:>10,.0f} "
                f"{s['stage_peak_rss_mb']:>8.0f}M {s['bundles_per_s']:>9,.0f} {s['peak_rss_mb']:>8.0f}M",
                flush=True,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if len(results) > 1:
        (small, first), (large, last) = results[0], results[-1]
        print(
            f"size x{large / small:.0f}: peak RSS x{last['peak_rss_mb'] / first['peak_rss_mb']:.2f}, "
            f"records/s x{last['records_per_s'] / first['records_per_s']:.2f}"
        )
    if results:
        # The figure `python -m benchmarks` reports, from the largest size (the smallest is start-up bound).
        print(f"stage_records_per_s {results[-1][1]['records_per_s']:.0f}")


if __name__ == "__main__":
    main()
