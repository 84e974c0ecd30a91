"""Stage once: a source in a work directory keeps its complete staged copy and the next source of the same
export reuses it (proved by counting the files staged, not by timing); a changed export, a partial copy
or a damaged one is staged again; without a work directory the copy goes on close, as before."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dentrix_highlevel import GExportSource
from dentrix_highlevel.sources import _staging
from dentrix_highlevel.sources._staging_dirs import COMPLETE_MARKER, remove_kept_staging
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export


@pytest.fixture(scope="module")
def dirty_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kept") / "export"
    write_g_export(SyntheticPractice(SynthConfig(patients=60, seed=11)), path, dirty=2)
    return path


@pytest.fixture
def staged_files(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files staged from CSV in this test (the seam: every staging goes through it)."""
    seen: list[str] = []
    real = _staging.Staging.stage_file

    def counting(self: _staging.Staging, staged: _staging.StagedFile, *args: object) -> None:
        seen.append(staged.spec.name)
        real(self, staged, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(_staging.Staging, "stage_file", counting)
    return seen


def _read(export: Path, staging: Path) -> tuple[list[str], tuple[object, ...], dict[str, object], str]:
    source = GExportSource(export)
    source.use_staging_dir(staging)
    try:
        bundles = [b.content_hash() for b in source.iter_bundles()]
        return bundles, source.issues, dict(source.counts), source.practice_timezone
    finally:
        source.close()


def _kept(staging: Path) -> list[Path]:
    return sorted(p for p in staging.iterdir() if p.name.startswith("export-"))


def test_a_complete_copy_is_kept_private_and_reused(
    dirty_export: Path, tmp_path: Path, staged_files: list[str]
) -> None:
    staging = tmp_path / "wd" / "staging"
    first = _read(dirty_export, staging)
    assert staged_files, "the first source stages the export"
    (kept,) = _kept(staging)
    assert [p.name for p in staging.iterdir()] == [kept.name]  # no pid directory left behind
    assert stat.S_IMODE(staging.stat().st_mode) == 0o700
    assert stat.S_IMODE(kept.stat().st_mode) == 0o700
    for item in kept.iterdir():
        assert stat.S_IMODE(item.stat().st_mode) == 0o600, item.name
    assert (kept / COMPLETE_MARKER).is_file()

    staged_files.clear()
    second = _read(dirty_export, staging)
    assert staged_files == [], "the second source read the kept copy instead of staging again"
    assert second == first  # the same bundles, issues (dirty export: there are some), counts, zone
    assert first[1]
    assert _kept(staging) == [kept]


def test_a_changed_export_is_staged_again_and_the_old_copy_goes(
    dirty_export: Path, tmp_path: Path, staged_files: list[str]
) -> None:
    export = tmp_path / "export"
    export.mkdir()
    for item in dirty_export.iterdir():
        if item.is_file():
            (export / item.name).write_bytes(item.read_bytes())
    staging = tmp_path / "staging"
    _read(export, staging)
    (old,) = _kept(staging)
    # Same size and modification time, other bytes: only the content hash can tell.
    target = export / "v_patient.csv"
    info = target.stat()
    data = bytearray(target.read_bytes())
    where = data.index(b"\n") + 1
    data[where] = ord("9") if data[where] != ord("9") else ord("8")
    target.write_bytes(bytes(data))
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
    staged_files.clear()
    _read(export, staging)
    assert "v_patient.csv" in staged_files
    (new,) = _kept(staging)
    assert new != old


def test_a_partial_or_damaged_copy_is_never_reused(
    dirty_export: Path, tmp_path: Path, staged_files: list[str]
) -> None:
    staging = tmp_path / "staging"
    _read(dirty_export, staging)
    (kept,) = _kept(staging)

    (kept / COMPLETE_MARKER).unlink()  # as if killed before the marker was written
    staged_files.clear()
    _read(dirty_export, staging)
    assert staged_files, "no marker: staged again"
    (kept,) = _kept(staging)
    assert (kept / COMPLETE_MARKER).is_file()

    (kept / "staging.sqlite3").write_bytes(b"not a database")
    staged_files.clear()
    first = _read(dirty_export, staging)
    assert staged_files, "a damaged copy: staged again"
    staged_files.clear()
    assert _read(dirty_export, staging) == first
    assert staged_files == []

    (kept,) = _kept(staging)
    assert remove_kept_staging(staging) == [kept]
    assert _kept(staging) == []


def test_without_a_work_directory_the_copy_goes_on_close(
    dirty_export: Path, tmp_path: Path, staged_files: list[str]
) -> None:
    parent = tmp_path / "elsewhere"
    for _ in range(2):
        source = GExportSource(dirty_export, staging_dir=parent)
        source.stage()
        source.close()
        assert list(parent.iterdir()) == []
    assert staged_files.count("v_patient.csv") == 2


def test_options_that_change_staging_are_part_of_the_key(
    dirty_export: Path, tmp_path: Path, staged_files: list[str]
) -> None:
    staging = tmp_path / "staging"
    _read(dirty_export, staging)
    staged_files.clear()
    source = GExportSource(dirty_export, encoding="cp1252")
    source.use_staging_dir(staging)
    source.stage()
    source.close()
    assert staged_files, "another encoding override is another staging"
    assert len(_kept(staging)) == 1
