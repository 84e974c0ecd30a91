"""kill -9 of a run, a delta and a rollback at seeded random points (the child process talks real HTTP to a
sandbox served by uvicorn on 127.0.0.1); running the operation again converges to the state an
uninterrupted operation reaches, with no duplicate contact, note, appointment or opportunity.

CI kills at 7 points (3 runs, 2 deltas, 2 rollbacks); ``DHL_FULL_RELIABILITY=1`` at 21 (8, 6, 7).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest
from tests.migration._engine_helpers import (
    canonical,
    contacts_by_source_id,
    edit_patients,
    export,
    normalised,
)
from tests.reliability._support import FULL, POLICIES, hl_client

from dentrix_highlevel.migration import Migration
from dentrix_highlevel.sandbox import Sandbox, SandboxConfig, SandboxServer
from dentrix_highlevel.sources import GExportSource

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("_kill_child.py")
KILLS = {"run": 8, "delta": 6, "rollback": 7} if FULL else {"run": 3, "delta": 2, "rollback": 2}
PATIENTS = 40 if FULL else 16


def scaled() -> Sandbox:
    return Sandbox(SandboxConfig(rate_window_ms=100, rate_max=100))


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("kill")
    first = export(base, patients=PATIENTS, seed=23, name="monday")
    second = base / "tuesday"
    shutil.copytree(first, second)
    edit_patients(second, {"1003": {"city": "Leadville"}, "1005": {"status": "4"}}, clone={"1099": "1001"})
    return first, second


@pytest.fixture(scope="module")
def reference(exports: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Uninterrupted, in-process: the state after run and after delta, and each operation's request count."""

    async def go() -> dict[str, Any]:
        sandbox = scaled()
        loc = sandbox.create_location()
        before = normalised(sandbox.dump())
        out: dict[str, Any] = {"before": before}
        async with (
            hl_client(sandbox, loc) as hl,
            GExportSource(exports[0]) as source,
            GExportSource(exports[1]) as newer,
            Migration(source, hl, workdir=tmp_path_factory.mktemp("ref"), policies=POLICIES) as migration,
        ):
            migration.approve(by="reference")
            for op in ("run", "delta", "rollback"):
                mark = len(sandbox.request_log)
                if op == "run":
                    await migration.run()
                elif op == "delta":
                    await migration.delta(newer)
                else:
                    await migration.rollback()
                out[f"{op}_requests"] = len(sandbox.request_log) - mark
                out[op] = canonical(sandbox, loc.location_id)
        return out

    return anyio.run(go)


def _no_duplicates(sandbox: Sandbox, location_id: str) -> None:
    by_source = contacts_by_source_id(sandbox, location_id)
    assert all(len(v) == 1 for v in by_source.values()), "a second contact for one patient"
    loc = sandbox.location(location_id)
    notes = Counter((n.get("contactId"), n.get("body")) for n in loc.notes.values())
    assert max(notes.values(), default=1) == 1, "a note twice on one contact"
    opportunities = Counter(o.get("contactId") for o in loc.opportunities.values())
    assert max(opportunities.values(), default=1) == 1, "a second opportunity for one contact"
    events = Counter(
        (e.get("contactId"), e.get("startTime"), e.get("calendarId")) for e in loc.events.values()
    )
    assert max(events.values(), default=1) == 1, "an appointment booked twice"


class _Driver:
    def __init__(self, server: SandboxServer, exports: tuple[Path, Path], workdir: Path) -> None:
        assert server.location is not None
        self.server = server
        self.args = {
            "export": str(exports[0]),
            "delta_export": str(exports[1]),
            "workdir": str(workdir),
            "base_url": server.base_url,
            "location_id": server.location.location_id,
            "token": server.location.token,
            "rate_max": server.sandbox.config.rate_max,
            "window_ms": server.sandbox.config.rate_window_ms,
        }
        self.env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}

    def command(self, op: str) -> list[str]:
        return [sys.executable, str(CHILD), json.dumps({**self.args, "op": op})]

    def kill_at(self, op: str, target: int) -> bool:
        """Start ``op``; SIGKILL it once the sandbox's request log reaches ``target`` requests (and this
        child has sent at least one). True if it was killed mid-operation."""
        log = self.server.sandbox.request_log
        start = len(log)
        child = subprocess.Popen(
            self.command(op), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 90
        while len(log) < max(target, start + 1) and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        killed = child.poll() is None
        if killed:
            child.send_signal(signal.SIGKILL)
        _, err = child.communicate(timeout=60)
        if not killed:
            assert child.returncode == 0, err.decode()[-2000:]
        return killed

    def finish(self, op: str) -> None:
        done = subprocess.run(self.command(op), env=self.env, capture_output=True, timeout=180, check=False)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        assert done.stdout.decode().strip() == "completed"


def _points(rng: random.Random, op: str, total: int) -> list[int]:
    """Kill points spread over an uninterrupted operation's requests (its first to its last but one)."""
    span = range(1, max(total - 1, 2))
    return sorted(rng.sample(span, min(KILLS[op], len(span))))


@pytest.mark.parametrize("op", ["run", "delta", "rollback"])
def test_kill_9_at_random_points_converges(
    op: str, exports: tuple[Path, Path], reference: dict[str, Any], tmp_path: Path
) -> None:
    rng = random.Random(f"kill-9:{op}:20261124")
    with SandboxServer(scaled()) as server:
        assert server.location is not None
        location_id = server.location.location_id
        driver = _Driver(server, exports, tmp_path / "wd")
        before = normalised(server.sandbox.dump())
        if op in ("delta", "rollback"):
            driver.finish("run")
        kills = 0
        points = _points(rng, op, reference[f"{op}_requests"])
        # Points count the operation's requests across attempts (a resumed attempt carries on the work),
        # so the kills spread over the whole operation rather than bunching at its start.
        op_start = len(server.sandbox.request_log)
        for point in points:
            kills += driver.kill_at(op, op_start + point)
        assert kills >= max(1, len(points) - 1), f"only {kills} of {len(points)} kills landed mid-operation"
        print(f"kill -9 {op}: {kills} kill(s) landed mid-operation")  # shown with -s: the sweep's tally
        driver.finish(op)
        _no_duplicates(server.sandbox, location_id)
        if op == "rollback":
            assert normalised(server.sandbox.dump()) == before
        else:
            assert canonical(server.sandbox, location_id) == reference[op]
        # And once more: a converged operation sends no write at all.
        log = len(server.sandbox.request_log)
        driver.finish(op)
        writes = [r for r in server.sandbox.request_log[log:] if r.method != "GET" and "search" not in r.path]
        assert writes == [], [(r.method, r.path) for r in writes]
