"""Opportunities: create 201, upsert {opportunity,new}, status, delete, search meta; seeded pipelines."""

from __future__ import annotations

import httpx
import pytest

from dentrix_highlevel.sandbox import LocationInfo, Sandbox

from ._helpers import make_client, new_contact

pytestmark = pytest.mark.anyio


async def test_seeded_pipeline(client: httpx.AsyncClient, location: LocationInfo) -> None:
    response = await client.get("/opportunities/pipelines", params={"locationId": location.location_id})
    (pipeline,) = response.json()["pipelines"]
    assert pipeline["name"] == "Patient Lifecycle"
    assert [s["name"] for s in pipeline["stages"]] == ["New Patient", "Active", "Recall", "Inactive"]
    assert len(pipeline["stages"][0]["id"]) == 36  # stage ids are UUIDs


async def test_custom_pipelines(sandbox: Sandbox) -> None:
    loc = sandbox.create_location(pipelines=[("Ortho", ["Consult", "Treatment"])])
    async with make_client(sandbox, loc.token) as client:
        response = await client.get("/opportunities/pipelines", params={"locationId": loc.location_id})
    assert [p["name"] for p in response.json()["pipelines"]] == ["Ortho"]


async def test_opportunity_lifecycle(
    client: httpx.AsyncClient, location: LocationInfo, sandbox: Sandbox
) -> None:
    pipeline = (
        await client.get("/opportunities/pipelines", params={"locationId": location.location_id})
    ).json()["pipelines"][0]
    contact = await new_contact(client, location, email="opp@example.com")
    body = {
        "pipelineId": pipeline["id"],
        "locationId": location.location_id,
        "name": "Crown #14",
        "status": "open",
        "contactId": contact["id"],
        "monetaryValue": 1250.5,
    }
    without_contact = await client.post(
        "/opportunities/", json={k: v for k, v in body.items() if k != "contactId"}
    )
    assert without_contact.status_code == 422
    created = await client.post("/opportunities/", json=body)
    assert created.status_code == 201
    opp = created.json()["opportunity"]
    assert opp["pipelineStageId"] == pipeline["stages"][0]["id"]
    assert opp["contact"]["id"] == contact["id"]
    assert (
        await client.post("/opportunities/", json=body)
    ).status_code == 400  # duplicate per contact+pipeline

    upsert = {"pipelineId": pipeline["id"], "locationId": location.location_id, "contactId": contact["id"]}
    same = await client.post(
        "/opportunities/upsert", json={**upsert, "pipelineStageId": pipeline["stages"][1]["id"]}
    )
    assert same.status_code == 200
    assert same.json()["new"] is False
    assert same.json()["opportunity"]["id"] == opp["id"]
    other = await new_contact(client, location, email="opp2@example.com")
    fresh = await client.post(
        "/opportunities/upsert", json={**upsert, "contactId": other["id"], "name": "Implant"}
    )
    assert fresh.json()["new"] is True

    status = await client.put(f"/opportunities/{opp['id']}/status", json={"status": "won"})
    assert status.status_code == 200
    assert status.json()["succeded"] is True
    assert (await client.get(f"/opportunities/{opp['id']}")).json()["opportunity"]["status"] == "won"
    renamed = await client.put(f"/opportunities/{opp['id']}", json={"name": "Crown #15"})
    assert renamed.json()["opportunity"]["name"] == "Crown #15"

    sandbox.settle_search_index()  # the index lags writes by seconds; these are pre-existing data
    page1 = await client.get(
        "/opportunities/search", params={"location_id": location.location_id, "limit": 1}
    )
    meta = page1.json()["meta"]
    assert meta["total"] == 2
    assert meta["nextPage"] == 2
    assert meta["startAfterId"] == opp["id"]
    page2 = await client.get(
        "/opportunities/search",
        params={"location_id": location.location_id, "limit": 1, "startAfterId": meta["startAfterId"]},
    )
    assert [o["id"] for o in page2.json()["opportunities"]] == [fresh.json()["opportunity"]["id"]]
    assert (
        await client.get("/opportunities/search", params={"location_id": location.location_id, "limit": 101})
    ).status_code == 422
    assert (
        await client.get("/opportunities/search", params={"locationId": location.location_id})
    ).status_code == 422

    assert (await client.delete(f"/opportunities/{opp['id']}")).json()["succeded"] is True


async def test_post_search_pages_with_search_after(
    client: httpx.AsyncClient, location: LocationInfo, sandbox: Sandbox
) -> None:
    pipeline = (
        await client.get("/opportunities/pipelines", params={"locationId": location.location_id})
    ).json()["pipelines"][0]
    made = []
    for i in range(3):
        contact = await new_contact(client, location, email=f"ps{i}@example.com")
        body = {
            "pipelineId": pipeline["id"],
            "locationId": location.location_id,
            "name": f"Plan {i}",
            "status": "open",
            "contactId": contact["id"],
        }
        made.append((await client.post("/opportunities/", json=body)).json()["opportunity"]["id"])
    sandbox.settle_search_index()  # the index lags writes by seconds; these are pre-existing data
    seen: list[str] = []
    cursor = None
    while True:
        body2: dict[str, object] = {"locationId": location.location_id, "limit": 2}
        if cursor is not None:
            body2["searchAfter"] = cursor
        result = (await client.post("/opportunities/search", json=body2)).json()
        assert result["total"] == 3
        if not result["opportunities"]:
            break
        seen += [o["id"] for o in result["opportunities"]]
        cursor = result["opportunities"][-1]["searchAfter"]
    assert sorted(seen) == sorted(made)
    assert len(seen) == 3
