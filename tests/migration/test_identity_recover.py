"""HighLevel as the second source of truth (#16 item 1): a lost or copied ledger never duplicates patients.

The location records which ledger owns the practice's migration (a custom value with the migration id and
a token rotated at every run). A deleted ledger is refused until ``recover()`` rebuilds it from HighLevel;
a stale copy of the work directory is refused; a rollback with an empty ledger never reports success.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.migration._engine_helpers import client, contacts_by_source_id, export, source

from dentrix_highlevel.migration import Migration, MigrationPolicies, RunStatus
from dentrix_highlevel.migration._state.ownership import OwnershipError
from dentrix_highlevel.sandbox import Sandbox, SandboxConfig

pytestmark = pytest.mark.anyio

POLICIES = MigrationPolicies(search_lag_s=0.05, ambiguous_lookup_s=2.0, upload_documents=True)


def _sandbox() -> Sandbox:
    return Sandbox(SandboxConfig(rate_window_ms=100, rate_max=100, search_index_lag_ms=50))


def _counts(sandbox: Sandbox, location_id: str) -> dict[str, int]:
    loc = sandbox.location(location_id)
    return {
        "contacts": len(loc.contacts),
        "notes": len(loc.notes),
        "opportunities": len(loc.opportunities),
        "events": len(loc.events),
        "media": len(loc.media),
    }


async def _run(sandbox: Sandbox, loc: object, practice: Path, workdir: Path) -> RunStatus:
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=workdir, policies=POLICIES) as migration,
    ):
        migration.approve(by="manager")
        result = await migration.run()
        assert result.reconciliation.totals().failed == 0
        return result.status


async def test_a_deleted_ledger_is_refused_then_recovered_without_duplicates(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=10, seed=3)
    sandbox = _sandbox()
    loc = sandbox.create_location(allow_duplicates=True)
    workdir = tmp_path / "wd"
    assert await _run(sandbox, loc, practice, workdir) is RunStatus.COMPLETED
    sandbox.settle_search_index()
    migrated = _counts(sandbox, loc.location_id)
    for file in workdir.glob("ledger.sqlite3*"):
        file.unlink()
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=workdir, policies=POLICIES) as migration,
    ):
        migration.approve(by="manager")
        with pytest.raises(OwnershipError, match="recover --workdir") as refused:
            await migration.run()
        assert str(workdir) in str(refused.value)
        with pytest.raises(OwnershipError, match="records nothing to roll back"):
            await migration.rollback()
        assert _counts(sandbox, loc.location_id) == migrated, "nothing was written or deleted"
        adopted = await migration.recover()
        assert adopted >= migrated["contacts"]
        result = await migration.run()
        assert result.status is RunStatus.COMPLETED
        assert result.reconciliation.totals().failed == 0
    assert _counts(sandbox, loc.location_id) == migrated, "0 duplicates after recover + run"
    assert all(len(v) == 1 for v in contacts_by_source_id(sandbox, loc.location_id).values())
    sandbox.settle_search_index()
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=workdir, policies=POLICIES) as migration,
    ):
        rolled = await migration.rollback()
        assert rolled.status is RunStatus.COMPLETED
    after = _counts(sandbox, loc.location_id)
    assert after == {"contacts": 0, "notes": 0, "opportunities": 0, "events": 0, "media": 0}


async def test_a_copied_work_directory_run_beside_the_original_makes_no_duplicate(tmp_path: Path) -> None:
    """A copy of a finished migration's work directory holds the same ledger: running it beside the
    original sends nothing new; once the original rolled back (and released the location), the copy's
    rollback is refused as stale instead of reporting work it did not do."""
    practice = export(tmp_path, patients=8, seed=4)
    sandbox = _sandbox()
    loc = sandbox.create_location(allow_duplicates=True)
    original, copy = tmp_path / "wd", tmp_path / "wd-copy"
    assert await _run(sandbox, loc, practice, original) is RunStatus.COMPLETED
    shutil.copytree(original, copy)  # what `cp -a` does
    sandbox.settle_search_index()
    migrated = _counts(sandbox, loc.location_id)
    assert await _run(sandbox, loc, practice, copy) is RunStatus.COMPLETED
    assert await _run(sandbox, loc, practice, original) is RunStatus.COMPLETED
    assert _counts(sandbox, loc.location_id) == migrated, "0 duplicates"
    assert all(len(v) == 1 for v in contacts_by_source_id(sandbox, loc.location_id).values())
    sandbox.settle_search_index()
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=original, policies=POLICIES) as migration,
    ):
        assert (await migration.rollback()).status is RunStatus.COMPLETED
    assert _counts(sandbox, loc.location_id)["contacts"] == 0


async def test_a_copy_made_while_a_run_writes_is_refused_and_makes_no_duplicate(tmp_path: Path) -> None:
    """A copy of the work directory taken while a run writes (here: a run stopped by the daily cap, its
    lease still on the location) is refused while the lease stands, and as stale once the original ended
    its run; nothing is written for it, and the original finishes with one contact per patient."""
    practice = export(tmp_path, patients=10, seed=5)
    sandbox = _sandbox()
    loc = sandbox.create_location(allow_duplicates=True)
    original, copy = tmp_path / "wd", tmp_path / "wd-copy"
    async with (
        client(sandbox, loc, daily_max=60) as hl,
        Migration(source(practice), hl, workdir=original, policies=POLICIES) as migration,
    ):
        migration.approve(by="manager")
        assert (await migration.run()).status is RunStatus.STOPPED
    shutil.copytree(original, copy)  # mid-run: the ledger lacks what the original creates next
    sandbox.settle_search_index()

    async def refused_copy(match: str) -> None:
        writes = [r for r in sandbox.request_log if r.method != "GET"]
        async with (
            client(sandbox, loc) as hl,
            Migration(source(practice), hl, workdir=copy, policies=POLICIES) as migration,
        ):
            with pytest.raises(OwnershipError, match=match) as refused:
                await migration.run()
            assert "recover --workdir" in str(refused.value) or "stale" in str(refused.value)
        assert [r for r in sandbox.request_log if r.method != "GET"] == writes, "nothing written"

    await refused_copy("being written by run .* from another work directory")
    assert await _run(sandbox, loc, practice, original) is RunStatus.COMPLETED
    await refused_copy("stale")
    sandbox.settle_search_index()
    assert all(len(v) == 1 for v in contacts_by_source_id(sandbox, loc.location_id).values())
    assert len(contacts_by_source_id(sandbox, loc.location_id)) == 10
    # The original's no-op re-run after its lease ended writes nothing (not even the owner record).
    writes = [r for r in sandbox.request_log if r.method != "GET"]
    assert await _run(sandbox, loc, practice, original) is RunStatus.COMPLETED
    assert [r for r in sandbox.request_log if r.method != "GET"] == writes
