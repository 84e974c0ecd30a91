"""Owner-only files and directories for the migration's work directory, whatever the umask.

Everything a migration keeps (plan, approval, ledger, audit log, reconciliation, sample diff, reports)
holds identifiers or patient values. Files are therefore written through :func:`open_private`: into a
temporary file beside the target (``mkstemp`` creates it ``0o600``, and it is ``fchmod``-ed again so no
platform or umask leaves it wider), flushed to disk, then renamed over the target. A reader never sees
half a file, and an existing target's looser mode is never inherited, as it would be by ``O_TRUNC``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

__all__ = ["PRIVATE_DIR_MODE", "PRIVATE_FILE_MODE", "ensure_private_dir", "open_private", "write_private"]

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def ensure_private_dir(directory: Path) -> Path:
    """Create ``directory`` (and missing parents) and make it owner-only.

    ``mkdir``'s mode is filtered by the umask and an existing directory keeps its mode, so it is tightened
    to ``0o700`` either way."""
    directory.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    if directory.stat().st_mode & 0o777 != PRIVATE_DIR_MODE:
        directory.chmod(PRIVATE_DIR_MODE)
    return directory


@contextlib.contextmanager
def open_private(path: Path, *, newline: str | None = None) -> Iterator[TextIO]:
    """A UTF-8 text handle whose content replaces ``path`` atomically, ``0o600``, when the block ends
    without an exception (on one, the target is left as it was and the temporary file removed)."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        with open(fd, "w", encoding="utf-8", newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through :func:`open_private`."""
    with open_private(path) as handle:
        handle.write(text)
    return path
