"""Resume: a daily-cap stop and a process killed (SIGKILL) at random points both converge, by running
again, to the state an uninterrupted run reaches, with no duplicate contact."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tests.migration._engine_helpers import (
    canonical,
    client,
    contacts_by_source_id,
    export,
    scaled_sandbox,
    source,
)

from dentrix_highlevel.migration import Migration, RunStatus
from dentrix_highlevel.sandbox import SandboxServer

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(tmp_path_factory.mktemp("resume"), patients=16, seed=4)


async def uninterrupted(practice: Path, workdir: Path) -> dict[str, Any]:
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    async with client(sandbox, loc) as hl, Migration(source(practice), hl, workdir=workdir) as migration:
        migration.approve(by="manager")
        assert (await migration.run()).status is RunStatus.COMPLETED
    return canonical(sandbox, loc.location_id)


async def test_daily_cap_stops_cleanly_and_run_again_resumes(practice: Path, tmp_path: Path) -> None:
    expected = await uninterrupted(practice, tmp_path / "reference")
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    stops = 0
    for _day in range(10):
        # A fresh client per "day": its daily budget starts afresh, like HighLevel's after the reset.
        async with (
            client(sandbox, loc, daily_max=45) as hl,
            Migration(source(practice), hl, workdir=tmp_path / "wd") as migration,
        ):
            migration.approve(by="manager")
            result = await migration.run()
            if result.status is RunStatus.COMPLETED:
                break
            assert result.status is RunStatus.STOPPED
            assert result.stopped_reason is not None
            assert "daily" in result.stopped_reason
            stops += 1
    assert stops >= 2, "the cap must have interrupted the run more than once"
    assert result.status is RunStatus.COMPLETED
    assert result.reconciliation.reconciles
    runs = migration.ledger.runs()
    assert len([r for r in runs if r.mode.value == "run"]) == 1, "one run id across every resume"
    assert all(len(v) == 1 for v in contacts_by_source_id(sandbox, loc.location_id).values())
    assert canonical(sandbox, loc.location_id) == expected


def test_kill_9_at_random_points_converges(practice: Path, tmp_path: Path) -> None:
    expected = __import__("anyio").run(uninterrupted, practice, tmp_path / "reference")
    rng = random.Random(20261123)
    with SandboxServer(scaled_sandbox()) as server:
        assert server.location is not None
        args = {
            "export": str(practice),
            "workdir": str(tmp_path / "wd"),
            "base_url": server.base_url,
            "location_id": server.location.location_id,
            "token": server.location.token,
            "rate_max": server.sandbox.config.rate_max,
            "window_ms": server.sandbox.config.rate_window_ms,
        }
        command = [sys.executable, str(Path(__file__).with_name("_kill_child.py")), json.dumps(args)]
        # The child imports this tree's package, whatever the environment has installed.
        env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
        kills = 0
        for point in sorted(rng.sample(range(15, 110), 3)):
            child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 60
            while (
                len(server.sandbox.request_log) < point
                and child.poll() is None
                and time.monotonic() < deadline
            ):
                time.sleep(0.002)
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
                kills += 1
            child.communicate(timeout=30)
        final = subprocess.run(command, env=env, capture_output=True, timeout=120, check=False)
        assert final.returncode == 0, final.stderr.decode()[-2000:]
        assert final.stdout.decode().strip() == "completed"
        assert kills >= 1
        by_source = contacts_by_source_id(server.sandbox, server.location.location_id)
        assert all(len(v) == 1 for v in by_source.values()), "never a second contact for one patient"
        assert canonical(server.sandbox, server.location.location_id) == expected
