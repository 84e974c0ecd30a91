"""Fixtures shared by the whole suite.

Async tests run on anyio's asyncio backend only: aiolimiter is asyncio-only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# CI draws the same examples on every run, so a red CI is the code's doing, not the draw's (and has no
# deadline: a busy 2-core runner is slow); locally hypothesis keeps exploring new examples.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")

REPO_ROOT = Path(__file__).resolve().parents[1]


# ---- the repository tree stays as it was --------------------------------------------------------------

#: What the tools themselves keep in the tree (caches, builds); everything else a test writes is a leak.
_TOOL_DIRS = frozenset(
    {
        ".git",
        "__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".hypothesis",
        "site",
        "build",
        "dist",
    }
)


def _tree_files(root: Path) -> set[str]:
    found: set[str] = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = [
            d
            for d in dirs
            if d not in _TOOL_DIRS and not d.endswith(".egg-info") and not d.startswith(".venv")
        ]
        found.update(os.path.relpath(os.path.join(folder, f), root) for f in files)
    return found


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_TREE_KEY] = _tree_files(REPO_ROOT)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The suite writes only to temporary directories: anything new in the repository tree fails the run
    (a committed ``ledger.sqlite3`` from a test is how this guard came about)."""
    before = session.config.stash.get(_TREE_KEY, None)
    if before is None:
        return
    leaked = sorted(_tree_files(REPO_ROOT) - before)
    if leaked:
        shown = ", ".join(leaked[:10]) + (f" and {len(leaked) - 10} more" if len(leaked) > 10 else "")
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"FAILED: the suite wrote into the repository tree: {shown}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_TREE_KEY = pytest.StashKey[set[str]]()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def shared_dir() -> Path:
    """Where ``../shared`` (HighLevel OpenAPI files, Dentrix notes) is expected: beside the checkout."""
    override = os.environ.get("DENTRIX_HIGHLEVEL_SHARED")
    return Path(override) if override else REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def openapi_dir() -> Path:
    """The official HighLevel OpenAPI files. Missing is a failure in CI and a skip elsewhere."""
    path = shared_dir() / "highlevel" / "openapi"
    if not (path / "apps" / "contacts.json").is_file():
        message = (
            f"HighLevel OpenAPI files not found: expected them at {path} "
            "(the shared/ folder beside the checkout, or set DENTRIX_HIGHLEVEL_SHARED)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


# ---- HighLevel sandbox fixtures (imported lazily: only sandbox users pay for starlette) ------------------


@pytest.fixture
def sandbox() -> Any:
    """A fresh in-memory HighLevel sandbox (documented limits, no faults, seed 0)."""
    from dentrix_highlevel.sandbox import Sandbox

    return Sandbox()


@pytest.fixture
def location(sandbox: Any) -> Any:
    """A location on ``sandbox`` whose duplicate-contact setting is off; ``.token`` is its PIT."""
    return sandbox.create_location(allow_duplicates=False)


@pytest.fixture
def sandbox_server() -> Iterator[Any]:
    """A real uvicorn server on 127.0.0.1 (free port) serving a fresh sandbox with one location.

    Attributes: ``.base_url``, ``.sandbox``, ``.location``.
    """
    from dentrix_highlevel.sandbox import SandboxServer

    with SandboxServer() as server:
        yield server
