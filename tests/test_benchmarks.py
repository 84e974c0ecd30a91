"""The benchmark entry point, run for real at smoke sizes: its last line is the JSON the docs rely on.

Only the shape and sanity of the figures are checked, never how long anything took.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]

REQUIRED = (
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


def _run_smoke() -> tuple[list[str], dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    return lines, json.loads(lines[-1])


def test_entry_point_ends_with_one_json_object_of_sane_figures() -> None:
    lines, result = _run_smoke()

    assert [key for key in REQUIRED if key not in result] == []
    assert len(lines) > 1, "a human table comes before the JSON line"
    assert all(not line.lstrip().startswith("{") for line in lines[:-1])

    assert 0 < result["rate_utilization"] <= 1.05
    assert 0 < result["max_requests_in_window"] <= result["rate_budget"] == result["scale"]["rate_max"]
    assert result["http_429"] == sum(result["http_429_by_benchmark"].values()) >= 0
    assert result["max_requests_in_window"] == max(result["max_in_window_by_benchmark"].values())
    assert result["requests_per_patient"] >= 1, "at least one contact write per patient"
    assert result["wall_over_minimum"] > 0
    assert result["max_loop_stall_ms"] >= 0  # reported, never a target here
    assert result["max_loop_stall_ms_in_process"] >= 0
    assert result["max_loop_busy_ms"] >= 0
    assert result["max_gc_pause_ms"] >= 0
    assert result["reconciles"] is True
    assert result["stage_records_per_s"] > 0
    assert result["naive_requests_per_patient"] > result["requests_per_patient"]
    assert result["naive_wall_over_ours"] > 0
    assert result["naive_duplicates_skipped"] >= 0
    assert result["naive_requests_per_created_contact"] >= result["naive_requests_per_patient"]
    assert result["scale"]["patients"] == 15
    assert result["scale"]["staging_patients"] == [300]
    # Smoke sizes never reach 100,000 patients: those figures are absent, and say so.
    assert result["peak_rss_mb_100k"] is None
    assert result["peak_rss_mb_1m"] is None
    assert "without --quick" in result["peak_rss_note"]
    machine = result["machine"]
    assert machine["cpu_count"] >= 1
    assert machine["python"] == ".".join(map(str, sys.version_info[:3]))


def test_fleet_benchmark_prints_one_json_line_of_sane_figures() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.fleet",
            "--offices",
            "3",
            "--patients",
            "4",
            "--window-ms",
            "200",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert all(not line.lstrip().startswith("{") for line in lines[:-1])
    assert result["offices"] == 3
    assert 0 < result["fleet_rate_utilization"] <= 1.05
    assert result["http_429"] == 0
    assert result["peak_rss_mb_per_office"] > 0
    assert result["completed_offices"] == result["reconciled_offices"] == 3
    assert result["rolled_back_clean"] is True
    assert result["max_in_window_per_location"] <= result["scale"]["rate_max"]
