"""Associations and relations: strict bodies, status codes, uniqueness, paging and the state dump."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dentrix_highlevel.sandbox import LocationInfo, Sandbox

from ._helpers import new_contact

pytestmark = pytest.mark.anyio


def _association(location: LocationInfo, **extra: Any) -> dict[str, Any]:
    return {
        "locationId": location.location_id,
        "key": "family_member",
        "firstObjectKey": "contact",
        "firstObjectLabel": "Family member",
        "secondObjectKey": "contact",
        "secondObjectLabel": "Guarantor",
        **extra,
    }


async def test_association_create_find_get_delete(
    client: httpx.AsyncClient, location: LocationInfo, sandbox: Sandbox
) -> None:
    created = await client.post("/associations/", json=_association(location))
    assert created.status_code == 201, created.text
    association = created.json()
    assert association["key"] == "family_member"
    assert association["associationType"] == "USER_DEFINED"

    again = await client.post("/associations/", json=_association(location))
    assert again.status_code == 400  # keys are unique in a location

    lid = {"locationId": location.location_id}
    by_key = await client.get("/associations/key/family_member", params=lid)
    assert by_key.status_code == 200
    assert by_key.json()["id"] == association["id"]
    assert (await client.get("/associations/key/nope", params=lid)).status_code == 404
    listed = await client.get("/associations/", params={**lid, "skip": 0, "limit": 10})
    assert [a["id"] for a in listed.json()["associations"]] == [association["id"]]
    assert (await client.get(f"/associations/{association['id']}")).json()["key"] == "family_member"
    assert sandbox.dump()["locations"][location.location_id]["associations"][0]["id"] == association["id"]

    deleted = await client.delete(f"/associations/{association['id']}")
    assert deleted.status_code == 200
    assert deleted.json()["deleted"] is True
    assert (await client.get(f"/associations/{association['id']}")).status_code == 404


async def test_bodies_are_strict(client: httpx.AsyncClient, location: LocationInfo) -> None:
    unknown = await client.post("/associations/", json=_association(location, colour="red"))
    assert unknown.status_code == 422
    missing = _association(location)
    del missing["key"]
    assert (await client.post("/associations/", json=missing)).status_code == 422
    relation = await client.post(
        "/associations/relations",
        json={"locationId": location.location_id, "associationId": "x", "firstRecordId": "a"},
    )
    assert relation.status_code == 422


async def test_relations_create_list_delete(
    client: httpx.AsyncClient, location: LocationInfo, sandbox: Sandbox
) -> None:
    association = (await client.post("/associations/", json=_association(location))).json()
    child = await new_contact(client, location, firstName="Kid")
    parent = await new_contact(client, location, firstName="Parent")
    lid = location.location_id
    body = {
        "locationId": lid,
        "associationId": association["id"],
        "firstRecordId": child["id"],
        "secondRecordId": parent["id"],
    }
    made = await client.post("/associations/relations", json=body)
    assert made.status_code == 201, made.text
    relation = made.json()
    assert relation["firstRecordId"] == child["id"]

    swapped = {**body, "firstRecordId": parent["id"], "secondRecordId": child["id"]}
    assert (await client.post("/associations/relations", json=swapped)).status_code == 400
    ghost = {**body, "secondRecordId": "NoSuchContact"}
    assert (await client.post("/associations/relations", json=ghost)).status_code == 400

    page = {"locationId": lid, "skip": 0, "limit": 10}
    for record in (child["id"], parent["id"]):
        listed = (await client.get(f"/associations/relations/{record}", params=page)).json()
        assert [r["id"] for r in listed["relations"]] == [relation["id"]]
        assert listed["total"] == 1
    assert (
        await client.get(f"/associations/relations/{child['id']}", params={"locationId": lid})
    ).status_code == 422
    assert len(sandbox.location(lid).relations) == 1

    gone = await client.delete(f"/associations/relations/{relation['id']}", params={"locationId": lid})
    assert gone.status_code == 200
    assert sandbox.location(lid).relations == {}
    again = await client.delete(f"/associations/relations/{relation['id']}", params={"locationId": lid})
    assert again.status_code == 404


async def test_deleting_an_association_deletes_its_relations(
    client: httpx.AsyncClient, location: LocationInfo, sandbox: Sandbox
) -> None:
    association = (await client.post("/associations/", json=_association(location))).json()
    a = await new_contact(client, location, firstName="A")
    b = await new_contact(client, location, firstName="B")
    body = {
        "locationId": location.location_id,
        "associationId": association["id"],
        "firstRecordId": a["id"],
        "secondRecordId": b["id"],
    }
    assert (await client.post("/associations/relations", json=body)).status_code == 201
    await client.delete(f"/associations/{association['id']}")
    assert sandbox.location(location.location_id).relations == {}
