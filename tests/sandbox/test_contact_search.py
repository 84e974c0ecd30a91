"""POST /contacts/search (page window, searchAfter cursor, filters) and the legacy GET /contacts/ cursor."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dentrix_highlevel.sandbox import LocationInfo, Sandbox, SandboxConfig

from ._helpers import make_client, new_contact

pytestmark = pytest.mark.anyio


def _seed(sandbox: Sandbox, location: LocationInfo, count: int) -> list[str]:
    """Many contacts straight into the state (fast); the HTTP path is covered elsewhere."""
    loc = sandbox.location(location.location_id)
    ids = []
    for i in range(count):
        contact_id = f"c{i:019d}"
        stamp = f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}.{i // 3600:03d}Z"
        loc.contacts[contact_id] = {
            "id": contact_id,
            "locationId": location.location_id,
            "firstName": f"n{i}",
            "firstNameLowerCase": f"n{i}",
            "tags": ["even"] if i % 2 == 0 else [],
            "customFields": [],
            "dateAdded": stamp,
            "dateUpdated": stamp,
        }
        ids.append(contact_id)
    return ids


async def _search(client: httpx.AsyncClient, location: LocationInfo, **body: Any) -> httpx.Response:
    return await client.post("/contacts/search", json={"locationId": location.location_id, **body})


async def test_page_paging_and_total(
    sandbox: Sandbox, location: LocationInfo, client: httpx.AsyncClient
) -> None:
    ids = _seed(sandbox, location, 25)
    seen: list[str] = []
    for page in (1, 2, 3):
        response = await _search(client, location, pageLimit=10, page=page)
        assert response.status_code == 200
        assert response.json()["total"] == 25
        seen += [c["id"] for c in response.json()["contacts"]]
    assert seen == ids


async def test_page_limit_and_window_limits(client: httpx.AsyncClient, location: LocationInfo) -> None:
    assert (await _search(client, location, pageLimit=501)).status_code == 422
    assert (await _search(client, location, pageLimit=500, page=20)).status_code == 200  # exactly 10,000
    beyond = await _search(client, location, pageLimit=500, page=21)
    assert beyond.status_code == 400
    missing = await client.post("/contacts/search", json={"locationId": location.location_id})
    assert missing.status_code == 422
    assert "pageLimit should not be empty" in missing.json()["message"]


async def test_search_after_cursor_walks_everything(
    sandbox: Sandbox, location: LocationInfo, client: httpx.AsyncClient
) -> None:
    ids = _seed(sandbox, location, 23)
    seen: list[str] = []
    cursor: list[Any] | None = None
    while True:
        body: dict[str, Any] = {"pageLimit": 5}
        if cursor is not None:
            body["searchAfter"] = cursor
        rows = (await _search(client, location, **body)).json()["contacts"]
        if not rows:
            break
        seen += [r["id"] for r in rows]
        cursor = rows[-1]["searchAfter"]
        assert isinstance(cursor[0], int)
        assert cursor[1] == rows[-1]["id"]
    assert seen == ids
    both = await _search(client, location, pageLimit=5, page=2, searchAfter=cursor)
    assert both.status_code == 422


async def test_filters_and_invalid_field(
    sandbox: Sandbox, location: LocationInfo, client: httpx.AsyncClient
) -> None:
    _seed(sandbox, location, 10)
    even = await _search(
        client, location, pageLimit=50, filters=[{"field": "tags", "operator": "eq", "value": "even"}]
    )
    assert even.json()["total"] == 5
    group = await _search(
        client,
        location,
        pageLimit=50,
        filters=[
            {
                "group": "OR",
                "filters": [
                    {"field": "firstNameLowerCase", "operator": "eq", "value": "n1"},
                    {"field": "firstNameLowerCase", "operator": "eq", "value": "n2"},
                ],
            }
        ],
        sort=[{"field": "firstNameLowerCase", "direction": "desc"}],
    )
    assert [c["firstName"] for c in group.json()["contacts"]] == ["n2", "n1"]
    invalid = await _search(
        client, location, pageLimit=5, filters=[{"field": "contact_name", "operator": "eq", "value": "x"}]
    )
    assert invalid.status_code == 400
    assert invalid.json()["message"] == "Invalid field contact_name"


async def test_custom_field_filter(
    client: httpx.AsyncClient, location: LocationInfo, sandbox: Sandbox
) -> None:
    created = await client.post(
        f"/locations/{location.location_id}/customFields", json={"name": "Source Id", "dataType": "TEXT"}
    )
    field_id = created.json()["customField"]["id"]
    contact = await new_contact(
        client, location, email="s@example.com", customFields=[{"id": field_id, "field_value": "P-9"}]
    )
    await new_contact(client, location, email="t@example.com")
    sandbox.settle_search_index()  # the index lags writes by seconds; these are pre-existing data
    found = await _search(
        client,
        location,
        pageLimit=10,
        filters=[{"field": f"customFields.{field_id}", "operator": "eq", "value": "P-9"}],
    )
    assert [c["id"] for c in found.json()["contacts"]] == [contact["id"]]


async def test_search_index_lag() -> None:
    now = [100.0]
    sandbox = Sandbox(SandboxConfig(clock=lambda: now[0], search_index_lag_ms=2000))
    loc = sandbox.create_location()
    async with make_client(sandbox, loc.token) as client:
        contact = await new_contact(client, loc, email="lag@example.com")
        assert (await _search(client, loc, pageLimit=5)).json()["total"] == 0
        assert (await client.get(f"/contacts/{contact['id']}")).status_code == 200  # GET by id is immediate
        now[0] += 2.0
        assert (await _search(client, loc, pageLimit=5)).json()["total"] == 1


async def test_legacy_list_start_after_cursor(
    sandbox: Sandbox, location: LocationInfo, client: httpx.AsyncClient
) -> None:
    ids = _seed(sandbox, location, 12)
    seen: list[str] = []
    params: dict[str, Any] = {"locationId": location.location_id, "limit": 5}
    while True:
        body = (await client.get("/contacts/", params=params)).json()
        seen += [c["id"] for c in body["contacts"]]
        meta = body["meta"]
        assert meta["total"] == 12
        assert body["count"] == 12
        if meta["startAfterId"] is None:
            break
        assert isinstance(meta["startAfter"], int)
        assert meta["nextPageUrl"].startswith("https://")
        params = {**params, "startAfterId": meta["startAfterId"], "startAfter": meta["startAfter"]}
    assert seen == ids
    too_many = await client.get("/contacts/", params={"locationId": location.location_id, "limit": 101})
    assert too_many.status_code == 422
