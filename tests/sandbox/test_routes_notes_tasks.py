"""Notes and tasks under /contacts/{id}/..."""

from __future__ import annotations

import httpx
import pytest

from dentrix_highlevel.sandbox import LocationInfo

from ._helpers import new_contact

pytestmark = pytest.mark.anyio


async def test_notes_crud(client: httpx.AsyncClient, location: LocationInfo) -> None:
    contact = await new_contact(client, location, email="n@example.com")
    base = f"/contacts/{contact['id']}/notes"
    created = await client.post(base, json={"body": "Prefers mornings", "pinned": True})
    assert created.status_code == 201
    note = created.json()["note"]
    assert note["contactId"] == contact["id"]
    assert note["pinned"] is True
    assert "dateAdded" in note
    assert (await client.post(base, json={"title": "no body"})).status_code == 422
    assert [n["id"] for n in (await client.get(base)).json()["notes"]] == [note["id"]]
    assert (await client.get(f"{base}/{note['id']}")).json()["note"]["body"] == "Prefers mornings"
    updated = await client.put(f"{base}/{note['id']}", json={"body": "Prefers afternoons"})
    assert updated.status_code == 200
    assert updated.json()["note"]["body"] == "Prefers afternoons"
    deleted = await client.delete(f"{base}/{note['id']}")
    assert deleted.status_code == 200
    assert deleted.json()["succeded"] is True
    assert (await client.get(f"{base}/{note['id']}")).status_code == 404


async def test_tasks_crud_and_completed(client: httpx.AsyncClient, location: LocationInfo) -> None:
    contact = await new_contact(client, location, email="t@example.com")
    base = f"/contacts/{contact['id']}/tasks"
    created = await client.post(
        base, json={"title": "Call back", "dueDate": "2027-01-05T15:00:00Z", "completed": False}
    )
    assert created.status_code == 201
    task = created.json()["task"]
    missing = await client.post(base, json={"title": "x"})
    assert missing.status_code == 422
    assert {"dueDate should not be empty", "completed should not be empty"} <= set(missing.json()["message"])
    assert [t["id"] for t in (await client.get(base)).json()["tasks"]] == [task["id"]]
    done = await client.put(f"{base}/{task['id']}/completed", json={"completed": True})
    assert done.status_code == 200
    assert done.json()["task"]["completed"] is True
    edited = await client.put(f"{base}/{task['id']}", json={"title": "Call again"})
    assert edited.json()["task"]["title"] == "Call again"
    deleted = await client.delete(f"{base}/{task['id']}")
    assert deleted.status_code == 200
    assert deleted.json()["succeded"] is True
    assert (await client.get(f"{base}/{task['id']}")).status_code == 404


async def test_deleting_a_contact_removes_its_notes_and_tasks(
    client: httpx.AsyncClient, location: LocationInfo
) -> None:
    contact = await new_contact(client, location, email="gone@example.com")
    await client.post(f"/contacts/{contact['id']}/notes", json={"body": "x"})
    await client.post(
        f"/contacts/{contact['id']}/tasks",
        json={"title": "y", "dueDate": "2027-01-05T15:00:00Z", "completed": False},
    )
    await client.delete(f"/contacts/{contact['id']}")
    state = (await client.get("/_sandbox/state")).json()["locations"][location.location_id]
    assert state["notes"] == []
    assert state["tasks"] == []
