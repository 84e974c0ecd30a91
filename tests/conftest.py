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
