"""Fixtures of the command-line tests: a real sandbox HTTP server on 127.0.0.1 with a scaled rate window.

The commands themselves always run as subprocesses (``python -m dentrix_highlevel``): the real entry point,
its exit codes and its output, exactly as a terminal sees them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="module")
def scaled_server() -> Iterator[Any]:
    """A sandbox served over HTTP on a free loopback port; 100 requests per 100 ms (100x the real speed).

    Module-scoped (starting uvicorn costs time); each test makes its own location on it.
    """
    from dentrix_highlevel.sandbox import Sandbox, SandboxConfig, SandboxServer

    with SandboxServer(
        Sandbox(SandboxConfig(rate_window_ms=100, rate_max=100)), create_location=False
    ) as server:
        yield server
