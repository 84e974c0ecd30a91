"""Where staging indexes live, and the clean-up of those a killed process left behind.

A staging index holds the whole export (names, e-mails, notes), so it belongs with the migration's other
private files: inside the work directory (``<workdir>/staging``, 0o700) when a migration has one, never in
a shared temp directory. Each directory's name carries the pid of the process that made it, so the next
command can tell a leftover of a dead process (removed) from the index of a command still running (kept).

A work directory also keeps one *complete* staged export for the next command (``export-<key>``, named by
the export's content key, holding a completion marker written last): it is made by renaming a finished
pid directory, so a staging killed mid-way is always a pid directory and never taken for a complete one.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from pathlib import Path

from dentrix_highlevel._errors import ConfigurationError

__all__ = [
    "COMPLETE_MARKER",
    "KEPT_PREFIX",
    "STAGING_DIRNAME",
    "kept_staging_dirs",
    "new_staging_dir",
    "remove_kept_staging",
    "remove_leftover_staging",
]

STAGING_DIRNAME = "staging"
"""The folder of a work directory that holds its staging indexes while a command runs."""

KEPT_PREFIX = "export-"
"""The name of a kept, complete staged export in the staging folder: ``export-<content key>``."""

COMPLETE_MARKER = "complete"
"""The file written last into a kept staged export (it holds the content key): no marker, no reuse."""

_OURS = re.compile(r"^(?:dentrix-highlevel-staging|ascend)-(\d+)-")


def new_staging_dir(prefix: str, parent: Path | None) -> Path:
    """A new owner-only directory for one staging index, under ``parent`` (else the system temp dir).

    A directory that cannot be made (read-only, full, missing) is a configuration error naming the place,
    not an internal one: the operator fixes the disk or points elsewhere.
    """
    where = parent if parent is not None else Path(tempfile.gettempdir())
    wanted = os.environ.get("TMPDIR")
    if parent is None and wanted and Path(wanted).resolve() != where.resolve():
        # Python falls back to another temp directory when TMPDIR cannot take a file (full, read-only):
        # the export's PHI would land somewhere the operator did not choose. Say so instead.
        raise ConfigurationError(
            f"the temp directory {wanted} (TMPDIR) is full or not writable: free space, fix it, or set "
            "TMPDIR to a usable one (or give the source a staging_dir)"
        )
    try:
        if parent is not None:
            parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            parent.chmod(0o700)  # made earlier with a wider mode: still only the owner's
        # mkdtemp creates the directory 0o700: the index inside holds PHI.
        return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))
    except OSError as exc:
        raise ConfigurationError(_unusable(where, exc)) from None


def _unusable(where: Path, exc: OSError) -> str:
    what = "the work directory's staging folder" if where.name == STAGING_DIRNAME else "the temp directory"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        why = "is full"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "is not writable (read-only or another user's)"
    else:
        why = f"cannot be used ({errno.errorcode.get(exc.errno or 0, type(exc).__name__)})"
    hint = (
        "free space or fix its permissions" if what.startswith("the work") else "set TMPDIR to a usable one"
    )
    return f"{what} {where} {why}: {hint}"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: not ours to judge
    return True


def remove_leftover_staging(parent: Path) -> list[Path]:
    """Remove staging directories under ``parent`` whose process is gone (killed before it could clean
    up); the paths removed. Those of a live process (a command still running) are kept."""
    try:
        entries = list(parent.iterdir())
    except OSError:
        return []
    removed = []
    for entry in sorted(entries):
        match = _OURS.match(entry.name)
        if match is None or not entry.is_dir() or _alive(int(match.group(1))):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        if not entry.exists():
            removed.append(entry)
    return removed


def kept_staging_dirs(parent: Path) -> list[Path]:
    """The kept staged exports under ``parent`` (complete or not: a marker is checked before any use)."""
    try:
        entries = list(parent.iterdir())
    except OSError:
        return []
    return sorted(e for e in entries if e.name.startswith(KEPT_PREFIX) and e.is_dir())


def remove_kept_staging(parent: Path, *, but: Path | None = None) -> list[Path]:
    """Remove the kept staged exports under ``parent`` (all of them, or all but ``but``); the paths
    removed. A process that still reads one keeps its open file until it closes it (POSIX)."""
    removed = []
    for entry in kept_staging_dirs(parent):
        if but is not None and entry == but:
            continue
        shutil.rmtree(entry, ignore_errors=True)
        if not entry.exists():
            removed.append(entry)
    return removed
