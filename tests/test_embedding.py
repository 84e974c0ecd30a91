"""The library inside someone else's program: two migrations in one event loop, each against its own
``Sandbox()``, through the process-wide limiter registry (what a host gets by default). One is cancelled
by the host half way and resumed; the other runs through meanwhile; the order they start in does not
matter; once the clients are closed, a new client of the same sub-account may bring another budget.

Cancels are triggered by progress events (a number of patients done), never by a timer."""

from __future__ import annotations

from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from dentrix_highlevel import (
    GExportSource,
    HighLevelClient,
    Migration,
    MigrationProgress,
    RateBudget,
    RunStatus,
)
from dentrix_highlevel.errors import ConfigurationError
from dentrix_highlevel.sandbox import Sandbox, SandboxConfig
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

pytestmark = pytest.mark.anyio
PATIENTS = 8


class Job:
    """One embedded migration: its own sandbox, export, work directory, budget and Stop button."""

    def __init__(self, root: Path, name: str, *, seed: int, window_ms: int, stop_after: int | None) -> None:
        self.name = name
        self.sandbox = Sandbox(SandboxConfig(rate_window_ms=window_ms))
        self.location = self.sandbox.create_location()
        self.budget = RateBudget(window_ms=window_ms)
        self.export = root / name / "export"
        write_g_export(SyntheticPractice(SynthConfig(patients=PATIENTS, seed=seed)), self.export)
        self.workdir = root / name / "workdir"
        self.stop_after = stop_after
        self.scope: anyio.CancelScope | None = None
        self.statuses: list[list[RunStatus]] = []
        self.run_ids: list[str] = []
        self.events = 0

    def client(self, budget: RateBudget | None = None) -> HighLevelClient:
        # No limiter_registry: the process-wide default one, as an integrator's code would use.
        return HighLevelClient(
            location_id=self.location.location_id,
            token=self.location.token,
            transport=self.sandbox.transport(),
            budget=budget or self.budget,
        )

    async def on_progress(self, event: MigrationProgress) -> None:
        self.events += 1
        await anyio.lowlevel.checkpoint()  # an async callback, as a host UI's would be
        if self.stop_after is not None and self.scope is not None and event.done >= self.stop_after:
            self.stop_after = None
            self.scope.cancel()  # the host's Stop button

    async def main(self) -> None:
        async with (
            self.client() as hl,
            GExportSource(self.export) as source,
            Migration(
                source, hl, workdir=self.workdir, progress=self.on_progress, concurrency=2
            ) as migration,
        ):
            migration.approve(by=f"{self.name} host (sandbox)")
            while True:
                with anyio.CancelScope() as self.scope:
                    result = await migration.run()
                self.statuses.append([r.status for r in migration.ledger.runs()])
                self.run_ids += [r.run_id for r in migration.ledger.runs()]
                if not self.scope.cancelled_caught:
                    assert result.status is RunStatus.COMPLETED
                    assert result.reconciliation.reconciles
                    return

    def contacts(self) -> int:
        return len(self.sandbox.dump()["locations"][self.location.location_id]["contacts"])


@pytest.mark.parametrize("order", ["stopped-first", "stopped-last"])
async def test_two_migrations_in_one_loop_one_cancelled_and_resumed(order: str, tmp_path: Path) -> None:
    stopped = Job(tmp_path, "north", seed=1, window_ms=100, stop_after=3)
    through = Job(tmp_path, "south", seed=2, window_ms=200, stop_after=None)
    # Two sandboxes in one process hand out different sub-accounts: no shared limiter, no budget clash.
    assert stopped.location.location_id != through.location.location_id
    assert stopped.location.token != through.location.token

    jobs = [stopped, through] if order == "stopped-first" else [through, stopped]
    async with anyio.create_task_group() as group:
        for job in jobs:
            group.start_soon(job.main)

    # The cancelled one: recorded stopped, then the same run completed; the other ran straight through.
    assert stopped.statuses == [[RunStatus.STOPPED], [RunStatus.COMPLETED]]
    assert len(set(stopped.run_ids)) == 1
    assert through.statuses == [[RunStatus.COMPLETED]]
    assert stopped.events > 0
    assert through.events > 0
    for job in (stopped, through):
        assert job.contacts() > 0
        assert list(job.sandbox.dump()["locations"]) == [job.location.location_id]

    # The clients are closed: the same sub-account now takes another budget, and it is the one used.
    slower = RateBudget(window_ms=300)
    async with stopped.client(slower) as hl:
        assert hl.limiter.budget == slower
        with pytest.raises(ConfigurationError):
            stopped.client()  # while it is open, a second client must share its budget
        await hl.locations.get()
    async with stopped.client() as hl:  # and back to the first one
        assert hl.limiter.budget == stopped.budget
