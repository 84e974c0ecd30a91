"""``_private_files``: owner-only, atomic work-directory files and directories under any umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from dentrix_highlevel._private_files import ensure_private_dir, open_private, write_private


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_files_and_directories_are_owner_only_under_umask_0(tmp_path: Path) -> None:
    folder = ensure_private_dir(tmp_path / "wd")
    assert _mode(folder) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o777)
    assert _mode(ensure_private_dir(loose)) == 0o700
    target = folder / "reconciliation.json"
    target.write_text("old", encoding="utf-8")  # 0o666 under this umask
    assert _mode(target) == 0o666
    write_private(target, "new")
    assert target.read_text(encoding="utf-8") == "new"
    assert _mode(target) == 0o600, "an existing file's wider mode is not kept"


def test_a_failed_write_leaves_the_target_and_no_temporary_file(tmp_path: Path) -> None:
    target = write_private(tmp_path / "plan.json", "approved")

    def half_written() -> None:
        with open_private(target) as handle:
            handle.write("half")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        half_written()
    assert target.read_text(encoding="utf-8") == "approved"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]
