"""Typed progress events: one hierarchy (every event a ``MigrationProgress``), delivered to the callback
and to ``async for event in migration.events()``; a consumer that never reads does not hold the run up.

Rate waits are forced by a tiny budget, cancels by an event count: nothing here depends on a timer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import attrs
import pytest

from dentrix_highlevel import GExportSource, HighLevelClient, Migration, MigrationProgress, RunStatus
from dentrix_highlevel.highlevel import RateBudget, RateLimiter
from dentrix_highlevel.migration import (
    EventStream,
    Finished,
    PhaseStarted,
    ProgressEvent,
    RateWait,
    RecordDone,
    RunMode,
    Stopped,
)
from dentrix_highlevel.sandbox import Sandbox, SandboxConfig
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

pytestmark = pytest.mark.anyio
PATIENTS = 6


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "export"
    write_g_export(SyntheticPractice(SynthConfig(patients=PATIENTS, seed=11)), path)
    return path


@asynccontextmanager
async def migration_of(
    export: Path, workdir: Path, *, budget: RateBudget | None = None, **kwargs: object
) -> AsyncIterator[Migration]:
    window_ms = budget.window_ms if budget is not None else 10_000
    sandbox = Sandbox(SandboxConfig(rate_window_ms=window_ms))
    location = sandbox.create_location()
    async with (
        HighLevelClient(
            location_id=location.location_id,
            token=location.token,
            transport=sandbox.transport(),
            budget=budget or RateBudget(),
            limiter=RateLimiter(budget) if budget is not None else None,
        ) as hl,
        GExportSource(export) as source,
        Migration(source, hl, workdir=workdir, **kwargs) as migration,  # type: ignore[arg-type]
    ):
        await migration.aapprove(by="host (sandbox)")
        yield migration


async def test_the_callback_and_the_stream_see_the_same_typed_events(export: Path, tmp_path: Path) -> None:
    called: list[MigrationProgress] = []
    streamed: list[ProgressEvent] = []
    async with migration_of(export, tmp_path / "work", progress=called.append) as migration:
        stream = migration.events()

        async def consume() -> None:
            async for event in stream:
                streamed.append(event)
                if isinstance(event, Finished):
                    break

        async with anyio.create_task_group() as group:
            group.start_soon(consume)
            result = await migration.run()

    assert result.status is RunStatus.COMPLETED
    assert streamed == called
    assert stream.dropped == 0
    assert all(isinstance(e, ProgressEvent) and isinstance(e, MigrationProgress) for e in called)
    assert isinstance(called[0], PhaseStarted)
    assert called[0].phase == "patients"
    assert called[0].done == 0
    assert sum(isinstance(e, RecordDone) for e in called) == called[-1].done == PATIENTS
    final = called[-1]
    assert isinstance(final, Finished)
    assert final.reconciles is True
    assert {e.run_id for e in called} == {result.run_id}


async def test_a_consumer_that_never_reads_loses_the_oldest_never_the_run(
    export: Path, tmp_path: Path
) -> None:
    counted: list[MigrationProgress] = []
    async with migration_of(export, tmp_path / "work", progress=counted.append) as migration:
        stream = migration.events(max_buffered=2)
        result = await migration.run()  # nobody reads the stream meanwhile
        kept = [await anext(stream), await anext(stream)]
    assert result.status is RunStatus.COMPLETED
    assert stream.dropped == len(counted) - 2
    assert kept == counted[-2:]
    assert isinstance(kept[-1], Finished)
    # The migration is closed: the iteration ends.
    assert [e async for e in stream] == []


async def test_requests_held_back_by_the_budget_are_rate_wait_events(export: Path, tmp_path: Path) -> None:
    events: list[MigrationProgress] = []
    budget = RateBudget(max_requests=4, window_ms=100, daily_reserve=0, burst=4)
    async with migration_of(export, tmp_path / "work", budget=budget, progress=events.append) as migration:
        result = await migration.run()
    assert result.status is RunStatus.COMPLETED
    waits = [e for e in events if isinstance(e, RateWait)]
    assert waits, "more requests than four per window: some waited"
    assert all(w.waited_s > 0 for w in waits)


async def test_a_cancelled_run_ends_its_stream_with_stopped(export: Path, tmp_path: Path) -> None:
    scope = anyio.CancelScope()

    def on_progress(event: MigrationProgress) -> None:
        if isinstance(event, RecordDone) and event.done >= 2:
            scope.cancel()  # the host's Stop button

    async with migration_of(export, tmp_path / "work", concurrency=1, progress=on_progress) as migration:
        stream: EventStream = migration.events()
        with scope:
            await migration.run()
        seen: list[ProgressEvent] = []
        async for event in stream:
            seen.append(event)
            if isinstance(event, Stopped):
                break
        statuses = [r.status for r in migration.ledger.runs()]
    assert scope.cancelled_caught
    assert isinstance(seen[-1], Stopped)
    assert seen[-1].reason is None
    assert statuses == [RunStatus.STOPPED]


def test_events_are_frozen_and_carry_identifiers_and_counts_only() -> None:
    allowed = {f.name for f in attrs.fields(MigrationProgress)} | {"waited_s", "reason", "reconciles"}
    for kind in (PhaseStarted, RecordDone, RateWait, Stopped, Finished):
        assert issubclass(kind, ProgressEvent)
        assert {f.name for f in attrs.fields(kind)} <= allowed
    event = Finished(run_id="r1", mode=RunMode.RUN, phase="patients", total=1, done=1, reconciles=True)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.done = 2  # type: ignore[misc]
