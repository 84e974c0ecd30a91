"""HighLevel's refusals the sandbox enforces by default (``Strictness``), each through HTTP, and the switch
that turns it off. Each of these requests was accepted by the sandbox before it was made strict."""

from __future__ import annotations

import re
from typing import Any

import attrs
import httpx
import pytest

from dentrix_highlevel.sandbox import LocationInfo, Sandbox, SandboxConfig, Strictness
from dentrix_highlevel.sandbox._app import ALL_ROUTES
from dentrix_highlevel.sandbox._http import ApiRoute
from dentrix_highlevel.sandbox._state import ALL_SCOPES

from ._helpers import V_CALENDARS, auth, make_client, new_contact

pytestmark = pytest.mark.anyio

NO_SCOPE = {
    "statusCode": 401,
    "message": "The token is not authorized for this scope.",
    "error": "Unauthorized",
}


def _without_trace(body: Any) -> Any:
    return {k: v for k, v in body.items() if k != "traceId"}


def test_strictness_defaults_on_and_lenient_turns_everything_off() -> None:
    default = Strictness()
    names = [a.name for a in attrs.fields(Strictness)]
    assert all(getattr(default, n) for n in names)
    assert not any(getattr(Strictness.lenient(), n) for n in names)
    assert SandboxConfig().strict == default


# ---- undeclared query parameters and body properties -------------------------------------------------


async def test_undeclared_query_parameter_is_422(client: httpx.AsyncClient, location: LocationInfo) -> None:
    contact = await new_contact(client, location, email="q@example.com")
    response = await client.get(f"/contacts/{contact['id']}", params={"include": "everything"})
    assert response.status_code == 422
    assert _without_trace(response.json()) == {
        "statusCode": 422,
        "message": ["property include should not exist"],
        "error": "Unprocessable Entity",
    }
    pipelines = await client.get(
        "/opportunities/pipelines", params={"locationId": location.location_id, "limit": 5}
    )
    assert pipelines.status_code == 422
    assert pipelines.json()["message"] == ["property limit should not exist"]


async def test_declared_query_parameters_are_accepted_even_when_not_emulated(
    client: httpx.AsyncClient, location: LocationInfo
) -> None:
    calendars = await client.get(
        "/calendars/",
        params={"locationId": location.location_id, "showDrafted": "true"},
        headers=auth(location.token, V_CALENDARS),
    )
    assert calendars.status_code == 200
    users = await client.get(
        "/users/search",
        params={"companyId": location.company_id, "sort": "dateAdded", "sortDirection": "asc"},
    )
    assert users.status_code == 200


async def test_undeclared_body_properties_are_422(client: httpx.AsyncClient, location: LocationInfo) -> None:
    lid = location.location_id
    created = await client.post(
        f"/locations/{lid}/customFields", json={"name": "Chart", "dataType": "TEXT", "parentId": "folder1"}
    )
    assert created.status_code == 201  # undocumented but known to work (issue #300)
    field_id = created.json()["customField"]["id"]
    # parentId is a create-only undocumented property: the update DTO has none.
    updated = await client.put(
        f"/locations/{lid}/customFields/{field_id}", json={"name": "Chart", "parentId": "folder2"}
    )
    assert updated.status_code == 422
    assert updated.json()["message"] == ["property parentId should not exist"]
    calendar = await client.post(
        "/calendars/", json={"locationId": lid, "name": "Hygiene"}, headers=auth(location.token, V_CALENDARS)
    )
    buffer = await client.put(
        f"/calendars/{calendar.json()['calendar']['id']}",
        json={"slotBuffer": 10, "slotBufferUnit": "mins"},
        headers=auth(location.token, V_CALENDARS),
    )
    assert buffer.status_code == 422  # CalendarUpdateDTO has slotBuffer but no slotBufferUnit
    assert buffer.json()["message"] == ["property slotBufferUnit should not exist"]
    contact = await new_contact(client, location, email="opp@example.com")
    pipelines = await client.get("/opportunities/pipelines", params={"locationId": lid})
    pipeline = pipelines.json()["pipelines"][0]
    upsert = await client.post(
        "/opportunities/upsert",
        json={
            "locationId": lid,
            "pipelineId": pipeline["id"],
            "contactId": contact["id"],
            "name": "Crown",
            "customFields": [],
        },
    )
    assert upsert.status_code == 422  # neither UpsertOpportunityDto revision has customFields
    assert upsert.json()["message"] == ["property customFields should not exist"]


async def test_lenient_switches_accept_and_drop_undeclared_names() -> None:
    sandbox = Sandbox(SandboxConfig(strict=Strictness(query_params=False, body_properties=False)))
    loc = sandbox.create_location()
    async with make_client(sandbox, loc.token) as client:
        contact = await new_contact(client, loc, email="lenient@example.com", nickname="Al")
        assert "nickname" not in contact  # dropped, never stored
        read = await client.get(f"/contacts/{contact['id']}", params={"include": "everything"})
        assert read.status_code == 200


# ---- scopes: 401 before any validation -----------------------------------------------------------------


def _url(route: ApiRoute, location: LocationInfo) -> str:
    path = route.path.replace("{locationId}", location.location_id)
    return re.sub(r"\{[^}]+\}", "nonexistent000000001", path)


async def _probe(
    sandbox: Sandbox, route: ApiRoute, location: LocationInfo, *, body: bool, query: bool
) -> httpx.Response:
    headers = auth(location.token, route.version or "2021-07-28")
    kwargs: dict[str, Any] = {"headers": headers}
    if query:
        kwargs["params"] = {"bogusParam": "1"}
    if body:
        if route.form:
            kwargs["data"] = {"bogusProperty": "1"}
        else:
            kwargs["json"] = {"bogusProperty": 1}
    async with make_client(sandbox) as client:
        return await client.request(route.method, _url(route, location), **kwargs)


SCOPED = [r for r in ALL_ROUTES if r.scope is not None]


@pytest.mark.parametrize("route", SCOPED, ids=lambda r: f"{r.method} {r.path}")
async def test_missing_scope_is_401_before_validation_and_granted_scope_reaches_it(route: ApiRoute) -> None:
    sandbox = Sandbox()
    denied = sandbox.create_location(scopes=[s for s in ALL_SCOPES if s != route.scope])
    granted = sandbox.create_location()
    for with_body, with_query in ((route.body is not None, False), (False, True)):
        if not (with_body or with_query):
            continue
        refused = await _probe(sandbox, route, denied, body=with_body, query=with_query)
        assert refused.status_code == 401, refused.text
        assert _without_trace(refused.json()) == NO_SCOPE
        invalid = await _probe(sandbox, route, granted, body=with_body, query=with_query)
        assert invalid.status_code == 422, invalid.text
        assert invalid.json()["error"] == "Unprocessable Entity"


async def test_oauth_tokens_carry_their_apps_scopes(sandbox: Sandbox, location: LocationInfo) -> None:
    sandbox.register_oauth_app(client_id="narrow", client_secret="s", scopes=["contacts.readonly"])
    code = sandbox.authorization_code(client_id="narrow", location_id=location.location_id)
    async with make_client(sandbox) as client:
        form = {"client_id": "narrow", "client_secret": "s", "grant_type": "authorization_code", "code": code}
        tokens = (await client.post("/oauth/token", data=form)).json()
        assert tokens["scope"] == "contacts.readonly"
        headers = auth(tokens["access_token"])
        write = await client.post("/contacts/", json={"locationId": location.location_id}, headers=headers)
        assert write.status_code == 401
        assert _without_trace(write.json()) == NO_SCOPE
        read = await client.get("/contacts/", params={"locationId": location.location_id}, headers=headers)
        assert read.status_code == 200


async def test_admin_locations_take_scopes(sandbox: Sandbox) -> None:
    async with make_client(sandbox) as client:
        created = (await client.post("/_sandbox/locations", json={"scopes": ["contacts.readonly"]})).json()
        denied = await client.get(f"/locations/{created['locationId']}", headers=auth(created["token"]))
        assert denied.status_code == 401
        assert _without_trace(denied.json()) == NO_SCOPE


# ---- custom field values fit their dataType; one clear rule per type -----------------------------------


async def _fields(client: httpx.AsyncClient, location: LocationInfo, **types: str) -> dict[str, str]:
    ids = {}
    for name, data_type in types.items():
        picklist = "OPTIONS" in data_type or data_type in ("CHECKBOX", "RADIO")
        extra = {"options": ["Latex", "Penicillin"]} if picklist else {}
        response = await client.post(
            f"/locations/{location.location_id}/customFields",
            json={"name": name, "dataType": data_type, **extra},
        )
        assert response.status_code == 201, response.text
        ids[name] = response.json()["customField"]["id"]
    return ids


def _values(contact: dict[str, Any]) -> dict[str, Any]:
    return {v["id"]: v["value"] for v in contact.get("customFields", [])}


async def test_custom_field_values_must_fit_their_data_type(
    client: httpx.AsyncClient, location: LocationInfo
) -> None:
    f = await _fields(
        client,
        location,
        text="TEXT",
        visits="NUMERICAL",
        balance="MONETORY",
        seen="DATE",
        allergy="MULTIPLE_OPTIONS",
        plan="SINGLE_OPTIONS",
    )
    contact = await new_contact(client, location, email="types@example.com")
    wrong_type = [
        (f["visits"], "12"),
        (f["visits"], ""),
        (f["balance"], "1250.50"),
        (f["seen"], ""),
        (f["seen"], 1709164800000),
        (f["text"], 5),
        (f["allergy"], "Latex"),
        (f["plan"], ["Latex"]),
    ]
    for field_id, value in wrong_type:
        response = await client.put(
            f"/contacts/{contact['id']}", json={"customFields": [{"id": field_id, "field_value": value}]}
        )
        assert response.status_code == 422, (value, response.text)
        assert _without_trace(response.json()) == {
            "statusCode": 422,
            "message": ["Invalid Custom Field Value"],
            "error": "Unprocessable Entity",
        }
    for field_id, value in ((f["seen"], "29/02/2024"), (f["allergy"], ["Gluten"]), (f["plan"], "Gluten")):
        response = await client.put(
            f"/contacts/{contact['id']}", json={"customFields": [{"id": field_id, "field_value": value}]}
        )
        assert response.status_code == 400, (value, response.text)
        assert response.json()["message"] == "Invalid Custom Field Value"


async def test_each_data_type_clears_one_way(client: httpx.AsyncClient, location: LocationInfo) -> None:
    f = await _fields(
        client, location, text="TEXT", visits="NUMERICAL", seen="DATE", allergy="CHECKBOX", plan="RADIO"
    )
    full = [
        {"id": f["text"], "field_value": "PAT-1"},
        {"id": f["visits"], "field_value": 3},
        {"id": f["seen"], "field_value": "2024-02-29"},
        {"id": f["allergy"], "field_value": ["Latex"]},
        {"id": f["plan"], "field_value": "Penicillin"},
    ]
    contact = await new_contact(client, location, email="clear@example.com", customFields=full)
    assert len(_values(contact)) == 5
    clears = [
        {"id": f["text"], "field_value": ""},
        {"id": f["visits"], "field_value": None},
        {"id": f["seen"], "field_value": None},
        {"id": f["allergy"], "field_value": []},
        {"id": f["plan"], "field_value": ""},
    ]
    cleared = await client.put(f"/contacts/{contact['id']}", json={"customFields": clears})
    assert cleared.status_code == 200, cleared.text
    read = (await client.get(f"/contacts/{contact['id']}")).json()["contact"]
    assert _values(read) == {}  # a cleared field no longer reads back
    again = await client.put(f"/contacts/{contact['id']}", json={"customFields": full})
    assert len(_values(again.json()["contact"])) == 5
    nulls = [{"id": item["id"], "field_value": None} for item in full]  # null clears any type
    assert (
        _values(
            (await client.put(f"/contacts/{contact['id']}", json={"customFields": nulls})).json()["contact"]
        )
        == {}
    )


async def test_opportunity_custom_fields_fit_their_type_and_keys(
    client: httpx.AsyncClient, location: LocationInfo
) -> None:
    lid = location.location_id
    response = await client.post(
        f"/locations/{lid}/customFields", json={"name": "Fee", "dataType": "MONETORY", "model": "opportunity"}
    )
    fee = response.json()["customField"]["id"]
    contact = await new_contact(client, location, email="oppcf@example.com")
    pipelines = await client.get("/opportunities/pipelines", params={"locationId": lid})
    body = {
        "locationId": lid,
        "pipelineId": pipelines.json()["pipelines"][0]["id"],
        "contactId": contact["id"],
        "name": "Crown",
        "status": "open",
    }
    as_string = await client.post(
        "/opportunities/", json={**body, "customFields": [{"id": fee, "field_value": "90"}]}
    )
    assert as_string.status_code == 422
    other_key = await client.post(
        "/opportunities/", json={**body, "customFields": [{"id": fee, "value": 90}]}
    )
    assert other_key.status_code == 422  # `value` is an undocumented key of contacts only
    assert other_key.json()["message"] == ["property customFields.0.value should not exist"]
    ok = await client.post("/opportunities/", json={**body, "customFields": [{"id": fee, "field_value": 90}]})
    assert ok.status_code == 201, ok.text


async def test_lenient_custom_field_types_coerce_as_before() -> None:
    sandbox = Sandbox(SandboxConfig(strict=Strictness(custom_field_types=False)))
    loc = sandbox.create_location()
    async with make_client(sandbox, loc.token) as client:
        f = await _fields(client, loc, visits="NUMERICAL")
        contact = await new_contact(
            client, loc, email="coerce@example.com", customFields=[{"id": f["visits"], "field_value": "12"}]
        )
        assert _values(contact) == {f["visits"]: 12}


# ---- calendar teams and appointment assignees ----------------------------------------------------------


async def _user(client: httpx.AsyncClient, location: LocationInfo, email: str) -> str:
    body = {
        "companyId": location.company_id,
        "firstName": "Ada",
        "lastName": "Byrd",
        "email": email,
        "password": "s3cret-Passw0rd",
        "type": "account",
        "role": "user",
        "locationIds": [location.location_id],
    }
    response = await client.post("/users/", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_calendar_teams_follow_the_calendar_type(
    client: httpx.AsyncClient, location: LocationInfo
) -> None:
    headers = auth(location.token, V_CALENDARS)
    lid = location.location_id
    ada, bo = (
        await _user(client, location, "ada@practice.example"),
        await _user(client, location, "bo@practice.example"),
    )

    async def create(**body: Any) -> httpx.Response:
        return await client.post(
            "/calendars/", json={"locationId": lid, "name": "Cal", **body}, headers=headers
        )

    for calendar_type in ("round_robin", "collective", "class_booking", "service_booking"):
        response = await create(calendarType=calendar_type)
        assert response.status_code == 400, calendar_type
        assert response.json()["message"].startswith("Team members are required")
        assert (await create(calendarType=calendar_type, teamMembers=[{"userId": ada}])).status_code == 200
    two = await create(calendarType="personal", teamMembers=[{"userId": ada}, {"userId": bo}])
    assert two.status_code == 400
    assert two.json()["message"] == "Personal calendar must have exactly one team member."
    assert (await create(calendarType="personal", teamMembers=[{"userId": ada}])).status_code == 200
    default = await create()  # no type, no team: an event calendar
    assert default.status_code == 200
    assert default.json()["calendar"]["calendarType"] == "event"
    stranger = await create(teamMembers=[{"userId": "notAUserOfTheLocation"}])
    assert stranger.status_code == 400
    robin = (await create(calendarType="round_robin", teamMembers=[{"userId": ada}])).json()["calendar"]
    emptied = await client.put(f"/calendars/{robin['id']}", json={"teamMembers": []}, headers=headers)
    assert emptied.status_code == 400


async def test_appointment_assignee_must_be_on_the_calendar_team(
    client: httpx.AsyncClient, location: LocationInfo
) -> None:
    headers = auth(location.token, V_CALENDARS)
    lid = location.location_id
    ada, bo = (
        await _user(client, location, "ada2@practice.example"),
        await _user(client, location, "bo2@practice.example"),
    )
    calendar = await client.post(
        "/calendars/",
        json={"locationId": lid, "name": "Dr Byrd", "teamMembers": [{"userId": ada}]},
        headers=headers,
    )
    contact = await new_contact(client, location, email="appt@example.com")
    body = {
        "calendarId": calendar.json()["calendar"]["id"],
        "locationId": lid,
        "contactId": contact["id"],
        "startTime": "2031-06-12T10:00:00-06:00",
        "toNotify": False,
    }
    refused = await client.post(
        "/calendars/events/appointments", json={**body, "assignedUserId": bo}, headers=headers
    )
    assert refused.status_code == 400
    assert _without_trace(refused.json()) == {
        "statusCode": 400,
        "message": "The selected user is not a team member of this calendar.",
    }
    booked = await client.post(
        "/calendars/events/appointments", json={**body, "assignedUserId": ada}, headers=headers
    )
    assert booked.status_code == 200, booked.text
    assert booked.json()["title"] == "Appointment"  # untitled appointments are titled "Appointment"
    moved = await client.put(
        f"/calendars/events/appointments/{booked.json()['id']}", json={"assignedUserId": bo}, headers=headers
    )
    assert moved.status_code == 400


async def test_lenient_calendar_teams_accept_anyone() -> None:
    sandbox = Sandbox(SandboxConfig(strict=Strictness(calendar_teams=False)))
    loc = sandbox.create_location()
    async with make_client(sandbox, loc.token) as client:
        response = await client.post(
            "/calendars/",
            json={"locationId": loc.location_id, "name": "RR", "calendarType": "round_robin"},
            headers=auth(loc.token, V_CALENDARS),
        )
        assert response.status_code == 200


# ---- the search index lags writes by default --------------------------------------------------------


def test_search_lag_is_on_by_default() -> None:
    assert SandboxConfig().search_index_lag_ms == 3000
    assert SandboxConfig().effective_search_lag_s == 3.0
    assert SandboxConfig(strict=Strictness(search_lag=False)).effective_search_lag_s == 0.0


async def _search_ids(client: httpx.AsyncClient, location: LocationInfo, **body: Any) -> list[str]:
    response = await client.post(
        "/contacts/search", json={"locationId": location.location_id, "pageLimit": 100, **body}
    )
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["contacts"]]


async def test_search_reads_lag_but_reads_by_id_and_duplicate_rules_do_not() -> None:
    now = [1000.0]
    sandbox = Sandbox(SandboxConfig(clock=lambda: now[0]))
    loc = sandbox.create_location()
    lid = loc.location_id
    async with make_client(sandbox, loc.token) as client:
        contact = await new_contact(client, loc, email="fresh@example.com", tags=["new"])
        assert await _search_ids(client, loc) == []
        legacy = await client.get("/contacts/", params={"locationId": lid})
        assert legacy.json()["contacts"] == []
        lookup = await client.get(
            "/contacts/search/duplicate", params={"locationId": lid, "email": "fresh@example.com"}
        )
        assert lookup.json()["contact"] is None
        assert (await client.get(f"/contacts/{contact['id']}")).status_code == 200
        duplicate = await client.post("/contacts/", json={"locationId": lid, "email": "fresh@example.com"})
        assert duplicate.status_code == 400  # the create-time duplicate rule reads the store
        upsert = await client.post("/contacts/upsert", json={"locationId": lid, "email": "fresh@example.com"})
        assert upsert.json()["new"] is False
        now[0] += 3.0
        assert await _search_ids(client, loc) == [contact["id"]]
        # An update shows its old values until the lag has passed, a delete still shows the contact.
        await client.put(f"/contacts/{contact['id']}", json={"tags": ["recall"]})
        by_tag = [{"field": "tags", "operator": "eq", "value": "new"}]
        assert await _search_ids(client, loc, filters=by_tag) == [contact["id"]]
        now[0] += 3.0
        assert await _search_ids(client, loc, filters=by_tag) == []
        await client.delete(f"/contacts/{contact['id']}")
        assert await _search_ids(client, loc) == [contact["id"]]
        now[0] += 3.0
        assert await _search_ids(client, loc) == []


async def test_opportunity_searches_lag_too() -> None:
    now = [1000.0]
    sandbox = Sandbox(SandboxConfig(clock=lambda: now[0]))
    loc = sandbox.create_location()
    lid = loc.location_id
    async with make_client(sandbox, loc.token) as client:
        contact = await new_contact(client, loc, email="oppl@example.com")
        pipelines = await client.get("/opportunities/pipelines", params={"locationId": lid})
        body = {
            "pipelineId": pipelines.json()["pipelines"][0]["id"],
            "locationId": lid,
            "contactId": contact["id"],
            "name": "Crown",
            "status": "open",
        }
        opp = (await client.post("/opportunities/", json=body)).json()["opportunity"]
        assert (await client.get("/opportunities/search", params={"location_id": lid})).json()[
            "opportunities"
        ] == []
        assert (await client.post("/opportunities/search", json={"locationId": lid})).json()["total"] == 0
        assert (
            await client.post("/opportunities/", json=body)
        ).status_code == 400  # the duplicate rule does not lag
        now[0] += 3.0
        found = (await client.get("/opportunities/search", params={"location_id": lid})).json()[
            "opportunities"
        ]
        assert [o["id"] for o in found] == [opp["id"]]


async def test_settle_makes_everything_searchable_now(sandbox: Sandbox, location: LocationInfo) -> None:
    async with make_client(sandbox, location.token) as client:
        first = await new_contact(client, location, email="old1@example.com")
        sandbox.settle_search_index()
        assert await _search_ids(client, location) == [first["id"]]
        second = await new_contact(client, location, email="old2@example.com")
        assert await _search_ids(client, location) == [first["id"]]  # later writes lag again
        settled = await client.post(
            "/_sandbox/search-index/settle", json={"locationId": location.location_id}
        )
        assert settled.json() == {"settled": True}
        assert await _search_ids(client, location) == [first["id"], second["id"]]
        assert (
            await client.post("/_sandbox/search-index/settle", json={"locationId": "nowhere"})
        ).status_code == 400


async def test_search_lag_switch_off_is_immediate() -> None:
    sandbox = Sandbox(SandboxConfig(strict=Strictness(search_lag=False)))
    loc = sandbox.create_location()
    async with make_client(sandbox, loc.token) as client:
        contact = await new_contact(client, loc, email="now@example.com")
        assert await _search_ids(client, loc) == [contact["id"]]


# ---- upsert identity, duplicate shapes -----------------------------------------------------------------


async def test_upsert_without_email_or_phone_is_400(
    client: httpx.AsyncClient, location: LocationInfo, sandbox: Sandbox
) -> None:
    for body in ({"firstName": "Ana"}, {"firstName": "Ana", "email": "", "phone": None}):
        response = await client.post("/contacts/upsert", json={"locationId": location.location_id, **body})
        assert response.status_code == 400
        assert _without_trace(response.json()) == {
            "statusCode": 400,
            "message": "Pass at least one of number, email query parameter",
        }
    assert sandbox.location(location.location_id).contacts == {}  # nothing was created


async def test_lenient_upsert_identity_creates_a_contact() -> None:
    sandbox = Sandbox(SandboxConfig(strict=Strictness(upsert_identity=False)))
    loc = sandbox.create_location()
    async with make_client(sandbox, loc.token) as client:
        response = await client.post(
            "/contacts/upsert", json={"locationId": loc.location_id, "firstName": "Ana"}
        )
        assert response.json()["new"] is True


async def test_duplicate_errors_use_highlevels_shapes(
    client: httpx.AsyncClient, location: LocationInfo
) -> None:
    lid = location.location_id
    contact = await new_contact(client, location, email="dup@example.com", firstName="Ana", lastName="Lima")
    again = await client.post("/contacts/", json={"locationId": lid, "email": "DUP@example.com"})
    assert again.status_code == 400
    assert _without_trace(again.json()) == {
        "statusCode": 400,
        "message": "This location does not allow duplicated contacts.",
        "meta": {"contactId": contact["id"], "contactName": "Ana Lima", "matchingField": "email"},
    }
    pipelines = await client.get("/opportunities/pipelines", params={"locationId": lid})
    body = {
        "pipelineId": pipelines.json()["pipelines"][0]["id"],
        "locationId": lid,
        "contactId": contact["id"],
        "name": "Crown",
        "status": "open",
    }
    first = (await client.post("/opportunities/", json=body)).json()["opportunity"]
    second = await client.post("/opportunities/", json=body)
    assert second.status_code == 400
    assert _without_trace(second.json()) == {
        "statusCode": 400,
        "message": "Can not create duplicate opportunity for the contact.",
        "error": "Bad Request",
        "code": "OPPORTUNITY_NO_DUPLICATE",
        "meta": {"existingId": first["id"]},
    }
