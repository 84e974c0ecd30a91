"""The sandbox against HighLevel's official OpenAPI files (read from ``../shared``, never copied).

One scenario drives every endpoint the sandbox emulates (happy paths and HighLevel's error shapes)
through a recording transport; then every response body is validated against the spec's response schema
for its status where the spec defines one, and every request body we sent that HighLevel accepted (2xx) is
validated against the spec's request schema. Deliberately invalid requests (the 422/400 cases) are exempt
from request validation: being invalid is their point. Deviations from the spec are listed, with reasons,
in ``_specbook.SPEC_EXCEPTIONS`` / ``SCHEMA_OVERRIDES``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import anyio
import attrs
import httpx
import pytest

from dentrix_highlevel.sandbox import Sandbox

from ._specbook import SCHEMA_OVERRIDES, SPEC_EXCEPTIONS, SpecBook

BASE_URL = "https://services.leadconnectorhq.com"
V1, VC = "2021-07-28", "2021-04-15"

#: Every endpoint the sandbox emulates (issue #2 §2); each must be exercised with a 2xx answer.
ENDPOINTS = {
    ("POST", "/contacts/"),
    ("GET", "/contacts/{contactId}"),
    ("PUT", "/contacts/{contactId}"),
    ("DELETE", "/contacts/{contactId}"),
    ("POST", "/contacts/upsert"),
    ("POST", "/contacts/search"),
    ("GET", "/contacts/"),
    ("GET", "/contacts/search/duplicate"),
    ("POST", "/contacts/{contactId}/tags"),
    ("DELETE", "/contacts/{contactId}/tags"),
    ("POST", "/contacts/bulk/tags/update/{type}"),
    ("GET", "/contacts/{contactId}/appointments"),
    ("POST", "/contacts/{contactId}/notes"),
    ("GET", "/contacts/{contactId}/notes"),
    ("GET", "/contacts/{contactId}/notes/{id}"),
    ("PUT", "/contacts/{contactId}/notes/{id}"),
    ("DELETE", "/contacts/{contactId}/notes/{id}"),
    ("POST", "/contacts/{contactId}/tasks"),
    ("GET", "/contacts/{contactId}/tasks"),
    ("GET", "/contacts/{contactId}/tasks/{taskId}"),
    ("PUT", "/contacts/{contactId}/tasks/{taskId}"),
    ("PUT", "/contacts/{contactId}/tasks/{taskId}/completed"),
    ("DELETE", "/contacts/{contactId}/tasks/{taskId}"),
    ("GET", "/locations/{locationId}"),
    ("GET", "/locations/{locationId}/tags"),
    ("POST", "/locations/{locationId}/tags"),
    ("GET", "/locations/{locationId}/tags/{tagId}"),
    ("PUT", "/locations/{locationId}/tags/{tagId}"),
    ("DELETE", "/locations/{locationId}/tags/{tagId}"),
    ("GET", "/locations/{locationId}/customFields"),
    ("POST", "/locations/{locationId}/customFields"),
    ("GET", "/locations/{locationId}/customFields/{id}"),
    ("PUT", "/locations/{locationId}/customFields/{id}"),
    ("DELETE", "/locations/{locationId}/customFields/{id}"),
    ("GET", "/locations/{locationId}/customValues"),
    ("POST", "/locations/{locationId}/customValues"),
    ("GET", "/locations/{locationId}/customValues/{id}"),
    ("PUT", "/locations/{locationId}/customValues/{id}"),
    ("DELETE", "/locations/{locationId}/customValues/{id}"),
    ("POST", "/users/"),
    ("GET", "/users/"),
    ("GET", "/users/search"),
    ("POST", "/users/search/filter-by-email"),
    ("GET", "/users/{userId}"),
    ("PUT", "/users/{userId}"),
    ("DELETE", "/users/{userId}"),
    ("GET", "/calendars/"),
    ("POST", "/calendars/"),
    ("POST", "/calendars/events/appointments"),
    ("GET", "/calendars/events/appointments/{eventId}"),
    ("PUT", "/calendars/events/appointments/{eventId}"),
    ("DELETE", "/calendars/events/{eventId}"),
    ("GET", "/calendars/events"),
    ("GET", "/calendars/{calendarId}"),
    ("PUT", "/calendars/{calendarId}"),
    ("DELETE", "/calendars/{calendarId}"),
    ("GET", "/opportunities/pipelines"),
    ("POST", "/opportunities/"),
    ("POST", "/opportunities/upsert"),
    ("GET", "/opportunities/{id}"),
    ("PUT", "/opportunities/{id}"),
    ("PUT", "/opportunities/{id}/status"),
    ("DELETE", "/opportunities/{id}"),
    ("GET", "/opportunities/search"),
    ("POST", "/opportunities/search"),
    ("POST", "/medias/upload-file"),
    ("GET", "/medias/files"),
    ("DELETE", "/medias/{id}"),
    ("POST", "/oauth/token"),
    ("POST", "/oauth/locationToken"),
    ("POST", "/associations/"),
    ("GET", "/associations/"),
    ("GET", "/associations/key/{key_name}"),
    ("GET", "/associations/{associationId}"),
    ("DELETE", "/associations/{associationId}"),
    ("POST", "/associations/relations"),
    ("GET", "/associations/relations/{recordId}"),
    ("DELETE", "/associations/relations/{relationId}"),
    ("GET", "/workflows/"),
}


@attrs.frozen
class Exchange:
    method: str
    path: str
    content_type: str
    request: Any
    status: int
    response: Any


class RecordingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.exchanges: list[Exchange] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        content_type = request.headers.get("content-type", "").split(";")[0]
        raw = await request.aread()
        parsed: Any = None
        if content_type == "application/json" and raw:
            parsed = json.loads(raw)
        elif content_type == "application/x-www-form-urlencoded":
            parsed = dict(parse_qsl(raw.decode()))
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        try:
            decoded = json.loads(body) if body else None
        except ValueError:
            decoded = None
        self.exchanges.append(
            Exchange(request.method, request.url.path, content_type, parsed, response.status_code, decoded)
        )
        return httpx.Response(response.status_code, headers=response.headers, content=body, request=request)


async def _scenario(sandbox: Sandbox) -> list[Exchange]:
    loc = sandbox.create_location(company_id="ContractCompany00001")
    other = sandbox.create_location()
    recorder = RecordingTransport(sandbox.transport())
    h = {"Authorization": f"Bearer {loc.token}", "Version": V1}
    hc = {**h, "Version": VC}
    lid = loc.location_id
    async with httpx.AsyncClient(base_url=BASE_URL, transport=recorder, headers=h) as c:

        async def ok(response: httpx.Response, status: int = 200) -> Any:
            assert response.status_code == status, (
                response.request.url.path,
                response.status_code,
                response.text,
            )
            return response.json()

        # Custom fields, values, tags.
        cf = f"/locations/{lid}/customFields"
        text = (await ok(await c.post(cf, json={"name": "Source Id", "dataType": "TEXT"}), 201))[
            "customField"
        ]
        num = (await ok(await c.post(cf, json={"name": "Visits", "dataType": "NUMERICAL"}), 201))[
            "customField"
        ]
        opts = {"name": "Allergies", "dataType": "MULTIPLE_OPTIONS", "options": ["Latex", "Penicillin"]}
        multi = (await ok(await c.post(cf, json=opts), 201))["customField"]
        plan = {"name": "Treatment Plan", "dataType": "TEXT", "model": "opportunity"}
        plan_field = (await ok(await c.post(cf, json=plan), 201))["customField"]
        await ok(await c.get(cf))
        await ok(await c.get(f"{cf}/{text['id']}"))
        await ok(await c.put(f"{cf}/{num['id']}", json={"name": "Visit Count"}))
        cv = f"/locations/{lid}/customValues"
        value = (await ok(await c.post(cv, json={"name": "Office Phone", "value": "+13035550100"}), 201))[
            "customValue"
        ]
        await ok(await c.get(cv))
        await ok(await c.get(f"{cv}/{value['id']}"))
        await ok(await c.put(f"{cv}/{value['id']}", json={"name": "Office Phone", "value": "+13035550101"}))
        await ok(await c.delete(f"{cv}/{value['id']}"))
        tags = f"/locations/{lid}/tags"
        tag = (await ok(await c.post(tags, json={"name": "Recall"})))["tag"]
        await ok(await c.get(tags))
        await ok(await c.get(f"{tags}/{tag['id']}"))
        await ok(await c.put(f"{tags}/{tag['id']}", json={"name": "Recall Due"}))
        await ok(await c.delete(f"{tags}/{tag['id']}"))
        await ok(await c.get(f"/locations/{lid}"))

        # Contacts.
        fields = [
            {"id": text["id"], "field_value": "PAT-1"},
            {"id": num["id"], "field_value": 3},
            {"id": multi["id"], "field_value": ["Latex"]},
        ]
        body = {
            "locationId": lid,
            "firstName": "Ana",
            "lastName": "Lima",
            "email": "ana@example.com",
            "phone": "+1 303 555 0100",
            "dateOfBirth": "1990-09-25",
            "tags": ["new patient"],
            "customFields": fields,
            "dndSettings": {"SMS": {"status": "inactive"}},
        }
        contact = (await ok(await c.post("/contacts/", json=body), 201))["contact"]
        cid = contact["id"]
        await c.post("/contacts/", json={"locationId": lid, "email": "ana@example.com"})  # 400 duplicate
        await c.post("/contacts/", json={"locationId": lid, "additionalEmails": []})  # 422
        await c.post("/contacts/", json={"locationId": lid}, headers={"Version": ""})  # 401 version
        await c.post(
            "/contacts/", json={"locationId": lid}, headers={"Authorization": "Bearer nope"}
        )  # 401 token
        await c.get(f"/locations/{other.location_id}")  # 403
        await ok(await c.get(f"/contacts/{cid}"))
        await ok(await c.put(f"/contacts/{cid}", json={"city": "Denver", "customFields": [fields[1]]}))
        upsert = {"locationId": lid, "email": "ana@example.com", "gender": "female", "postalCode": "80202"}
        await ok(await c.post("/contacts/upsert", json=upsert))
        await ok(
            await c.post(
                "/contacts/upsert", json={"locationId": lid, "phone": "3035550199", "firstName": "Bo"}
            )
        )
        sandbox.settle_search_index()  # search reads an index that lags writes; let it catch up
        search = {
            "locationId": lid,
            "pageLimit": 10,
            "filters": [{"field": "tags", "operator": "eq", "value": "new patient"}],
        }
        await ok(await c.post("/contacts/search", json=search))
        await c.post(
            "/contacts/search",
            json={"locationId": lid, "pageLimit": 1, "filters": [{"field": "x", "operator": "eq"}]},
        )
        await ok(await c.get("/contacts/", params={"locationId": lid, "limit": 1}))
        await ok(
            await c.get("/contacts/search/duplicate", params={"locationId": lid, "email": "ana@example.com"})
        )
        await ok(await c.post(f"/contacts/{cid}/tags", json={"tags": ["vip"]}), 201)
        await ok(await c.request("DELETE", f"/contacts/{cid}/tags", json={"tags": ["vip"]}))
        bulk = {"locationId": lid, "contacts": [cid], "tags": ["bulk"]}
        await ok(await c.post("/contacts/bulk/tags/update/add", json=bulk), 201)

        notes = f"/contacts/{cid}/notes"
        note = (await ok(await c.post(notes, json={"body": "Prefers mornings"}), 201))["note"]
        await ok(await c.get(notes))
        await ok(await c.get(f"{notes}/{note['id']}"))
        await ok(await c.put(f"{notes}/{note['id']}", json={"body": "Prefers afternoons"}))
        await ok(await c.delete(f"{notes}/{note['id']}"))
        tasks = f"/contacts/{cid}/tasks"
        task_body = {"title": "Call back", "dueDate": "2031-01-05T15:00:00Z", "completed": False}
        task = (await ok(await c.post(tasks, json=task_body), 201))["task"]
        await ok(await c.get(tasks))
        await ok(await c.get(f"{tasks}/{task['id']}"))
        await ok(await c.put(f"{tasks}/{task['id']}", json={"title": "Call again"}))
        await ok(await c.put(f"{tasks}/{task['id']}/completed", json={"completed": True}))
        await ok(await c.delete(f"{tasks}/{task['id']}"))

        # Users.
        user_body = {
            "companyId": loc.company_id,
            "firstName": "Dana",
            "lastName": "Hygienist",
            "email": "dana@practice.example",
            "password": "s3cret-Passw0rd",
            "type": "account",
            "role": "user",
            "locationIds": [lid],
        }
        user = await ok(await c.post("/users/", json=user_body), 201)
        await ok(await c.get("/users/search", params={"companyId": loc.company_id, "locationId": lid}))
        await ok(await c.get("/users/", params={"locationId": lid}))
        await ok(await c.get(f"/users/{user['id']}"))
        await ok(await c.put(f"/users/{user['id']}", json={"lastName": "Lead"}))

        # Calendars and appointments.
        # The appointment's assignedUserId must be on the calendar's team.
        hygiene = {"locationId": lid, "name": "Hygiene", "teamMembers": [{"userId": user["id"]}]}
        calendar = (await ok(await c.post("/calendars/", json=hygiene, headers=hc)))["calendar"]
        await ok(await c.get("/calendars/", params={"locationId": lid}, headers=hc))
        appt_body = {
            "calendarId": calendar["id"],
            "locationId": lid,
            "contactId": cid,
            "startTime": "2031-06-12T10:00:00-06:00",
            "endTime": "2031-06-12T11:00:00-06:00",
            "title": "Cleaning",
            "assignedUserId": user["id"],
            "toNotify": False,
        }
        appt = await ok(await c.post("/calendars/events/appointments", json=appt_body, headers=hc))
        await c.post("/calendars/events/appointments", json=appt_body, headers=hc)  # 400 slot taken
        await ok(await c.get(f"/calendars/events/appointments/{appt['id']}", headers=hc))
        await ok(
            await c.put(
                f"/calendars/events/appointments/{appt['id']}",
                json={"appointmentStatus": "confirmed"},
                headers=hc,
            )
        )
        events = {
            "locationId": lid,
            "calendarId": calendar["id"],
            "startTime": "1900000000000",
            "endTime": "2000000000000",
        }
        await ok(await c.get("/calendars/events", params=events, headers=hc))
        await ok(await c.get(f"/contacts/{cid}/appointments"))
        await ok(await c.request("DELETE", f"/calendars/events/{appt['id']}", json={}, headers=hc), 201)
        await ok(await c.get(f"/calendars/{calendar['id']}", headers=hc))
        team = {"teamMembers": [{"userId": user["id"]}]}
        await ok(await c.put(f"/calendars/{calendar['id']}", json=team, headers=hc))
        await ok(await c.put(f"/calendars/{calendar['id']}", json={"teamMembers": [{}]}, headers=hc), 422)
        await ok(await c.delete(f"/calendars/{calendar['id']}", headers=hc))

        # Opportunities.
        pipeline = (await ok(await c.get("/opportunities/pipelines", params={"locationId": lid})))[
            "pipelines"
        ][0]
        opp_body = {
            "pipelineId": pipeline["id"],
            "locationId": lid,
            "name": "Crown #14",
            "status": "open",
            "contactId": cid,
            "monetaryValue": 1250.5,
            "pipelineStageId": pipeline["stages"][0]["id"],
            "customFields": [{"id": plan_field["id"], "field_value": "Crown and buildup"}],
        }
        opp = (await ok(await c.post("/opportunities/", json=opp_body), 201))["opportunity"]
        upsert_opp = {
            "pipelineId": pipeline["id"],
            "locationId": lid,
            "contactId": cid,
            "monetaryValue": 1300,
        }
        await ok(await c.post("/opportunities/upsert", json=upsert_opp))
        await ok(await c.get(f"/opportunities/{opp['id']}"))
        await ok(await c.put(f"/opportunities/{opp['id']}", json={"name": "Crown #15"}))
        await ok(await c.put(f"/opportunities/{opp['id']}/status", json={"status": "won"}))
        sandbox.settle_search_index()
        await ok(await c.get("/opportunities/search", params={"location_id": lid}))
        details = {"notes": False, "tasks": False, "calendarEvents": False, "unReadConversations": False}
        post_search = {"locationId": lid, "query": "crown", "limit": 5, "page": 1, "searchAfter": []}
        await ok(await c.post("/opportunities/search", json={**post_search, "additionalDetails": details}))
        await ok(await c.delete(f"/opportunities/{opp['id']}"))

        # Media: upload, list (paged, by name), delete; a delete without altId is refused.
        uploaded = await ok(
            await c.post("/medias/upload-file", files={"file": ("xray.png", b"\x89PNG....", "image/png")})
        )
        alt = {"altType": "location", "altId": lid}
        listing = {**alt, "sortBy": "createdAt", "sortOrder": "asc", "type": "file", "offset": 0, "limit": 10}
        files = (await ok(await c.get("/medias/files", params={**listing, "query": "xray"})))["files"]
        assert [f["_id"] for f in files] == [uploaded["fileId"]]
        await ok(await c.delete(f"/medias/{uploaded['fileId']}", params={"altType": "location"}), 422)
        await ok(await c.delete(f"/medias/{uploaded['fileId']}", params=alt))
        assert (await ok(await c.get("/medias/files", params=listing)))["files"] == []

        # OAuth: code -> tokens -> refresh; agency -> location token.
        sandbox.register_oauth_app(client_id="contract-app", client_secret="contract-secret")
        app = {"client_id": "contract-app", "client_secret": "contract-secret"}
        code = sandbox.authorization_code(client_id="contract-app", location_id=lid)
        tokens = await ok(
            await c.post("/oauth/token", data={**app, "grant_type": "authorization_code", "code": code})
        )
        refresh = {**app, "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        await ok(await c.post("/oauth/token", data=refresh))
        agency_code = sandbox.authorization_code(client_id="contract-app", company_id=loc.company_id)
        agency = await ok(
            await c.post(
                "/oauth/token",
                data={**app, "grant_type": "authorization_code", "code": agency_code, "user_type": "Company"},
            )
        )
        await ok(
            await c.post(
                "/oauth/locationToken",
                data={"companyId": loc.company_id, "locationId": lid},
                headers={"Authorization": f"Bearer {agency['access_token']}"},
            )
        )
        # Agency-only: users of the company by e-mail.
        by_email = {"companyId": loc.company_id, "emails": "dana@practice.example", "projection": "all"}
        await ok(
            await c.post(
                "/users/search/filter-by-email",
                json=by_email,
                headers={"Authorization": f"Bearer {agency['access_token']}"},
            )
        )
        await ok(await c.post("/users/search/filter-by-email", json=by_email), 401)  # a location token

        # Workflows: seeded (the API only lists them).
        sandbox.add_workflow(lid, name="Recall reminder", status="published")
        await ok(await c.get("/workflows/", params={"locationId": lid}))

        # Associations: a contact–contact association, one relation, its errors, then deletes.
        assoc_body = {
            "locationId": lid,
            "key": "family_member",
            "firstObjectKey": "contact",
            "firstObjectLabel": "Family member",
            "secondObjectKey": "contact",
            "secondObjectLabel": "Guarantor",
        }
        assoc = await ok(await c.post("/associations/", json=assoc_body), 201)
        await ok(await c.post("/associations/", json={**assoc_body, "colour": "red"}), 422)
        await ok(await c.post("/associations/", json=assoc_body), 400)
        await ok(await c.get("/associations/", params={"locationId": lid, "skip": 0, "limit": 10}))
        await ok(await c.get("/associations/key/family_member", params={"locationId": lid}))
        await ok(await c.get(f"/associations/{assoc['id']}"))
        kin = (await ok(await c.post("/contacts/", json={"locationId": lid, "firstName": "Kin"}), 201))[
            "contact"
        ]
        rel_body = {
            "locationId": lid,
            "associationId": assoc["id"],
            "firstRecordId": kin["id"],
            "secondRecordId": cid,
        }
        rel = await ok(await c.post("/associations/relations", json=rel_body), 201)
        page = {"locationId": lid, "skip": 0, "limit": 10}
        await ok(await c.get(f"/associations/relations/{cid}", params=page))
        await ok(await c.delete(f"/associations/relations/{rel['id']}", params={"locationId": lid}))
        await ok(await c.delete(f"/associations/{assoc['id']}"))
        await ok(await c.delete(f"/contacts/{kin['id']}"))

        # Deletes last.
        await ok(await c.delete(f"{cf}/{text['id']}"))
        await ok(await c.delete(f"/users/{user['id']}"))
        await ok(await c.delete(f"/contacts/{cid}"))
    return recorder.exchanges


@pytest.fixture(scope="module")
def book(openapi_dir: Path) -> SpecBook:
    return SpecBook(openapi_dir)


@pytest.fixture(scope="module")
def exchanges() -> list[Exchange]:
    async def run() -> list[Exchange]:
        return await _scenario(Sandbox())

    return anyio.run(run)


def test_every_endpoint_is_exercised_with_success(book: SpecBook, exchanges: list[Exchange]) -> None:
    seen = set()
    for exchange in exchanges:
        op = book.operation(exchange.method, exchange.path)
        assert op is not None, f"not in the spec: {exchange.method} {exchange.path}"
        if 200 <= exchange.status < 300:
            seen.add((op.method, op.template))
    assert ENDPOINTS - seen == set()


def test_every_response_body_matches_the_spec(book: SpecBook, exchanges: list[Exchange]) -> None:
    problems: list[str] = []
    validated = 0
    for exchange in exchanges:
        op = book.operation(exchange.method, exchange.path)
        assert op is not None
        validate = book.response_validator(op, exchange.status)
        if validate is None:
            continue
        validated += 1
        for error in validate(exchange.response):
            problems.append(f"{exchange.method} {op.template} -> {exchange.status}: {error}")
    assert problems == []
    assert validated >= 55  # nearly every exchange has a schema; guard against silently validating nothing


def test_error_responses_use_the_common_shapes(book: SpecBook, exchanges: list[Exchange]) -> None:
    statuses = {e.status for e in exchanges}
    assert {400, 401, 403, 422} <= statuses
    for exchange in exchanges:
        if exchange.status in (400, 401, 403, 422):
            assert isinstance(exchange.response["traceId"], str)
            assert exchange.response["statusCode"] == exchange.status
            if exchange.status == 422:
                assert isinstance(exchange.response["message"], list)


def test_every_accepted_request_body_matches_the_spec(book: SpecBook, exchanges: list[Exchange]) -> None:
    problems: list[str] = []
    validated = 0
    for exchange in exchanges:
        if exchange.request is None or not 200 <= exchange.status < 300:
            continue
        op = book.operation(exchange.method, exchange.path)
        assert op is not None
        validate = book.request_validator(op, exchange.content_type)
        if validate is None:
            continue
        validated += 1
        for error in validate(exchange.request):
            problems.append(f"{exchange.method} {op.template} request: {error}")
    assert problems == []
    assert validated >= 30


def test_spec_exceptions_are_still_needed(openapi_dir: Path) -> None:
    """If HighLevel fixes a spec defect upstream, its exception here must go."""
    for file, pointer, replacement, reason in SPEC_EXCEPTIONS:
        doc = json.loads((openapi_dir / file).read_text(encoding="utf-8"))
        node: Any = doc
        for part in pointer.strip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]  # JSON-pointer escapes
        assert node != replacement, (file, pointer, reason)
    for (_method, _template, _kind), (file, pointer) in SCHEMA_OVERRIDES.items():
        node = json.loads((openapi_dir / file).read_text(encoding="utf-8"))
        for part in pointer.strip("/").split("/"):
            node = node[part]
        assert isinstance(node, dict)


def test_the_validators_can_fail(book: SpecBook) -> None:
    """Guard against a resolver that silently accepts everything."""
    get_contact = book.operation("GET", "/contacts/abc")
    assert get_contact is not None
    assert get_contact.template == "/contacts/{contactId}"
    validate = book.response_validator(get_contact, 200)
    assert validate is not None
    assert validate({"contact": {"id": 5, "tags": "x"}})
    unprocessable = book.response_validator(get_contact, 422)
    assert unprocessable is not None
    assert unprocessable({"statusCode": 422, "message": "not a list"})
    create = book.operation("POST", "/contacts/")
    assert create is not None
    request = book.request_validator(create, "application/json")
    assert request is not None
    assert request({"firstName": "no location"})
    files = book.operation("GET", "/medias/files")
    assert files is not None
    listed = book.response_validator(files, 200)
    assert listed is not None
    assert listed({"files": ["a file as a string, as the spec declares"]})
    assert listed({"files": [{"name": "no id", "url": "u", "altId": "l", "altType": "location"}]})
    removed = book.operation("DELETE", "/medias/abc")
    assert removed is not None
    deleted = book.response_validator(removed, 200)
    assert deleted is not None
    assert deleted({})
    assert book.operation("POST", "/contacts/search") is not None
    assert book.operation("GET", "/nowhere") is None
