"""Calendars and appointments: Version 2021-04-15, slot overlap 400, ignoreFreeSlotValidation, delete 201."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dentrix_highlevel.sandbox import LocationInfo

from ._helpers import V_CALENDARS, auth, new_contact

pytestmark = pytest.mark.anyio

SLOT_TAKEN = "The slot you have selected is no longer available."


async def _calendar(client: httpx.AsyncClient, location: LocationInfo) -> dict[str, Any]:
    response = await client.post(
        "/calendars/",
        json={"locationId": location.location_id, "name": "Hygiene", "slotDuration": 60},
        headers=auth(location.token, V_CALENDARS),
    )
    assert response.status_code == 200, response.text
    calendar: dict[str, Any] = response.json()["calendar"]
    return calendar


async def _user(client: httpx.AsyncClient, location: LocationInfo, email: str) -> str:
    body = {
        "companyId": location.company_id,
        "firstName": "Team",
        "lastName": "Member",
        "email": email,
        "password": "s3cret-Passw0rd",
        "type": "account",
        "role": "user",
        "locationIds": [location.location_id],
    }
    response = await client.post("/users/", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_calendars_list_and_create(client: httpx.AsyncClient, location: LocationInfo) -> None:
    calendar = await _calendar(client, location)
    listed = await client.get(
        "/calendars/", params={"locationId": location.location_id}, headers=auth(location.token, V_CALENDARS)
    )
    assert [c["id"] for c in listed.json()["calendars"]] == [calendar["id"]]
    unknown = await client.post(
        "/calendars/",
        json={"locationId": location.location_id, "name": "x", "colour": "red"},
        headers=auth(location.token, V_CALENDARS),
    )
    assert unknown.status_code == 422


async def test_calendar_get_and_delete_takes_its_events(
    client: httpx.AsyncClient, location: LocationInfo, sandbox: Any
) -> None:
    calendar = await _calendar(client, location)
    contact = await new_contact(client, location, email="cal-delete@example.com")
    headers = auth(location.token, V_CALENDARS)
    got = await client.get(f"/calendars/{calendar['id']}", headers=headers)
    assert got.status_code == 200
    assert got.json()["calendar"]["id"] == calendar["id"]
    booked = await client.post(
        "/calendars/events/appointments",
        json={
            "calendarId": calendar["id"],
            "locationId": location.location_id,
            "contactId": contact["id"],
            "startTime": "2031-06-12T10:00:00-06:00",
        },
        headers=headers,
    )
    assert booked.status_code == 200
    deleted = await client.delete(f"/calendars/{calendar['id']}", headers=headers)
    assert deleted.status_code == 200
    assert deleted.json()["success"] is True
    assert (await client.get(f"/calendars/{calendar['id']}", headers=headers)).status_code == 404
    state = sandbox.dump()["locations"][location.location_id]
    assert not state["events"]
    assert not state["calendars"]


async def test_appointments_overlap_and_lifecycle(client: httpx.AsyncClient, location: LocationInfo) -> None:
    calendar = await _calendar(client, location)
    contact = await new_contact(client, location, email="appt@example.com")
    headers = auth(location.token, V_CALENDARS)
    body = {
        "calendarId": calendar["id"],
        "locationId": location.location_id,
        "contactId": contact["id"],
        "startTime": "2031-06-12T10:00:00-06:00",
        "toNotify": False,
    }
    created = await client.post("/calendars/events/appointments", json=body, headers=headers)
    assert created.status_code == 200
    event = created.json()
    assert event["endTime"] == "2031-06-12T11:00:00-06:00"  # slotDuration 60 mins, location time
    overlap = await client.post(
        "/calendars/events/appointments", json={**body, "startTime": "2031-06-12T16:30:00Z"}, headers=headers
    )
    assert overlap.status_code == 400
    assert overlap.json()["message"] == SLOT_TAKEN
    assert "traceId" in overlap.json()
    forced = await client.post(
        "/calendars/events/appointments",
        json={**body, "startTime": "2031-06-12T16:30:00Z", "ignoreFreeSlotValidation": True},
        headers=headers,
    )
    assert forced.status_code == 200
    past = await client.post(
        "/calendars/events/appointments", json={**body, "startTime": "2019-01-01T10:00:00Z"}, headers=headers
    )
    assert past.status_code == 400
    historical = await client.post(
        "/calendars/events/appointments",
        json={
            **body,
            "startTime": "2019-01-01T10:00:00Z",
            "ignoreDateRange": True,
            "ignoreFreeSlotValidation": True,
        },
        headers=headers,
    )
    assert historical.status_code == 200

    got = await client.get(f"/calendars/events/appointments/{event['id']}", headers=headers)
    assert got.json()["event"]["startTime"] == "2031-06-12T10:00:00-06:00"
    moved = await client.put(
        f"/calendars/events/appointments/{event['id']}",
        json={"startTime": "2031-06-13T10:00:00-06:00", "appointmentStatus": "confirmed"},
        headers=headers,
    )
    assert moved.status_code == 200
    assert moved.json()["appointmentStatus"] == "confirmed"
    naive = await client.get(f"/contacts/{contact['id']}/appointments")
    assert "2031-06-13 10:00:00" in {e["startTime"] for e in naive.json()["events"]}

    listed = await client.get(
        "/calendars/events",
        params={
            "locationId": location.location_id,
            "calendarId": calendar["id"],
            "startTime": "1900000000000",
            "endTime": "2000000000000",
        },
        headers=headers,
    )
    assert {e["id"] for e in listed.json()["events"]} == {event["id"], forced.json()["id"]}
    no_selector = await client.get(
        "/calendars/events",
        params={"locationId": location.location_id, "startTime": "0", "endTime": "1"},
        headers=headers,
    )
    assert no_selector.status_code == 400

    deleted = await client.request("DELETE", f"/calendars/events/{event['id']}", json={}, headers=headers)
    assert deleted.status_code == 201
    assert deleted.json()["succeeded"] is True


async def test_concurrent_identical_bookings_one_wins(
    client: httpx.AsyncClient, location: LocationInfo
) -> None:
    import anyio

    calendar = await _calendar(client, location)
    contact = await new_contact(client, location, email="race@example.com")
    body = {
        "calendarId": calendar["id"],
        "locationId": location.location_id,
        "contactId": contact["id"],
        "startTime": "2032-01-05T09:00:00-07:00",
    }
    statuses: list[int] = []

    async def book() -> None:
        response = await client.post(
            "/calendars/events/appointments", json=body, headers=auth(location.token, V_CALENDARS)
        )
        statuses.append(response.status_code)

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(book)
    assert sorted(statuses) == [200, 400, 400, 400]


async def test_calendar_update_replaces_the_team_and_refuses_what_it_cannot_change(
    client: httpx.AsyncClient, location: LocationInfo, sandbox: Any
) -> None:
    calendar = await _calendar(client, location)
    headers = auth(location.token, V_CALENDARS)
    path = f"/calendars/{calendar['id']}"
    # Team members must be users of the location (strict sandbox), so make two.
    one, two = (
        await _user(client, location, "one@practice.example"),
        await _user(client, location, "two@practice.example"),
    )
    team = {"teamMembers": [{"userId": one}, {"userId": two, "priority": 1}]}
    updated = await client.put(path, json=team, headers=headers)
    assert updated.status_code == 200, updated.text
    assert updated.json()["calendar"]["teamMembers"] == team["teamMembers"]
    assert updated.json()["calendar"]["name"] == "Hygiene"  # untouched keys stay
    again = await client.put(path, json={"teamMembers": [{"userId": two}]}, headers=headers)
    assert [m["userId"] for m in again.json()["calendar"]["teamMembers"]] == [two]
    for body in ({"calendarType": "personal"}, {"locationId": "elsewhere"}, {"teamMembers": [{}]}):
        refused = await client.put(path, json=body, headers=headers)
        assert refused.status_code == 422, body
    other = sandbox.create_location()
    foreign = await client.put(path, json=team, headers=auth(other.token, V_CALENDARS))
    assert foreign.status_code in (403, 404)
    missing = await client.put("/calendars/nope", json=team, headers=headers)
    assert missing.status_code == 404
