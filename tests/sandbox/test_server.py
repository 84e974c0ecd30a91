"""The sandbox over real HTTP on 127.0.0.1 (uvicorn in a thread), including served-mode faults."""

from __future__ import annotations

import httpx
import pytest

from dentrix_highlevel.sandbox import FaultConfig, SandboxServer

from ._helpers import auth

pytestmark = pytest.mark.anyio


async def test_served_sandbox_answers_like_highlevel(sandbox_server: SandboxServer) -> None:
    assert sandbox_server.base_url.startswith("http://127.0.0.1:")
    loc = sandbox_server.location
    assert loc is not None
    async with httpx.AsyncClient(base_url=sandbox_server.base_url, headers=auth(loc.token)) as client:
        created = await client.post(
            "/contacts/", json={"locationId": loc.location_id, "email": "srv@example.com"}
        )
        assert created.status_code == 201
        assert "traceId" in created.json()
        assert created.headers["X-RateLimit-Max"] == "100"
        log = (await client.get("/_sandbox/requests")).json()
    assert [r["status"] for r in log["requests"]] == [201]
    assert log["maxAdmittedInWindow"] == 1
    assert len(sandbox_server.sandbox.location(loc.location_id).contacts) == 1


async def test_served_reset_cuts_the_response(sandbox_server: SandboxServer) -> None:
    loc = sandbox_server.location
    assert loc is not None
    sandbox_server.sandbox.set_faults(FaultConfig(reset_rate=1.0))
    async with httpx.AsyncClient(base_url=sandbox_server.base_url, headers=auth(loc.token)) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("/contacts/", json={"locationId": loc.location_id, "email": "cut@example.com"})
    assert len(sandbox_server.sandbox.location(loc.location_id).contacts) == 1


async def test_served_timeout_sleeps_past_the_client(sandbox_server: SandboxServer) -> None:
    loc = sandbox_server.location
    assert loc is not None
    sandbox_server.sandbox.set_faults(FaultConfig(timeout_rate=1.0, timeout_s=1.0))
    async with httpx.AsyncClient(
        base_url=sandbox_server.base_url, headers=auth(loc.token), timeout=httpx.Timeout(0.2)
    ) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(f"/locations/{loc.location_id}")
