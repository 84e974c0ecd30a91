"""The /_sandbox/ admin surface: create location, set faults, request log, state dump, reset, OAuth setup."""

from __future__ import annotations

import pytest

from dentrix_highlevel.sandbox import Sandbox

from ._helpers import auth, make_client

pytestmark = pytest.mark.anyio


async def test_admin_round_trip(sandbox: Sandbox) -> None:
    async with make_client(sandbox) as client:
        created = await client.post(
            "/_sandbox/locations", json={"locationId": "AdminLocation0000001", "allowDuplicates": True}
        )
        assert created.status_code == 201
        info = created.json()
        assert info["token"].startswith("pit-")
        assert info["locationId"] == "AdminLocation0000001"
        assert (await client.post("/_sandbox/locations", json={"nope": 1})).status_code == 422
        assert (
            await client.post("/_sandbox/locations", json={"locationId": "AdminLocation0000001"})
        ).status_code == 400

        contact = await client.post(
            "/contacts/",
            json={"locationId": info["locationId"], "email": "adm@example.com"},
            headers=auth(info["token"]),
        )
        assert contact.status_code == 201
        state = (await client.get("/_sandbox/state")).json()
        stored = state["locations"]["AdminLocation0000001"]
        assert [c["id"] for c in stored["contacts"]] == [contact.json()["contact"]["id"]]
        assert stored["settings"]["allowDuplicateContact"] is True
        assert info["token"] not in str(state)  # tokens are not part of the dump

        faults = await client.put("/_sandbox/faults", json={"error_rate": 1.0, "latency_ms": [0, 0]})
        assert faults.status_code == 200
        assert faults.json()["faults"]["error_rate"] == 1.0
        assert (await client.put("/_sandbox/faults", json={"error_rate": 3})).status_code == 400
        assert (await client.put("/_sandbox/faults", json={"bogus": 1})).status_code == 400
        failing = await client.get(f"/locations/{info['locationId']}", headers=auth(info["token"]))
        assert failing.status_code >= 500
        await client.put("/_sandbox/faults", json={})

        log = (await client.get("/_sandbox/requests", params={"locationId": info["locationId"]})).json()
        assert [r["path"] for r in log["requests"]] == ["/contacts/", f"/locations/{info['locationId']}"]
        assert log["windowMs"] == 10_000

        assert (
            await client.post("/_sandbox/oauth/apps", json={"clientId": "a", "clientSecret": "b"})
        ).status_code == 201
        code = await client.post(
            "/_sandbox/oauth/codes", json={"clientId": "a", "locationId": info["locationId"]}
        )
        assert code.status_code == 201
        assert code.json()["code"]
        assert (await client.post("/_sandbox/oauth/codes", json={"clientId": "zzz"})).status_code == 400

        assert (await client.post("/_sandbox/reset")).json() == {"reset": True}
        assert (await client.get("/_sandbox/state")).json() == {"locations": {}}
        assert (await client.get("/_sandbox/requests")).json()["requests"] == []


def test_dump_is_a_copy(sandbox: Sandbox) -> None:
    loc = sandbox.create_location()
    dump = sandbox.dump()
    dump["locations"][loc.location_id]["pipelines"].clear()
    assert sandbox.dump()["locations"][loc.location_id]["pipelines"]


def test_every_sandbox_mints_its_own_ids_unless_seeded() -> None:
    from dentrix_highlevel.sandbox import SandboxConfig

    first, second = Sandbox().create_location(), Sandbox().create_location()
    assert first.location_id != second.location_id
    assert first.token != second.token
    seeded = [Sandbox(SandboxConfig(seed=11)).create_location() for _ in range(2)]
    assert seeded[0] == seeded[1]  # a seed still makes a sandbox reproducible


def test_reset_reseeds_ids(sandbox: Sandbox) -> None:
    first = sandbox.create_location()
    sandbox.reset()
    again = sandbox.create_location()
    assert (again.location_id, again.token) == (first.location_id, first.token)
    assert sandbox.request_log == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "rebind.attacker.example:8765"},  # DNS rebinding: the page's own name, resolving to us
        {"Origin": "https://attacker.example"},  # a cross-site fetch or form post
        {"Origin": "null"},  # a sandboxed iframe or a file:// page
    ],
)
async def test_admin_routes_refuse_foreign_hosts_and_origins(
    sandbox: Sandbox, headers: dict[str, str]
) -> None:
    sandbox.create_location(location_id="KeptLocation00000001")
    async with make_client(sandbox) as client:
        for method, path in (("POST", "/_sandbox/reset"), ("GET", "/_sandbox/state")):
            answer = await client.request(method, path, headers=headers)
            assert answer.status_code == 403, (method, path)
            assert "contacts" not in answer.text
    assert "KeptLocation00000001" in sandbox.state.locations, "the refused reset wiped the sandbox"


def test_served_admin_routes_answer_loopback_and_refuse_rebinding() -> None:
    import httpx

    from dentrix_highlevel.sandbox import SandboxServer

    with SandboxServer() as server:
        assert httpx.get(f"{server.base_url}/_sandbox/state").status_code == 200
        port = server.base_url.rsplit(":", 1)[1]
        for host in (f"localhost:{port}", f"[::1]:{port}", f"127.0.0.1:{port}"):
            answer = httpx.get(f"{server.base_url}/_sandbox/state", headers={"Host": host})
            assert answer.status_code == 200, host
        rebound = httpx.post(f"{server.base_url}/_sandbox/reset", headers={"Host": f"evil.example:{port}"})
        assert rebound.status_code == 403
        cross_site = httpx.post(
            f"{server.base_url}/_sandbox/reset", headers={"Origin": "http://evil.example"}
        )
        assert cross_site.status_code == 403
        assert server.location is not None
        assert server.location.location_id in server.sandbox.state.locations
