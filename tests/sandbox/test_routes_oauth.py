"""OAuth: authorization_code and refresh_token grants with rotation, expiry, agency -> location tokens."""

from __future__ import annotations

import pytest

from dentrix_highlevel.sandbox import Sandbox, SandboxConfig

from ._helpers import auth, make_client

pytestmark = pytest.mark.anyio


async def test_code_refresh_rotation_and_expiry() -> None:
    now = [0.0]
    sandbox = Sandbox(SandboxConfig(clock=lambda: now[0]))
    loc = sandbox.create_location()
    sandbox.register_oauth_app(client_id="app-1", client_secret="secret-1")
    code = sandbox.authorization_code(client_id="app-1", location_id=loc.location_id)
    form = {"client_id": "app-1", "client_secret": "secret-1", "user_type": "Location"}
    async with make_client(sandbox) as client:
        granted = await client.post(
            "/oauth/token", data={**form, "grant_type": "authorization_code", "code": code}
        )
        assert granted.status_code == 200
        tokens = granted.json()
        assert tokens["expires_in"] == 86399
        assert tokens["token_type"] == "Bearer"
        assert tokens["locationId"] == loc.location_id
        assert tokens["userType"] == "Location"
        reused = await client.post(
            "/oauth/token", data={**form, "grant_type": "authorization_code", "code": code}
        )
        assert reused.status_code == 400

        path = f"/locations/{loc.location_id}"
        assert (await client.get(path, headers=auth(tokens["access_token"]))).status_code == 200
        now[0] += 86399
        expired = await client.get(path, headers=auth(tokens["access_token"]))
        assert expired.status_code == 401

        refreshed = await client.post(
            "/oauth/token",
            data={**form, "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        )
        assert refreshed.status_code == 200
        rotated = refreshed.json()
        assert rotated["refresh_token"] != tokens["refresh_token"]
        assert (await client.get(path, headers=auth(rotated["access_token"]))).status_code == 200
        stale = await client.post(
            "/oauth/token",
            data={**form, "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        )
        assert stale.status_code == 400
        assert stale.json()["message"] == "Invalid grant: refresh token is invalid"
        wrong_secret = await client.post(
            "/oauth/token",
            data={**form, "client_secret": "nope", "grant_type": "refresh_token", "refresh_token": "x"},
        )
        assert wrong_secret.status_code == 401
        missing = await client.post("/oauth/token", data={"client_id": "app-1"})
        assert missing.status_code == 422


async def test_agency_token_exchanges_for_location_token(sandbox: Sandbox) -> None:
    loc = sandbox.create_location(company_id="Company0000000000001")
    sandbox.register_oauth_app(client_id="agency-app", client_secret="s")
    code = sandbox.authorization_code(client_id="agency-app", company_id="Company0000000000001")
    async with make_client(sandbox) as client:
        agency = (
            await client.post(
                "/oauth/token",
                data={
                    "client_id": "agency-app",
                    "client_secret": "s",
                    "grant_type": "authorization_code",
                    "code": code,
                },
            )
        ).json()
        assert agency["userType"] == "Company"
        assert "locationId" not in agency
        exchanged = await client.post(
            "/oauth/locationToken",
            data={"companyId": "Company0000000000001", "locationId": loc.location_id},
            headers=auth(agency["access_token"]),
        )
        assert exchanged.status_code == 200
        body = exchanged.json()
        assert body["locationId"] == loc.location_id
        assert "refresh_token" not in body
        ok = await client.get(f"/locations/{loc.location_id}", headers=auth(body["access_token"]))
        assert ok.status_code == 200


async def test_one_agency_mints_for_each_of_its_locations_and_no_other(sandbox: Sandbox) -> None:
    company = "Company0000000000007"
    offices = [sandbox.create_location(company_id=company, name=f"Office {i}") for i in range(3)]
    foreign = sandbox.create_location(company_id="Company0000000000008")
    sandbox.register_oauth_app(client_id="agency-app", client_secret="s")
    code = sandbox.authorization_code(client_id="agency-app", company_id=company)
    form = {"client_id": "agency-app", "client_secret": "s"}
    async with make_client(sandbox) as client:
        agency = (
            await client.post("/oauth/token", data={**form, "grant_type": "authorization_code", "code": code})
        ).json()
        minted = {}
        for loc in offices:
            answer = await client.post(
                "/oauth/locationToken",
                data={"companyId": company, "locationId": loc.location_id},
                headers=auth(agency["access_token"]),
            )
            assert answer.status_code == 200
            minted[loc.location_id] = answer.json()["access_token"]
        assert len(set(minted.values())) == 3
        for location_id, token in minted.items():
            own = await client.get(f"/locations/{location_id}", headers=auth(token))
            assert own.status_code == 200
            other = next(lid for lid in minted if lid != location_id)
            assert (await client.get(f"/locations/{other}", headers=auth(token))).status_code in (401, 403)
        refused = await client.post(
            "/oauth/locationToken",
            data={"companyId": company, "locationId": foreign.location_id},
            headers=auth(agency["access_token"]),
        )
        assert refused.status_code == 400
        # A minted token that expires is minted again; the agency token, once expired, refreshes.
        sandbox.expire_token(agency["access_token"])
        expired = await client.post(
            "/oauth/locationToken",
            data={"companyId": company, "locationId": offices[0].location_id},
            headers=auth(agency["access_token"]),
        )
        assert expired.status_code == 401
        renewed = (
            await client.post(
                "/oauth/token",
                data={**form, "grant_type": "refresh_token", "refresh_token": agency["refresh_token"]},
            )
        ).json()
        again = await client.post(
            "/oauth/locationToken",
            data={"companyId": company, "locationId": offices[0].location_id},
            headers=auth(renewed["access_token"]),
        )
        assert again.status_code == 200


async def test_expire_token_seam(sandbox: Sandbox) -> None:
    loc = sandbox.create_location()
    sandbox.expire_token(loc.token)
    async with make_client(sandbox, loc.token) as client:
        assert (await client.get(f"/locations/{loc.location_id}")).status_code == 401


async def test_refreshed_tokens_share_the_apps_budget() -> None:
    now = [0.0]
    sandbox = Sandbox(SandboxConfig(clock=lambda: now[0], rate_max=3))
    loc = sandbox.create_location()
    sandbox.register_oauth_app(client_id="app", client_secret="s")
    code = sandbox.authorization_code(client_id="app", location_id=loc.location_id)
    form = {"client_id": "app", "client_secret": "s"}
    async with make_client(sandbox) as client:
        first = (
            await client.post("/oauth/token", data={**form, "grant_type": "authorization_code", "code": code})
        ).json()
        path = f"/locations/{loc.location_id}"
        for _ in range(2):
            assert (await client.get(path, headers=auth(first["access_token"]))).status_code == 200
        refresh = {**form, "grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
        second = (await client.post("/oauth/token", data=refresh)).json()
        statuses = [
            (await client.get(path, headers=auth(second["access_token"]))).status_code for _ in range(2)
        ]
        assert statuses == [200, 429]
        assert (await client.get(path, headers=auth(loc.token))).status_code == 200  # the PIT has its own
