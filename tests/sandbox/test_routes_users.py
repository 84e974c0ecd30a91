"""Users: create (201, flat), search by company, get, update, delete (queued message)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dentrix_highlevel.sandbox import LocationInfo

pytestmark = pytest.mark.anyio


def _user_body(location: LocationInfo, **extra: Any) -> dict[str, Any]:
    return {
        "companyId": location.company_id,
        "firstName": "Dana",
        "lastName": "Hygienist",
        "email": "Dana@Practice.example",
        "password": "s3cret-Passw0rd",
        "type": "account",
        "role": "user",
        "locationIds": [location.location_id],
        **extra,
    }


async def test_users_crud(client: httpx.AsyncClient, location: LocationInfo) -> None:
    created = await client.post("/users/", json=_user_body(location))
    assert created.status_code == 201
    user = created.json()
    assert user["email"] == "dana@practice.example"
    assert "password" not in user
    assert user["roles"]["locationIds"] == [location.location_id]
    assert (await client.post("/users/", json=_user_body(location))).status_code == 400
    missing = await client.post("/users/", json={"firstName": "x"})
    assert missing.status_code == 422
    assert "companyId should not be empty" in missing.json()["message"]
    found = await client.get("/users/search", params={"companyId": location.company_id, "query": "dana"})
    assert found.json()["count"] == 1
    assert found.json()["users"][0]["id"] == user["id"]
    assert (
        await client.get("/users/search", params={"companyId": "OtherCompany00000000"})
    ).status_code == 403
    assert (await client.get(f"/users/{user['id']}")).json()["name"] == "Dana Hygienist"
    updated = await client.put(f"/users/{user['id']}", json={"lastName": "Lead", "role": "admin"})
    assert updated.json()["name"] == "Dana Lead"
    assert updated.json()["roles"]["role"] == "admin"
    deleted = await client.delete(f"/users/{user['id']}")
    assert deleted.status_code == 200
    assert deleted.json()["succeded"] is True
    assert deleted.json()["message"].startswith("Queued deleting user")
    assert (await client.get(f"/users/{user['id']}")).status_code == 404
