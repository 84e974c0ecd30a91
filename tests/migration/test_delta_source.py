"""delta(source) takes the newer export over: the migration reads it afterwards and closes it (its staging
index holds patient values), when it closes or when the next delta hands over another one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.migration._engine_helpers import client, edit_patients, export, scaled_sandbox

from dentrix_highlevel.errors import ConfigurationError
from dentrix_highlevel.migration import Migration, RunStatus
from dentrix_highlevel.sources import GExportSource

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("delta-source")
    first = export(base, patients=6, seed=11, name="monday")
    second = base / "tuesday"
    shutil.copytree(first, second)
    edit_patients(second, {"1003": {"city": "Leadville"}})
    other = base / "other-practice"
    shutil.copytree(first, other)
    manifest = json.loads((other / "manifest.json").read_text("utf-8"))
    manifest["practice"]["id1"] = "ELSEWHERE"
    (other / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    return first, second, other


def _staged(staging: Path) -> list[Path]:
    return sorted(staging.iterdir()) if staging.exists() else []


async def test_a_handed_over_source_is_read_afterwards_and_closed_with_the_migration(
    exports: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    first, second, _ = exports
    staging = tmp_path / "staging"
    staging.mkdir()
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    async with client(sandbox, loc) as hl, GExportSource(first) as monday:
        async with Migration(monday, hl, workdir=tmp_path / "wd") as migration:
            migration.approve(by="manager")
            await migration.run()
            result = await migration.delta(GExportSource(second, staging_dir=staging))
            assert result.status is RunStatus.COMPLETED
            assert len(_staged(staging)) == 1  # still the migration's source: reconcile reads it
            checked = await migration.reconcile()
            assert checked.ok, checked.mismatches
        assert _staged(staging) == []
        # The source given to the constructor stays the caller's: still open and readable.
        assert [b async for b in monday.bundles()]


async def test_the_next_delta_closes_the_source_the_previous_one_took_over(
    exports: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    first, second, _ = exports
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    async with client(sandbox, loc) as hl, GExportSource(first) as monday:
        migration = Migration(monday, hl, workdir=tmp_path / "wd")
        await migration.open()
        try:
            migration.approve(by="manager")
            await migration.run()
            await migration.delta(GExportSource(second, staging_dir=one))
            assert len(_staged(one)) == 1
            again = await migration.delta(GExportSource(second, staging_dir=two))
            assert again.status is RunStatus.COMPLETED
            assert _staged(one) == []
            assert len(_staged(two)) == 1
        finally:
            migration.close()  # the synchronous close closes a G export too
        assert _staged(two) == []


async def test_a_source_of_another_practice_is_refused_and_closed(
    exports: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    first, _, other = exports
    staging = tmp_path / "staging"
    staging.mkdir()
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    async with (
        client(sandbox, loc) as hl,
        GExportSource(first) as monday,
        Migration(monday, hl, workdir=tmp_path / "wd") as migration,
    ):
        migration.approve(by="manager")
        with pytest.raises(ConfigurationError, match="another practice"):
            await migration.delta(GExportSource(other, staging_dir=staging))
        assert _staged(staging) == []
        assert [b async for b in monday.bundles()]
