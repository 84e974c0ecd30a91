"""Fixtures for the sandbox behaviour tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from dentrix_highlevel.sandbox import LocationInfo, Sandbox

from ._helpers import make_client


@pytest.fixture
async def client(sandbox: Sandbox, location: LocationInfo) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on ``location``'s token, served in-process by ``sandbox``."""
    async with make_client(sandbox, location.token) as http:
        yield http
