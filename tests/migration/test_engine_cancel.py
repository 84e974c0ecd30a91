"""Cancellation is a stop: a run, sample, delta or rollback cancelled by the caller's scope is recorded
``stopped``, the cancellation propagates (anyio requires it), and the same call resumes the same run.
And progress: async callbacks are awaited, a raising one is logged once and does not end the run, a
rollback counts deletions and restores as such.

Every cancel is triggered from the progress callback after a number of patients (or objects), never by a
timer, so the tests do not depend on how fast the machine is."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
from tests.migration._engine_helpers import client, contacts_by_source_id, edit_patients, export, source

from dentrix_highlevel.migration import Migration, MigrationProgress, RunMode, RunStatus
from dentrix_highlevel.sandbox import Sandbox, SandboxConfig

pytestmark = pytest.mark.anyio
PATIENTS = 10


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(tmp_path_factory.mktemp("cancel"), patients=PATIENTS, seed=6)


def _sandbox() -> Sandbox:
    return Sandbox(SandboxConfig(rate_window_ms=100, rate_max=100))


class Stopper:
    """A progress callback that cancels ``scope`` once ``after`` units of ``mode`` are done."""

    def __init__(self) -> None:
        self.scope: anyio.CancelScope | None = None
        self.mode: RunMode | None = None
        self.after = 0
        self.events: list[MigrationProgress] = []

        self.expire = False

    def arm(
        self, scope: anyio.CancelScope, mode: RunMode, after: int, *, expire: bool = False
    ) -> anyio.CancelScope:
        """``expire``: bring the scope's deadline forward instead of cancelling it (``move_on_after``)."""
        self.scope, self.mode, self.after, self.expire = scope, mode, after, expire
        return scope

    def __call__(self, event: MigrationProgress) -> None:
        self.events.append(event)
        if self.scope is not None and event.mode is self.mode and event.done >= self.after:
            if self.expire:
                self.scope.deadline = float("-inf")
            else:
                self.scope.cancel()
            self.scope = None


def _statuses(migration: Migration, mode: RunMode) -> list[RunStatus]:
    return [r.status for r in migration.ledger.runs() if r.mode is mode]


def _no_duplicates(sandbox: Sandbox, location_id: str) -> None:
    ours = {k: v for k, v in contacts_by_source_id(sandbox, location_id).items() if k}
    assert ours
    assert all(len(contacts) == 1 for contacts in ours.values())


async def test_a_cancelled_run_is_stopped_and_run_again_resumes_it(practice: Path, tmp_path: Path) -> None:
    sandbox = _sandbox()
    loc = sandbox.create_location()
    stopper = Stopper()
    async with (
        client(sandbox, loc) as hl,
        Migration(
            source(practice), hl, workdir=tmp_path / "wd", progress=stopper, concurrency=2
        ) as migration,
    ):
        migration.approve(by="manager")
        reached_the_end = False
        with stopper.arm(anyio.CancelScope(), RunMode.RUN, after=3) as scope:
            await migration.run()
            reached_the_end = True
        assert scope.cancelled_caught  # the cancellation came back out of run(), as anyio requires
        assert not reached_the_end
        assert _statuses(migration, RunMode.RUN) == [RunStatus.STOPPED]
        stopped_id = migration.ledger.runs()[-1].run_id

        result = await migration.run()
        assert result.status is RunStatus.COMPLETED
        assert result.run_id == stopped_id  # resumed: the same run, not a new one
        assert result.reconciliation.reconciles
        assert _statuses(migration, RunMode.RUN) == [RunStatus.COMPLETED]
    _no_duplicates(sandbox, loc.location_id)


async def test_move_on_after_around_a_sample_is_a_stop(practice: Path, tmp_path: Path) -> None:
    sandbox = _sandbox()
    loc = sandbox.create_location()
    stopper = Stopper()
    async with (
        client(sandbox, loc) as hl,
        Migration(
            source(practice), hl, workdir=tmp_path / "wd", progress=stopper, concurrency=1
        ) as migration,
    ):
        migration.approve(by="manager")
        # A generous deadline the callback brings forward: the same path as a deadline that passes.
        with stopper.arm(anyio.move_on_after(3600), RunMode.SAMPLE, after=2, expire=True) as scope:
            await migration.sample(5)
        assert scope.cancelled_caught
        assert _statuses(migration, RunMode.SAMPLE) == [RunStatus.STOPPED]
        sample = await migration.sample(5)
        assert sample.status is RunStatus.COMPLETED
        assert sample.report is not None
        assert sample.report.is_file()
        assert _statuses(migration, RunMode.SAMPLE) == [RunStatus.COMPLETED]
    _no_duplicates(sandbox, loc.location_id)


async def test_a_cancelled_delta_and_rollback_are_stopped_and_resume(practice: Path, tmp_path: Path) -> None:
    sandbox = _sandbox()
    loc = sandbox.create_location()
    newer = tmp_path / "newer"
    shutil.copytree(practice, newer)
    ids = sorted(k.removeprefix("patient:") for k in _patient_ids(newer))
    edit_patients(newer, {pid: {"email": f"changed{pid}@example.org"} for pid in ids[:6]})
    stopper = Stopper()
    async with (
        client(sandbox, loc) as hl,
        Migration(
            source(practice), hl, workdir=tmp_path / "wd", progress=stopper, concurrency=1
        ) as migration,
    ):
        migration.approve(by="manager")
        assert (await migration.run()).status is RunStatus.COMPLETED

        with stopper.arm(anyio.CancelScope(), RunMode.DELTA, after=2) as scope:
            await migration.delta(source(newer))
        assert scope.cancelled_caught
        assert _statuses(migration, RunMode.DELTA) == [RunStatus.STOPPED]
        delta = await migration.delta()
        assert delta.status is RunStatus.COMPLETED
        assert _statuses(migration, RunMode.DELTA) == [RunStatus.COMPLETED]

        with stopper.arm(anyio.CancelScope(), RunMode.ROLLBACK, after=3) as scope:
            await migration.rollback()
        assert scope.cancelled_caught
        assert _statuses(migration, RunMode.ROLLBACK) == [RunStatus.STOPPED]
        undone = await migration.rollback()
        assert undone.status is RunStatus.COMPLETED
        assert _statuses(migration, RunMode.ROLLBACK) == [RunStatus.COMPLETED]
    assert sandbox.location(loc.location_id).contacts == {}
    # The rollback's progress counts what it deleted, not "updated" patients.
    last = [e for e in stopper.events if e.mode is RunMode.ROLLBACK][-1]
    assert last.deleted > 0
    assert last.updated == 0
    assert last.unit == "objects"
    assert "deleted" in last.line()
    assert "patients" not in last.line()


def _patient_ids(path: Path) -> list[str]:
    import csv

    with (path / "v_patient.csv").open(encoding="utf-8-sig", newline="") as handle:
        return [row["patient_id"].strip() for row in csv.DictReader(handle)]


async def test_async_callbacks_are_awaited_and_a_raising_one_does_not_end_the_run(
    practice: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = _sandbox()
    loc = sandbox.create_location()
    seen: list[MigrationProgress] = []

    async def on_progress(event: MigrationProgress) -> None:
        await anyio.lowlevel.checkpoint()  # really async: it yields to the loop
        seen.append(event)
        if event.done >= 2:
            raise RuntimeError(f"host UI broke at {event.done}")  # a message the log must not carry

    caplog.set_level(logging.WARNING, logger="dentrix_highlevel")
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd", progress=on_progress) as migration,
    ):
        migration.approve(by="manager")
        result = await migration.run()
    assert result.status is RunStatus.COMPLETED
    assert result.reconciliation.reconciles
    assert seen[-1].done == PATIENTS  # still called after it raised
    warnings = [r for r in caplog.records if "progress callback" in r.getMessage()]
    assert len(warnings) == 1  # once per run, however often it raised
    assert "RuntimeError" in warnings[0].getMessage()
    assert "host UI broke" not in caplog.text
    _no_duplicates(sandbox, loc.location_id)
