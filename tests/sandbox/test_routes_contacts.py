"""Contacts: status codes, strict bodies, normalisation, duplicate rules and upsert matching."""

from __future__ import annotations

import httpx
import pytest

from dentrix_highlevel.sandbox import LocationInfo, Sandbox

from ._helpers import make_client, new_contact

pytestmark = pytest.mark.anyio


async def test_create_get_update_delete_status_codes(
    client: httpx.AsyncClient, location: LocationInfo
) -> None:
    contact = await new_contact(client, location, firstName="Ana", lastName="Lima", email="ANA@Example.COM")
    assert contact["email"] == "ana@example.com" == contact["emailLowerCase"]
    assert contact["name"] == "Ana Lima"
    assert contact["fullNameLowerCase"] == "ana lima"

    got = await client.get(f"/contacts/{contact['id']}")
    assert got.status_code == 200
    assert got.json()["contact"]["id"] == contact["id"]

    put = await client.put(
        f"/contacts/{contact['id']}", json={"city": "Denver", "tags": ["VIP", " vip ", "Recall"]}
    )
    assert put.status_code == 200
    body = put.json()
    assert body["succeded"] is True
    assert "succeeded" not in body
    assert body["contact"]["city"] == "Denver"
    assert body["contact"]["tags"] == ["vip", "recall"]

    deleted = await client.delete(f"/contacts/{contact['id']}")
    assert deleted.status_code == 200
    assert deleted.json()["succeded"] is True
    assert (await client.get(f"/contacts/{contact['id']}")).status_code == 404


async def test_phone_is_stored_as_e164(client: httpx.AsyncClient, location: LocationInfo) -> None:
    contact = await new_contact(client, location, phone="(303) 555-0142")
    assert contact["phone"] == "+13035550142"
    garbage = await new_contact(client, location, phone="856-555-0101 / 609-555-0102")
    assert garbage["phone"].startswith("+")
    assert garbage["phone"] != "+18565550101"


async def test_unknown_key_is_422_with_message_array(
    client: httpx.AsyncClient, location: LocationInfo
) -> None:
    response = await client.post(
        "/contacts/", json={"locationId": location.location_id, "additionalEmails": ["x@example.com"]}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["message"] == ["property additionalEmails should not exist"]
    assert body["error"] == "Unprocessable Entity"
    assert body["statusCode"] == 422
    assert isinstance(body["traceId"], str)
    assert body["traceId"]


async def test_put_rejects_create_only_keys(client: httpx.AsyncClient, location: LocationInfo) -> None:
    contact = await new_contact(client, location, email="g@example.com")
    response = await client.put(
        f"/contacts/{contact['id']}", json={"gender": "female", "locationId": location.location_id}
    )
    assert response.status_code == 422
    assert sorted(response.json()["message"]) == [
        "property gender should not exist",
        "property locationId should not exist",
    ]


async def test_missing_required_key_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/contacts/", json={"firstName": "NoLocation"})
    assert response.status_code == 422
    assert "locationId should not be empty" in response.json()["message"]


async def test_bad_email_is_422(client: httpx.AsyncClient, location: LocationInfo) -> None:
    response = await client.post(
        "/contacts/", json={"locationId": location.location_id, "email": "not-an-email"}
    )
    assert response.status_code == 422
    assert response.json()["message"] == ["email must be an email"]


async def test_duplicate_create_is_400_with_meta(client: httpx.AsyncClient, location: LocationInfo) -> None:
    first = await new_contact(client, location, email="dup@example.com", phone="+13035550100")
    by_phone = await client.post(
        "/contacts/", json={"locationId": location.location_id, "phone": "303-555-0100"}
    )
    assert by_phone.status_code == 400
    body = by_phone.json()
    assert body["message"] == "This location does not allow duplicated contacts."
    assert body["meta"]["contactId"] == first["id"]
    assert body["meta"]["matchingField"] == "phone"
    by_email = await client.post(
        "/contacts/", json={"locationId": location.location_id, "email": "DUP@example.com"}
    )
    assert by_email.json()["meta"]["matchingField"] == "email"


async def test_duplicates_allowed_location_creates_twice(sandbox: Sandbox) -> None:
    loc = sandbox.create_location(allow_duplicates=True)
    async with make_client(sandbox, loc.token) as client:
        a = await new_contact(client, loc, email="same@example.com")
        b = await new_contact(client, loc, email="same@example.com")
    assert a["id"] != b["id"]


async def test_upsert_new_then_update(client: httpx.AsyncClient, location: LocationInfo) -> None:
    body = {
        "locationId": location.location_id,
        "email": "up@example.com",
        "firstName": "Up",
        "gender": "female",
    }
    first = await client.post("/contacts/upsert", json=body)
    assert first.status_code == 200
    assert first.json()["new"] is True
    assert isinstance(first.json()["traceId"], str)
    again = await client.post("/contacts/upsert", json={**body, "firstName": "Upper", "gender": "male"})
    assert again.status_code == 200
    assert again.json()["new"] is False
    contact = again.json()["contact"]
    assert contact["id"] == first.json()["contact"]["id"]
    assert contact["firstName"] == "Upper"
    assert contact["gender"] == "female"  # discarded for an existing contact (issue #313)


async def test_upsert_email_beats_phone_and_drops_the_phone(
    client: httpx.AsyncClient, location: LocationInfo
) -> None:
    by_email = await new_contact(client, location, email="e@example.com")
    by_phone = await new_contact(client, location, phone="+13035550111")
    response = await client.post(
        "/contacts/upsert",
        json={"locationId": location.location_id, "email": "e@example.com", "phone": "+1 303 555 0111"},
    )
    contact = response.json()["contact"]
    assert response.json()["new"] is False
    assert contact["id"] == by_email["id"]
    assert "phone" not in contact  # the second field belonged to another contact: silently dropped
    assert by_phone["id"] != contact["id"]


async def test_upsert_phone_first_dedupe_order(sandbox: Sandbox) -> None:
    loc = sandbox.create_location(dedupe_order=("phone", "email"))
    async with make_client(sandbox, loc.token) as client:
        await new_contact(client, loc, email="p@example.com")
        by_phone = await new_contact(client, loc, phone="+13035550122")
        response = await client.post(
            "/contacts/upsert",
            json={"locationId": loc.location_id, "email": "p@example.com", "phone": "3035550122"},
        )
    assert response.json()["contact"]["id"] == by_phone["id"]


async def test_create_new_if_duplicate_allowed(sandbox: Sandbox) -> None:
    allowing = sandbox.create_location(allow_duplicates=True)
    refusing = sandbox.create_location(allow_duplicates=False)
    for loc, expect_new in ((allowing, True), (refusing, False)):
        async with make_client(sandbox, loc.token) as client:
            await new_contact(client, loc, email="flag@example.com")
            body = {
                "locationId": loc.location_id,
                "email": "flag@example.com",
                "createNewIfDuplicateAllowed": True,
            }
            response = await client.post("/contacts/upsert", json=body)
            assert response.json()["new"] is expect_new
            # Without the flag, even a duplicates-allowed location runs the normal upsert.
            plain = await client.post(
                "/contacts/upsert", json={"locationId": loc.location_id, "email": "flag@example.com"}
            )
            assert plain.json()["new"] is False


async def test_duplicate_lookup_matches_only_e164(
    client: httpx.AsyncClient, location: LocationInfo, sandbox: Sandbox
) -> None:
    contact = await new_contact(client, location, phone="303 555 0177", email="look@example.com")
    sandbox.settle_search_index()  # the index lags writes by seconds; these are pre-existing data
    found = await client.get(
        "/contacts/search/duplicate", params={"locationId": location.location_id, "number": "+13035550177"}
    )
    assert found.status_code == 200
    assert found.json()["contact"]["id"] == contact["id"]
    bare = await client.get(
        "/contacts/search/duplicate", params={"locationId": location.location_id, "number": "3035550177"}
    )
    assert bare.json()["contact"] is None
    by_email = await client.get(
        "/contacts/search/duplicate", params={"locationId": location.location_id, "email": "LOOK@example.com"}
    )
    assert by_email.json()["contact"]["id"] == contact["id"]
    neither = await client.get("/contacts/search/duplicate", params={"locationId": location.location_id})
    assert neither.status_code == 400


async def test_tags_add_remove_and_bulk(client: httpx.AsyncClient, location: LocationInfo) -> None:
    a = await new_contact(client, location, email="t1@example.com", tags=["one"])
    b = await new_contact(client, location, email="t2@example.com")
    added = await client.post(f"/contacts/{a['id']}/tags", json={"tags": ["Two", "one"]})
    assert added.status_code == 201
    assert added.json()["tags"] == ["one", "two"]
    removed = await client.request("DELETE", f"/contacts/{a['id']}/tags", json={"tags": ["ONE"]})
    assert removed.status_code == 200
    assert removed.json()["tags"] == ["two"]
    bulk = await client.post(
        "/contacts/bulk/tags/update/add",
        json={
            "locationId": location.location_id,
            "contacts": [a["id"], b["id"], "missing"],
            "tags": ["bulk"],
        },
    )
    assert bulk.status_code == 201
    assert bulk.json()["succeded"] is False
    assert bulk.json()["errorCount"] == 1
    assert (await client.get(f"/contacts/{b['id']}")).json()["contact"]["tags"] == ["bulk"]
    cleared = await client.post(
        "/contacts/bulk/tags/update/remove",
        json={"locationId": location.location_id, "contacts": [a["id"]], "tags": [], "removeAllTags": True},
    )
    assert cleared.json()["succeded"] is True
    assert (await client.get(f"/contacts/{a['id']}")).json()["contact"]["tags"] == []
    catalogue = await client.get(f"/locations/{location.location_id}/tags")
    assert {"one", "two", "bulk"} <= {t["name"] for t in catalogue.json()["tags"]}


async def test_custom_field_values_per_data_type(client: httpx.AsyncClient, location: LocationInfo) -> None:
    async def field(name: str, data_type: str, **extra: object) -> str:
        response = await client.post(
            f"/locations/{location.location_id}/customFields",
            json={"name": name, "dataType": data_type, **extra},
        )
        assert response.status_code == 201, response.text
        return str(response.json()["customField"]["id"])

    text = await field("Source System ID", "TEXT")
    number = await field("Visits", "NUMERICAL")
    when = await field("Last Visit", "DATE")
    many = await field("Allergies", "MULTIPLE_OPTIONS", options=["Latex", "Penicillin"])
    contact = await new_contact(
        client,
        location,
        email="cf@example.com",
        customFields=[
            {"id": text, "field_value": "PAT-1"},
            {"id": number, "field_value": 3},
            {"id": when, "field_value": "2024-02-29"},
            {"key": "allergies", "field_value": ["Latex"]},
            {"id": "unknownFieldId000000", "field_value": "ignored"},
        ],
    )
    values = {v["id"]: v["value"] for v in contact["customFields"]}
    assert values == {text: "PAT-1", number: 3, when: 1709164800000, many: ["Latex"]}
    # Merge by id: fields left out are kept; `value` is accepted as the key too.
    put = await client.put(f"/contacts/{contact['id']}", json={"customFields": [{"id": number, "value": 4}]})
    merged = {v["id"]: v["value"] for v in put.json()["contact"]["customFields"]}
    assert merged[number] == 4
    assert merged[text] == "PAT-1"
    for bad in ({"id": when, "field_value": "29/02/2024"}, {"id": many, "field_value": ["Gluten"]}):
        response = await client.put(f"/contacts/{contact['id']}", json={"customFields": [bad]})
        assert response.status_code == 400
        assert response.json()["message"] == "Invalid Custom Field Value"


async def test_date_of_birth_formats(client: httpx.AsyncClient, location: LocationInfo) -> None:
    contact = await new_contact(client, location, email="dob@example.com", dateOfBirth="09/25/1990")
    assert contact["dateOfBirth"] == "1990-09-25"
    assert (contact["birthMonth"], contact["birthDay"]) == (9, 25)
    bad = await client.post(
        "/contacts/", json={"locationId": location.location_id, "dateOfBirth": "25.09.90x"}
    )
    assert bad.status_code == 422


async def test_rejected_update_changes_nothing(client: httpx.AsyncClient, location: LocationInfo) -> None:
    created = await client.post(
        f"/locations/{location.location_id}/customFields", json={"name": "Visit Date", "dataType": "DATE"}
    )
    field_id = created.json()["customField"]["id"]
    contact = await new_contact(client, location, email="atomic@example.com", city="Boulder")
    response = await client.put(
        f"/contacts/{contact['id']}",
        json={
            "city": "Denver",
            "tags": ["new-tag"],
            "customFields": [{"id": field_id, "field_value": "31/12/2024"}],
        },
    )
    assert response.status_code == 400
    stored = (await client.get(f"/contacts/{contact['id']}")).json()["contact"]
    assert stored["city"] == "Boulder"
    assert stored["tags"] == []
    catalogue = (await client.get(f"/locations/{location.location_id}/tags")).json()["tags"]
    assert "new-tag" not in {t["name"] for t in catalogue}


async def test_duplicate_rule_follows_email_and_phone_changes(
    client: httpx.AsyncClient, location: LocationInfo
) -> None:
    a = await new_contact(client, location, email="old@example.com")
    await client.put(f"/contacts/{a['id']}", json={"email": "new@example.com"})
    # The old address is free again; the new one is taken.
    await new_contact(client, location, email="old@example.com")
    taken = await client.post(
        "/contacts/", json={"locationId": location.location_id, "email": "new@example.com"}
    )
    assert taken.status_code == 400
    await client.delete(f"/contacts/{a['id']}")
    await new_contact(client, location, email="new@example.com")
