"""Fixtures shared by the whole suite.

Async tests run on anyio's asyncio backend only: aiolimiter is asyncio-only.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
