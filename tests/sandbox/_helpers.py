"""Helpers for the sandbox behaviour tests: an httpx client that talks to the sandbox in-process."""

from __future__ import annotations

from typing import Any

import httpx

from dentrix_highlevel.sandbox import LocationInfo, Sandbox

BASE_URL = "https://services.leadconnectorhq.com"
V_DEFAULT = "2021-07-28"
V_CALENDARS = "2021-04-15"


def auth(token: str, version: str = V_DEFAULT) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Version": version}


def make_client(sandbox: Sandbox, token: str | None = None) -> httpx.AsyncClient:
    headers = auth(token) if token else {}
    return httpx.AsyncClient(base_url=BASE_URL, transport=sandbox.transport(), headers=headers)


async def new_contact(client: httpx.AsyncClient, location: LocationInfo, **fields: Any) -> dict[str, Any]:
    response = await client.post("/contacts/", json={"locationId": location.location_id, **fields})
    assert response.status_code == 201, response.text
    contact: dict[str, Any] = response.json()["contact"]
    return contact
