"""/locations/{id}: settings, tag catalogue, custom fields (fieldKey, dataType, picklists), custom values."""

from __future__ import annotations

import httpx
import pytest

from dentrix_highlevel.sandbox import LocationInfo, Sandbox

from ._helpers import make_client

pytestmark = pytest.mark.anyio


async def test_location_settings(sandbox: Sandbox) -> None:
    loc = sandbox.create_location(
        allow_duplicates=True, timezone="America/Chicago", company_id="Company0000000000001"
    )
    async with make_client(sandbox, loc.token) as client:
        response = await client.get(f"/locations/{loc.location_id}")
    location = response.json()["location"]
    assert response.status_code == 200
    assert location["settings"]["allowDuplicateContact"] is True
    assert location["companyId"] == "Company0000000000001"
    assert location["timezone"] == "America/Chicago"


async def test_custom_fields_crud(client: httpx.AsyncClient, location: LocationInfo) -> None:
    base = f"/locations/{location.location_id}/customFields"
    created = await client.post(
        base, json={"name": "Insurance Carrier", "dataType": "SINGLE_OPTIONS", "options": ["A", "B"]}
    )
    assert created.status_code == 201
    field = created.json()["customField"]
    assert field["fieldKey"] == "contact.insurance_carrier"
    assert field["picklistOptions"] == ["A", "B"]
    keyed = await client.post(
        base, json={"name": "Chart", "dataType": "TEXT", "fieldKey": "contact.chart_no"}
    )
    assert keyed.json()["customField"]["fieldKey"] == "contact.chart_no"
    opp = await client.post(base, json={"name": "Plan Value", "dataType": "MONETORY", "model": "opportunity"})
    assert opp.json()["customField"]["fieldKey"] == "opportunity.plan_value"
    assert len((await client.get(base, params={"model": "contact"})).json()["customFields"]) == 2
    assert len((await client.get(base)).json()["customFields"]) == 3
    by_key = await client.get(f"{base}/contact.insurance_carrier")
    assert by_key.status_code == 200
    assert by_key.json()["customField"]["id"] == field["id"]
    bad_type = await client.post(base, json={"name": "X", "dataType": "STRING"})
    assert bad_type.status_code == 422
    assert bad_type.json()["message"][0].startswith("dataType must be one of")
    no_options = await client.post(base, json={"name": "Y", "dataType": "RADIO"})
    assert no_options.status_code == 422
    dup = await client.post(base, json={"name": "Insurance Carrier", "dataType": "TEXT"})
    assert dup.status_code == 400
    no_name = await client.put(f"{base}/{field['id']}", json={"placeholder": "p"})
    assert no_name.status_code == 422
    renamed = await client.put(f"{base}/{field['id']}", json={"name": "Carrier", "options": ["A", "B", "C"]})
    assert renamed.json()["customField"]["picklistOptions"] == ["A", "B", "C"]
    deleted = await client.delete(f"{base}/{field['id']}")
    assert deleted.status_code == 200
    assert deleted.json()["succeded"] is True
    assert (await client.get(f"{base}/{field['id']}")).status_code == 404


async def test_custom_values_crud(client: httpx.AsyncClient, location: LocationInfo) -> None:
    base = f"/locations/{location.location_id}/customValues"
    created = await client.post(base, json={"name": "Office Phone", "value": "+13035550100"})
    assert created.status_code == 201
    value = created.json()["customValue"]
    assert value["fieldKey"] == "{{ custom_values.office_phone }}"
    assert (await client.post(base, json={"name": "x"})).status_code == 422
    assert [v["id"] for v in (await client.get(base)).json()["customValues"]] == [value["id"]]
    updated = await client.put(
        f"{base}/{value['id']}", json={"name": "Office Phone", "value": "+13035550101"}
    )
    assert updated.json()["customValue"]["value"] == "+13035550101"
    assert (await client.get(f"{base}/{value['id']}")).json()["customValue"]["value"] == "+13035550101"
    assert (await client.delete(f"{base}/{value['id']}")).json()["succeded"] is True


async def test_location_tags_crud(client: httpx.AsyncClient, location: LocationInfo) -> None:
    base = f"/locations/{location.location_id}/tags"
    created = await client.post(base, json={"name": "Recall Due"})
    assert created.status_code == 200  # the spec declares 200 for this create
    tag = created.json()["tag"]
    assert tag["name"] == "recall due"
    assert (await client.post(base, json={"name": "recall due"})).status_code == 400
    assert (await client.put(f"{base}/{tag['id']}", json={"name": "Recall"})).json()["tag"][
        "name"
    ] == "recall"
    assert (await client.get(f"{base}/{tag['id']}")).json()["tag"]["name"] == "recall"
    assert (await client.delete(f"{base}/{tag['id']}")).json()["succeded"] is True
    assert (await client.get(base)).json()["tags"] == []
