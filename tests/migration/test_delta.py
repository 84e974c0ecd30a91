"""delta(source): only new and changed patients are sent; removed ones per policy; the watermark moves."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.migration._engine_helpers import (
    client,
    contacts_by_source_id,
    edit_patients,
    export,
    scaled_sandbox,
    source,
)

from dentrix_highlevel.migration import (
    Migration,
    MigrationPolicies,
    RecordAction,
    RemovedInSourcePolicy,
    RunMode,
)
from dentrix_highlevel.sources import GExportSource

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("delta")
    first = export(base, patients=20, seed=9, name="monday")
    second = base / "tuesday"
    shutil.copytree(first, second)
    edit_patients(
        second,
        {"1003": {"city": "Leadville"}, "1005": {"status": "4"}},
        drop=("1012",),
        clone={"1099": "1001"},
    )
    return first, second


def _hashes(path: Path) -> dict[str, str]:
    with GExportSource(path) as staged:
        return {f"patient:{b.patient_id}": b.content_hash() for b in staged.iter_bundles()}


@pytest.mark.parametrize("removed", [RemovedInSourcePolicy.KEEP, RemovedInSourcePolicy.DELETE])
async def test_delta_sends_only_changes(
    exports: tuple[Path, Path], tmp_path: Path, removed: RemovedInSourcePolicy
) -> None:
    first, second = exports
    before, after = _hashes(first), _hashes(second)
    changed = {k for k, h in after.items() if before.get(k) != h}
    assert {"patient:1003", "patient:1005", "patient:1099"} <= changed
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    policies = MigrationPolicies(removed_in_source=removed)
    async with (
        client(sandbox, loc) as hl,
        Migration(source(first), hl, workdir=tmp_path / "wd", policies=policies) as migration,
    ):
        migration.approve(by="manager")
        full = await migration.run()
        watermark = migration.ledger.watermark()
        assert watermark is not None
        assert watermark.run_id == full.run_id
        result = await migration.delta(source(second))
        assert result.mode is RunMode.DELTA
        assert result.reconciliation.reconciles
        rows = [r for r in migration.ledger.audit_rows(run_id=result.run_id) if r.kind == "contact"]
        assert {r.source_key for r in rows} == changed | {"patient:1012"}
        actions = {r.source_key: r.action for r in rows}
        assert actions["patient:1099"] is RecordAction.CREATED
        assert actions["patient:1003"] is RecordAction.UPDATED
        assert actions["patient:1012"] is RecordAction.SKIPPED
        assert migration.ledger.watermark().run_id == result.run_id  # type: ignore[union-attr]

        # A second delta from the same export sends nothing at all.
        log = len(sandbox.request_log)
        again = await migration.delta(source(second))
        assert [r for r in sandbox.request_log[log:] if r.method != "GET" and "search" not in r.path] == []
        assert again.reconciliation.kind("contact").source == 0  # type: ignore[union-attr]
        assert again.reconciliation.reconciles
    contacts = contacts_by_source_id(sandbox, loc.location_id)
    assert contacts["1003"][0]["city"] == "Leadville"
    archived = contacts["1005"][0]
    assert "dentrix archived" in archived["tags"]
    assert all(v["status"] == "active" for v in archived["dndSettings"].values())
    assert "1099" in contacts
    assert ("1012" in contacts) is (removed is RemovedInSourcePolicy.KEEP)
