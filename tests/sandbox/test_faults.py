"""Fault injection: transport faults in-process, 5xx before/after commit, "created anyway" 4xx, seeding."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dentrix_highlevel.errors import ConfigurationError
from dentrix_highlevel.sandbox import FaultConfig, Sandbox, SandboxConfig
from dentrix_highlevel.sandbox._faults import FaultEngine

from ._helpers import make_client

pytestmark = pytest.mark.anyio


def _contact_count(sandbox: Sandbox, location_id: str) -> int:
    return len(sandbox.location(location_id).contacts)


async def test_connect_error_reaches_nothing(sandbox: Sandbox) -> None:
    loc = sandbox.create_location()
    sandbox.set_faults(FaultConfig(connect_error_rate=1.0))
    async with make_client(sandbox, loc.token) as client:
        with pytest.raises(httpx.ConnectError):
            await client.post("/contacts/", json={"locationId": loc.location_id, "email": "c@example.com"})
    assert sandbox.request_log == []
    assert _contact_count(sandbox, loc.location_id) == 0


@pytest.mark.parametrize(
    ("faults", "error"),
    [
        (FaultConfig(timeout_rate=1.0), httpx.ReadTimeout),
        (FaultConfig(reset_rate=1.0), httpx.RemoteProtocolError),
    ],
)
async def test_timeout_and_reset_happen_after_the_write(
    sandbox: Sandbox, faults: FaultConfig, error: type[Exception]
) -> None:
    loc = sandbox.create_location()
    sandbox.set_faults(faults)
    async with make_client(sandbox, loc.token) as client:
        with pytest.raises(error):
            await client.post("/contacts/", json={"locationId": loc.location_id, "email": "t@example.com"})
    assert _contact_count(sandbox, loc.location_id) == 1  # ambiguous: the contact exists
    assert [r.status for r in sandbox.request_log] == [201]


async def test_5xx_before_commit_writes_nothing(sandbox: Sandbox) -> None:
    loc = sandbox.create_location()
    sandbox.set_faults(FaultConfig(error_rate=1.0, error_statuses=(502,)))
    async with make_client(sandbox, loc.token) as client:
        response = await client.post(
            "/contacts/", json={"locationId": loc.location_id, "email": "e@example.com"}
        )
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")  # from the load balancer, not JSON
    assert "X-RateLimit-Remaining" in response.headers
    assert _contact_count(sandbox, loc.location_id) == 0


async def test_5xx_after_commit(sandbox: Sandbox) -> None:
    loc = sandbox.create_location()
    sandbox.set_faults(FaultConfig(error_after_commit_rate=1.0, error_statuses=(500,)))
    async with make_client(sandbox, loc.token) as client:
        response = await client.post(
            "/contacts/", json={"locationId": loc.location_id, "email": "a@example.com"}
        )
    assert response.status_code == 500
    assert response.json()["statusCode"] == 500
    assert _contact_count(sandbox, loc.location_id) == 1


async def test_created_anyway_then_retry_hits_duplicate(sandbox: Sandbox) -> None:
    loc = sandbox.create_location()
    sandbox.set_faults(FaultConfig(created_anyway_rate=1.0))
    body = {"locationId": loc.location_id, "email": "anyway@example.com"}
    async with make_client(sandbox, loc.token) as client:
        first = await client.post("/contacts/", json=body)
        assert first.status_code == 422
        assert isinstance(first.json()["message"], list)
        assert _contact_count(sandbox, loc.location_id) == 1
        sandbox.set_faults(FaultConfig())
        retry = await client.post("/contacts/", json=body)
    assert retry.status_code == 400
    assert retry.json()["meta"]["matchingField"] == "email"


async def test_created_anyway_only_on_contact_create_and_upsert(sandbox: Sandbox) -> None:
    loc = sandbox.create_location()
    sandbox.set_faults(FaultConfig(created_anyway_rate=1.0, created_anyway_status=400))
    async with make_client(sandbox, loc.token) as client:
        upsert = await client.post(
            "/contacts/upsert", json={"locationId": loc.location_id, "email": "u@example.com"}
        )
        assert upsert.status_code == 400
        assert (await client.get(f"/locations/{loc.location_id}")).status_code == 200


def test_same_seed_same_faults() -> None:
    config = FaultConfig(error_rate=0.3, latency_ms=(10, 50), spike_rate=0.1, spike_ms=500)

    def run(seed: int) -> list[tuple[float, int | None]]:
        engine = FaultEngine(config, seed=seed, set_at_s=0.0)
        draws = [engine.draw(contact_commit=False, transport_faults=False) for _ in range(200)]
        return [(d.latency_s, d.error_before) for d in draws]

    first = run(7)
    assert first == run(7)
    assert first != run(8)
    latencies = [lat for lat, _ in first]
    assert all(0.010 <= lat <= 0.550 for lat in latencies)
    assert any(lat > 0.06 for lat in latencies)  # spikes happen
    assert 30 <= sum(1 for _, err in first if err is not None) <= 90


@pytest.mark.parametrize(
    "kwargs",
    [
        {"error_rate": 1.5},
        {"latency_ms": (50.0, 10.0)},
        {"error_statuses": (404,)},
        {"created_anyway_status": 409},
        {"advertised_rate_max": 0},
    ],
)
def test_fault_config_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        FaultConfig(**kwargs)  # type: ignore[arg-type]


def test_sandbox_config_validation() -> None:
    with pytest.raises(ConfigurationError):
        SandboxConfig(rate_max=0)
    sandbox = Sandbox()
    with pytest.raises(ConfigurationError):
        sandbox.create_location(dedupe_order=("name",))
    with pytest.raises(ConfigurationError):
        sandbox.create_location(timezone="Mars/Olympus")


async def test_latency_is_async_so_requests_overlap(sandbox: Sandbox) -> None:
    """Latency must not block the event loop: count requests in flight inside the app at once."""
    import anyio

    loc = sandbox.create_location()
    sandbox.set_faults(FaultConfig(latency_ms=(30.0, 30.0)))
    in_flight = 0
    peak = 0

    async def counting_app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await sandbox.app(scope, receive, send)
        finally:
            in_flight -= 1

    transport = httpx.ASGITransport(app=counting_app)
    headers = {"Authorization": f"Bearer {loc.token}", "Version": "2021-07-28"}

    async def get(client: httpx.AsyncClient) -> None:
        await client.get(f"/locations/{loc.location_id}", headers=headers)

    base_url = "https://services.leadconnectorhq.com"
    async with (
        httpx.AsyncClient(base_url=base_url, transport=transport) as client,
        anyio.create_task_group() as group,
    ):
        for _ in range(8):
            group.start_soon(get, client)
    assert peak == 8
    assert [r.status for r in sandbox.request_log] == [200] * 8
