"""Cross-cutting behaviour: Version and bearer checks (HighLevel's 401 messages), 403 across locations,
scope checks, traceId in every JSON body and the five X-RateLimit-* headers on every response."""

from __future__ import annotations

import httpx
import pytest

from dentrix_highlevel.sandbox import LocationInfo, Sandbox, SandboxConfig, Strictness

from ._helpers import V_CALENDARS, auth, make_client, new_contact

pytestmark = pytest.mark.anyio

RATE_HEADERS = (
    "X-RateLimit-Limit-Daily",
    "X-RateLimit-Daily-Remaining",
    "X-RateLimit-Interval-Milliseconds",
    "X-RateLimit-Max",
    "X-RateLimit-Remaining",
)


async def test_missing_and_invalid_version_header(sandbox: Sandbox, location: LocationInfo) -> None:
    async with make_client(sandbox) as client:
        missing = await client.get(
            f"/locations/{location.location_id}", headers={"Authorization": f"Bearer {location.token}"}
        )
        assert missing.status_code == 401
        assert missing.json()["message"] == "version header was not found."
        invalid = await client.get(
            f"/locations/{location.location_id}", headers={**auth(location.token), "Version": "2099-01-01"}
        )
        assert invalid.status_code == 401
        assert invalid.json()["message"] == "version header is invalid"
        # Strict: only the version the operation declares (calendars' 2021-04-15 is wrong here).
        other = await client.get(
            f"/locations/{location.location_id}", headers=auth(location.token, V_CALENDARS)
        )
        assert other.status_code == 401
        assert other.json() == {
            "statusCode": 401,
            "message": "version header is invalid",
            "traceId": other.json()["traceId"],
        }


async def test_lenient_versions_accept_any_documented_version() -> None:
    # One report saw all four versions accepted on some routes (API-NOTES §0): the switch emulates it.
    sandbox = Sandbox(SandboxConfig(strict=Strictness(versions=False)))
    location = sandbox.create_location()
    async with make_client(sandbox) as client:
        other = await client.get(
            f"/locations/{location.location_id}", headers=auth(location.token, V_CALENDARS)
        )
        assert other.status_code == 200
        invalid = await client.get(
            f"/locations/{location.location_id}", headers={**auth(location.token), "Version": "2099-01-01"}
        )
        assert invalid.status_code == 401


async def test_bad_token_and_missing_scope(sandbox: Sandbox, location: LocationInfo) -> None:
    async with make_client(sandbox) as client:
        for headers in ({"Version": "2021-07-28"}, auth("pit-00000000-0000-4000-8000-000000000000")):
            response = await client.get(f"/locations/{location.location_id}", headers=headers)
            assert response.status_code == 401
            assert response.json()["message"] == "Invalid token: access token is invalid"
            assert response.json()["error"] == "Unauthorized"
        narrow = sandbox.create_location(scopes=["contacts.readonly"])
        denied = await client.post(
            "/contacts/", json={"locationId": narrow.location_id}, headers=auth(narrow.token)
        )
        assert denied.status_code == 401
        assert denied.json()["message"] == "The token is not authorized for this scope."


async def test_token_of_another_location_is_403(sandbox: Sandbox, location: LocationInfo) -> None:
    other = sandbox.create_location()
    async with make_client(sandbox, location.token) as mine, make_client(sandbox, other.token) as theirs:
        contact = await new_contact(theirs, other, email="other@example.com")
        expected = "The token does not have access to this location"
        for response in (
            await mine.get(f"/locations/{other.location_id}"),
            await mine.post("/contacts/", json={"locationId": other.location_id, "firstName": "x"}),
            await mine.get(f"/contacts/{contact['id']}"),
            await mine.get("/opportunities/pipelines", params={"locationId": other.location_id}),
        ):
            assert response.status_code == 403
            assert response.json()["message"] == expected


async def test_every_response_has_trace_id_and_rate_headers(
    client: httpx.AsyncClient, location: LocationInfo
) -> None:
    responses = [
        await client.get(f"/locations/{location.location_id}"),
        await client.post("/contacts/", json={"locationId": location.location_id, "bogus": 1}),
        await client.get("/contacts/nonexistent00000000000"),
        await client.get("/no/such/route"),
        await client.get(f"/locations/{location.location_id}", headers={"Version": ""}),
    ]
    trace_ids = set()
    for response in responses:
        for header in RATE_HEADERS:
            assert response.headers[header].isdigit(), (response.request.url, header)
        trace_ids.add(response.json()["traceId"])
    assert len(trace_ids) == len(responses)
    assert responses[3].status_code == 404
    assert responses[3].json()["message"] == "Cannot GET /no/such/route"
    assert responses[0].headers["X-RateLimit-Interval-Milliseconds"] == "10000"
    assert responses[0].headers["X-RateLimit-Max"] == "100"


async def test_trailing_slash_optional_on_collection_roots(
    client: httpx.AsyncClient, location: LocationInfo
) -> None:
    response = await client.post(
        "/contacts", json={"locationId": location.location_id, "email": "slash@example.com"}
    )
    assert response.status_code == 201


async def test_invalid_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/contacts/", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


async def test_request_log_has_ids_only(
    sandbox: Sandbox, client: httpx.AsyncClient, location: LocationInfo
) -> None:
    await client.get(
        "/contacts/search/duplicate", params={"locationId": location.location_id, "email": "p@example.com"}
    )
    (record,) = sandbox.request_log
    assert record.path == "/contacts/search/duplicate"  # no query string: it can carry an e-mail
    assert record.location_id == location.location_id
    assert record.status == 200
    assert record.admitted
    assert location.token not in repr(location)
    assert location.token not in repr(sandbox)
