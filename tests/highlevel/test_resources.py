"""Every resource method, over HTTP against the in-process sandbox (scaled rate window)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dentrix_highlevel.errors import ConfigurationError, DuplicateContactError, NotFoundError
from dentrix_highlevel.highlevel import (
    AppointmentInput,
    ContactInput,
    CustomFieldInput,
    CustomFieldValue,
    CustomValueInput,
    HighLevelClient,
    NoteInput,
    OpportunityInput,
    TaskInput,
    UserInput,
)

pytestmark = pytest.mark.anyio

MOUNTAIN = dt.timezone(dt.timedelta(hours=-7))


async def test_contact_create_get_update_delete(client: HighLevelClient, scaled_sandbox: Any) -> None:
    created = await client.contacts.create(
        ContactInput(first_name="Ada", last_name="Lovelace", email="Ada@Example.COM", phone="(303) 555-0101")
    )
    got = await client.contacts.get(created.id)
    assert (got.email, got.phone, got.first_name) == ("ada@example.com", "+13035550101", "Ada")
    updated = await client.contacts.update(created.id, ContactInput(city="Denver", tags=["recall"]))
    assert updated.city == "Denver"
    assert updated.tags == ("recall",)
    with pytest.raises(ConfigurationError):
        await client.contacts.update(created.id, ContactInput(gender="female"))
    await client.contacts.delete(created.id)
    with pytest.raises(NotFoundError) as gone:
        await client.contacts.get(created.id)
    assert gone.value.path == f"/contacts/{created.id}"
    assert gone.value.status_code == 404


async def test_duplicate_create_names_the_existing_contact(client: HighLevelClient) -> None:
    first = await client.contacts.create(ContactInput(email="dup@example.com"))
    with pytest.raises(DuplicateContactError) as caught:
        await client.contacts.create(ContactInput(email="dup@example.com", first_name="Other"))
    assert caught.value.contact_id == first.id
    assert caught.value.matching_field == "email"


async def test_upsert_matches_by_email_then_phone_and_duplicate_lookup(
    client: HighLevelClient, scaled_sandbox: Any
) -> None:
    first = await client.contacts.upsert(ContactInput(email="u@example.com", phone="+13035550199"))
    assert first.new is True
    assert first.trace_id
    again = await client.contacts.upsert(ContactInput(phone="303-555-0199", first_name="Una"))
    assert again.new is False
    assert again.contact.id == first.contact.id
    scaled_sandbox.settle_search_index()  # the duplicate lookup is a search: it lags writes
    assert (await client.contacts.find_duplicate(phone="3035550199")).id == first.contact.id  # type: ignore[union-attr]
    assert (await client.contacts.find_duplicate(email="U@example.com")).id == first.contact.id  # type: ignore[union-attr]
    assert await client.contacts.find_duplicate(email="nobody@example.com") is None
    with pytest.raises(ConfigurationError):
        await client.contacts.upsert(ContactInput(first_name="No keys"))


async def test_custom_field_values_round_trip_in_their_types(client: HighLevelClient) -> None:
    balance = await client.custom_fields.create(CustomFieldInput(name="Balance", data_type="MONETORY"))
    visit = await client.custom_fields.create(CustomFieldInput(name="Last Visit", data_type="DATE"))
    plans = await client.custom_fields.create(
        CustomFieldInput(name="Plans", data_type="MULTIPLE_OPTIONS", options=["Delta", "Cigna"])
    )
    assert plans.picklist_options == ("Delta", "Cigna")
    values = [
        CustomFieldValue.for_field(balance, 120.5),
        CustomFieldValue.for_field(visit, dt.date(2024, 5, 1)),
        CustomFieldValue.for_field(plans, ["Cigna"]),
    ]
    result = await client.contacts.upsert(ContactInput(email="cf@example.com", custom_fields=values))
    contact = await client.contacts.get(result.contact.id)
    assert contact.custom_value(balance.id) == 120.5
    visit_reading = contact.custom_reading(visit.id)
    assert visit_reading is not None
    assert visit_reading.as_date() == dt.date(2024, 5, 1)
    assert contact.custom_value(plans.id) == ["Cigna"]


async def test_custom_fields_list_get_by_id_and_key_update_delete(client: HighLevelClient) -> None:
    field = await client.custom_fields.create(
        CustomFieldInput(name="Insurance Carrier", data_type="TEXT", field_key="contact.insurance_carrier")
    )
    assert field.field_key == "contact.insurance_carrier"
    assert (await client.custom_fields.get(field.id)).id == field.id
    assert (await client.custom_fields.get("contact.insurance_carrier")).id == field.id
    assert [f.id for f in await client.custom_fields.list(model="contact")] == [field.id]
    renamed = await client.custom_fields.update(field.id, CustomFieldInput(name="Carrier", data_type="TEXT"))
    assert renamed.name == "Carrier"
    assert (await client.custom_fields.find(name="carrier")).id == field.id  # type: ignore[union-attr]
    await client.custom_fields.delete(field.id)
    assert await client.custom_fields.list() == ()


async def test_custom_values_crud(client: HighLevelClient) -> None:
    value = await client.custom_values.create(CustomValueInput(name="Practice Phone", value="303-555-0100"))
    assert (await client.custom_values.get(value.id)).value == "303-555-0100"
    updated = await client.custom_values.update(value.id, CustomValueInput(name="Practice Phone", value="x"))
    assert updated.value == "x"
    assert [v.id for v in await client.custom_values.list()] == [value.id]
    await client.custom_values.delete(value.id)
    assert await client.custom_values.find(name="Practice Phone") is None


async def test_notes_and_tasks(client: HighLevelClient) -> None:
    contact = (await client.contacts.upsert(ContactInput(email="n@example.com"))).contact
    note = await client.notes.create(contact.id, NoteInput(body="Prefers mornings"))
    assert (await client.notes.get(contact.id, note.id)).body == "Prefers mornings"
    assert (await client.notes.update(contact.id, note.id, NoteInput(body="Evenings"))).body == "Evenings"
    assert [n.id for n in await client.notes.list(contact.id)] == [note.id]
    await client.notes.delete(contact.id, note.id)
    assert await client.notes.list(contact.id) == ()

    due = dt.datetime(2030, 1, 2, 9, 0, tzinfo=dt.UTC)
    task = await client.tasks.create(contact.id, TaskInput(title="Call back", due_date=due))
    assert task.completed is False
    assert (await client.tasks.set_completed(contact.id, task.id, True)).completed is True
    edited = await client.tasks.update(
        contact.id, task.id, TaskInput(title="Call", due_date=due, completed=True)
    )
    assert edited.title == "Call"
    assert (await client.tasks.get(contact.id, task.id)).title == "Call"
    assert [t.id for t in await client.tasks.list(contact.id)] == [task.id]
    await client.tasks.delete(contact.id, task.id)
    assert await client.tasks.list(contact.id) == ()


async def test_tags_add_remove_bulk_and_location_catalogue(client: HighLevelClient) -> None:
    a = (await client.contacts.upsert(ContactInput(email="t1@example.com", tags=["old"]))).contact
    b = (await client.contacts.upsert(ContactInput(email="t2@example.com"))).contact
    assert set(await client.contacts.add_tags(a.id, ["recall"])) >= {"old", "recall"}
    assert "old" not in await client.contacts.remove_tags(a.id, ["old"])
    assert await client.tags.bulk([a.id, b.id], ["vip"]) == 0
    assert "vip" in (await client.contacts.get(b.id)).tags
    tag = await client.tags.create("hygiene")
    assert any(t.id == tag.id for t in await client.tags.list())
    await client.tags.delete(tag.id)
    assert all(t.id != tag.id for t in await client.tags.list())


async def test_location_users_pipelines(client: HighLevelClient, loc: Any) -> None:
    location = await client.locations.get()
    assert location.id == loc.location_id
    assert location.company_id == loc.company_id
    assert location.timezone == "America/Denver"
    assert location.allows_duplicate_contacts is False
    user = await client.users.create(
        UserInput(first_name="Dr", last_name="Who", email="dr@example.com", password="pw-123456")
    )
    assert (await client.users.get(user.id)).email == "dr@example.com"
    assert (
        await client.users.update(
            user.id, UserInput(first_name="Doc", last_name="Who", email="dr@example.com")
        )
    ).first_name == "Doc"
    assert (await client.users.find(email="dr@example.com")).id == user.id  # type: ignore[union-attr]
    await client.users.delete(user.id)
    pipeline = await client.pipelines.find(name="patient lifecycle")
    assert pipeline is not None
    assert [s.name for s in pipeline.stages] == ["New Patient", "Active", "Recall", "Inactive"]


async def test_opportunities(client: HighLevelClient, scaled_sandbox: Any) -> None:
    contact = (await client.contacts.upsert(ContactInput(email="o@example.com"))).contact
    pipeline = (await client.pipelines.list())[0]
    stage = pipeline.stage_named("Active")
    assert stage is not None
    opp = await client.opportunities.create(
        OpportunityInput(pipeline_id=pipeline.id, name="Crown", contact_id=contact.id, monetary_value=1200.0)
    )
    assert opp.monetary_value == 1200.0
    upserted = await client.opportunities.upsert(
        OpportunityInput(
            pipeline_id=pipeline.id, name="Crown", contact_id=contact.id, pipeline_stage_id=stage.id
        )
    )
    assert upserted.new is False
    assert upserted.opportunity.id == opp.id
    assert (await client.opportunities.get(opp.id)).pipeline_stage_id == stage.id
    changed = await client.opportunities.update(
        opp.id, OpportunityInput(pipeline_id=pipeline.id, name="Crown #2", contact_id=contact.id)
    )
    assert changed.name == "Crown #2"
    await client.opportunities.set_status(opp.id, "won")
    assert (await client.opportunities.get(opp.id)).status == "won"
    scaled_sandbox.settle_search_index()  # searches lag writes, as on HighLevel
    found = [o.id async for o in client.opportunities.search(contact_id=contact.id)]
    assert found == [opp.id]
    await client.opportunities.delete(opp.id)
    scaled_sandbox.settle_search_index()  # a delete leaves the index late too
    assert await client.opportunities.find(contact_id=contact.id, pipeline_id=pipeline.id) is None


async def test_calendar_delete(client: HighLevelClient) -> None:
    calendar = await client.calendars.create(name="Retired chair")
    await client.calendars.delete(calendar.id)
    assert await client.calendars.list() == ()
    with pytest.raises(NotFoundError):
        await client.calendars.get(calendar.id)


async def test_calendars_and_appointments(client: HighLevelClient) -> None:
    calendar = await client.calendars.create(name="Hygiene")
    assert [c.id for c in await client.calendars.list()] == [calendar.id]
    assert (await client.calendars.get(calendar.id)).name == "Hygiene"
    contact = (await client.contacts.upsert(ContactInput(email="a@example.com"))).contact
    start = dt.datetime(2030, 6, 12, 10, 0, tzinfo=MOUNTAIN)
    appt = await client.appointments.create(
        AppointmentInput.historical(
            calendar_id=calendar.id,
            contact_id=contact.id,
            start_time=start,
            end_time=start + dt.timedelta(hours=1),
        )
    )
    got = await client.appointments.get(appt.id)
    assert got.contact_id == contact.id
    moved = await client.appointments.update(
        appt.id,
        AppointmentInput.historical(
            calendar_id=calendar.id,
            contact_id=contact.id,
            start_time=start + dt.timedelta(hours=2),
            title="Cleaning",
        ),
    )
    assert moved.title == "Cleaning"
    listed = await client.appointments.list(
        start=start - dt.timedelta(days=1), end=start + dt.timedelta(days=1), calendar_id=calendar.id
    )
    assert [e.id for e in listed] == [appt.id]
    found = await client.appointments.find(
        calendar_id=calendar.id, contact_id=contact.id, start_time=(start + dt.timedelta(hours=2)).isoformat()
    )
    assert found is not None
    assert found.id == appt.id
    await client.appointments.delete(appt.id)
    assert (
        await client.appointments.list(start=start, end=start + dt.timedelta(days=1), calendar_id=calendar.id)
        == ()
    )


async def test_media_upload_bytes_and_hosted(client: HighLevelClient) -> None:
    uploaded = await client.media.upload(
        b"%PDF-1.4 consent", name="consent.pdf", content_type="application/pdf"
    )
    assert uploaded.file_id
    assert uploaded.url
    hosted = await client.media.upload_url("https://files.example/x-ray.png", name="x-ray.png")
    assert hosted.file_id != uploaded.file_id
    with pytest.raises(ConfigurationError):
        await client.media.upload(b"0" * (25 * 1024 * 1024 + 1), name="big.bin")


async def test_search_pages_then_switches_to_search_after(
    client: HighLevelClient, scaled_sandbox: Any
) -> None:
    ids = {
        (await client.contacts.upsert(ContactInput(email=f"s{i}@example.com"))).contact.id for i in range(23)
    }
    scaled_sandbox.settle_search_index()
    before = len(scaled_sandbox.request_log)
    # A 10-row page window (scaled down from HighLevel's 10,000) forces the cursor after 2 pages of 5.
    seen = [c.id async for c in client.contacts.search(page_limit=5, page_window_rows=10)]
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == ids
    assert len(scaled_sandbox.request_log) - before == 5


async def test_every_ambiguous_create_can_be_resolved(client: HighLevelClient, scaled_sandbox: Any) -> None:
    from dentrix_highlevel.errors import AmbiguousWriteError
    from dentrix_highlevel.sandbox import FaultConfig

    contact = (await client.contacts.upsert(ContactInput(email="amb2@example.com"))).contact
    pipeline = (await client.pipelines.list())[0]
    calendar = await client.calendars.create(name="Ortho")
    start = dt.datetime(2031, 3, 4, 8, 30, tzinfo=MOUNTAIN)
    await client.users.company_id()  # cached before the faults: user creates need it
    creates: dict[str, Callable[[], Awaitable[Any]]] = {
        "custom_field": lambda: client.custom_fields.create(
            CustomFieldInput(name="Chart No", data_type="TEXT")
        ),
        "custom_value": lambda: client.custom_values.create(CustomValueInput(name="Office", value="Main")),
        "task": lambda: client.tasks.create(contact.id, TaskInput(title="Recall", due_date=start)),
        "opportunity": lambda: client.opportunities.create(
            OpportunityInput(pipeline_id=pipeline.id, name="Implant", contact_id=contact.id)
        ),
        "appointment": lambda: client.appointments.create(
            AppointmentInput.historical(calendar_id=calendar.id, contact_id=contact.id, start_time=start)
        ),
        "user": lambda: client.users.create(
            UserInput(first_name="Hy", last_name="Gienist", email="hy@example.com", password="pw-123456")
        ),
        "tag": lambda: client.tags.create("ortho"),
        "calendar": lambda: client.calendars.create(name="Perio"),
    }
    for resource, create in creates.items():
        scaled_sandbox.set_faults(FaultConfig(error_after_commit_rate=1.0))
        with pytest.raises(AmbiguousWriteError) as caught:
            await create()
        scaled_sandbox.set_faults(FaultConfig())
        assert caught.value.resource == resource
        scaled_sandbox.settle_search_index()  # a lookup by search runs after HighLevel's index caught up
        found = await client.find_created(caught.value)
        assert found is not None, resource
        assert found.id

    scaled_sandbox.set_faults(FaultConfig(error_after_commit_rate=1.0))
    with pytest.raises(AmbiguousWriteError) as media:
        await client.media.upload(b"x", name="x.txt")
    scaled_sandbox.set_faults(FaultConfig())
    # Media is found again by its name (the migration names uploads from ids only).
    found_media = await client.find_created(media.value)
    assert found_media is not None
    assert found_media.name == "x.txt"
    with pytest.raises(ConfigurationError):
        await client.find_created(AmbiguousWriteError("x", resource="folder", lookup={}))


async def test_legacy_list_follows_its_cursor_to_the_end(
    client: HighLevelClient, scaled_sandbox: Any
) -> None:
    created = {
        (await client.contacts.upsert(ContactInput(email=f"legacy{i}@example.com"))).contact.id
        for i in range(7)
    }
    scaled_sandbox.settle_search_index()
    listed = [c.id async for c in client.contacts.list_legacy(limit=3)]
    assert len(listed) == len(created)  # three pages of 3, 3 and 1, nothing twice
    assert set(listed) == created
    with pytest.raises(ConfigurationError):
        [c async for c in client.contacts.list_legacy(limit=101)]


async def test_contact_appointments_read_back_in_location_time(client: HighLevelClient) -> None:
    calendar = await client.calendars.create(name="Recall")
    contact = (await client.contacts.upsert(ContactInput(email="appts@example.com"))).contact
    start = dt.datetime(2030, 7, 1, 9, 30, tzinfo=ZoneInfo("America/Denver"))  # the location's zone
    made = await client.appointments.create(
        AppointmentInput.historical(
            calendar_id=calendar.id,
            contact_id=contact.id,
            start_time=start,
            end_time=start + dt.timedelta(hours=1),
        )
    )
    events = await client.contacts.appointments(contact.id)
    assert [e.id for e in events] == [made.id]
    assert events[0].start_time == "2030-07-01 09:30:00"  # naive, location time (API-NOTES §13)
