"""Appointments as calendar events: which appointments migrate, and their events.

Future, live appointments (and past ones with ``past_appointments="events"``) become events on the calendar
the layout picks; an interrupted create is found again by calendar + contact + start time.
"""

from __future__ import annotations

from typing import Any

from dentrix_highlevel.highlevel import RequestKind
from dentrix_highlevel.mapping import (
    DefaultMapOptions,
    PastAppointmentsMode,
)
from dentrix_highlevel.migration._engine.calendar_layout import SINGLE_CALENDAR, calendar_group
from dentrix_highlevel.migration._engine.context import RunContext, content_hash
from dentrix_highlevel.migration._engine.diff import FieldDiff, diff_object
from dentrix_highlevel.migration._engine.policies import CalendarLayout
from dentrix_highlevel.migration._engine.writers.base import (
    CountScope,
    PatientObjects,
    Writer,
    delete_at,
    feature,
    skip,
)
from dentrix_highlevel.records import Appointment, AppointmentStatusMeaning, PatientBundle

__all__ = [
    "APPOINTMENT_SERVER_DEFAULTS",
    "KIND",
    "WRITER",
    "appointment_is_live",
    "appointment_key",
    "appointment_migrates",
    "migrated_appointment",
    "write_appointments",
]

#: What HighLevel fills in on an appointment written without it (a title from the calendar, status "new").
APPOINTMENT_SERVER_DEFAULTS = ("title", "appointmentStatus")
_APPOINTMENT_KEYS = ("startTime", "endTime", "title", "appointmentStatus", "description", "assignedUserId")


def appointment_key(appointment: Appointment) -> str:
    return f"appointment:{appointment.appointment_id}"


def migrated_appointment(ctx: RunContext, appointment: Appointment) -> bool:
    """Future, live appointments become events; past ones are summarised on the contact (per options)."""
    return appointment_migrates(ctx.options, appointment)


def appointment_is_live(appointment: Appointment) -> bool:
    """Booked and kept: not deleted, not broken (flag or a status meaning "broken"), with a start time.
    Only live appointments can become events; the plan counts by the same rule."""
    return not (
        appointment.deleted
        or appointment.broken
        or appointment.start is None
        or appointment.status_meaning is AppointmentStatusMeaning.BROKEN
    )


def appointment_migrates(options: DefaultMapOptions, appointment: Appointment) -> bool:
    """:func:`migrated_appointment` from the options alone (setup, the plan and the source counts use it)."""
    if not appointment_is_live(appointment) or appointment.start is None:
        return False
    if options.past_appointments is PastAppointmentsMode.EVENTS:
        return True
    return appointment.start >= options.as_of


async def write_appointments(ctx: RunContext, bundle: PatientBundle, contact_id: str | None) -> None:
    appt_map = ctx.maps.get("appointment")
    state = ctx.state
    layout = ctx.policies.calendars
    if appt_map is None:
        return
    for appointment in bundle.appointments:
        key = appointment_key(appointment)
        if not migrated_appointment(ctx, appointment):
            await skip(ctx, "appointment", key, "past, broken or deleted: summarised on the contact")
            continue
        group = calendar_group(layout, appointment)
        calendar_id = state.calendar_ids.get(group)
        if calendar_id is None and group == SINGLE_CALENDAR:
            calendar_id = state.calendar_id
        if calendar_id is None:
            await skip(ctx, "appointment", key, "no calendar in the plan")
            continue
        if contact_id is None:
            await skip(ctx, "appointment", key, "the patient has no contact in HighLevel")
            continue
        result = appt_map.apply(appointment, practice=ctx.practice)
        payload = {k: v for k, v in result.payload.items() if k in _APPOINTMENT_KEYS}
        if "startTime" not in payload:
            await skip(ctx, "appointment", key, "no start time")
            continue
        user_id = state.user_ids.get(appointment.provider_id or "") if ctx.policies.provider_users else None
        if user_id is not None:
            payload.setdefault("assignedUserId", user_id)
        reasons = []
        if layout is not CalendarLayout.SINGLE:
            reasons.append(
                f"calendar {group}" if group != SINGLE_CALENDAR else f"no {layout.value}: single calendar"
            )
        assigned = payload.get("assignedUserId")
        if assigned is not None and assigned not in state.calendar_teams.get(calendar_id, frozenset()):
            # HighLevel refuses a user who is not on the calendar's team; the practice's own calendars
            # are never modified, so the appointment is booked unassigned there.
            del payload["assignedUserId"]
            reasons.append("provider's user is not on the calendar's team: unassigned")
        await _appointment(
            ctx,
            key,
            contact_id,
            calendar_id,
            payload,
            reason="; ".join(reasons) or None,
            by_calendar=layout is not CalendarLayout.SINGLE,
        )


async def _appointment(
    ctx: RunContext,
    key: str,
    contact_id: str,
    calendar_id: str,
    payload: dict[str, Any],
    *,
    reason: str | None = None,
    by_calendar: bool = False,
) -> None:
    # Imports never notify the patient and never fail on slot rules (API-NOTES: toNotify / free slot).
    flags = {"toNotify": False, "ignoreFreeSlotValidation": True, "ignoreDateRange": True}
    lookup = {"calendarId": calendar_id, "contactId": contact_id, "startTime": str(payload["startTime"])}

    async def create() -> str:
        placed = {"calendarId": calendar_id, "contactId": contact_id, "locationId": ctx.hl.location_id}
        return await ctx.create(
            "/calendars/events/appointments",
            {**payload, **flags, **placed},
            resource="appointment",
            lookup=lookup,
            wrapped=False,
        )

    async def update(event_id: str) -> None:
        await ctx.call(
            "PUT",
            f"/calendars/events/appointments/{event_id}",
            kind=RequestKind.IDEMPOTENT,
            json={**payload, **flags, "calendarId": calendar_id},
        )

    hashed: dict[str, Any] = {**payload, "contact": contact_id}
    if by_calendar:
        # Layouts other than single: a new calendar for the appointment (layout changed) moves it.
        hashed["calendar"] = calendar_id
    await ctx.ensure_object(
        kind="appointment",
        key=key,
        digest=content_hash(hashed),
        lookup=lookup,
        create=create,
        update=update,
        parent_id=contact_id,
        reason=reason,
    )


KIND = "appointment"


def _count(scope: CountScope) -> int:
    """Every appointment is accounted for (those that do not migrate as skipped, with the reason)."""
    return sum(len(b.appointments) for b in scope.bundles) if "appointment" in scope.maps else 0


async def _write(ctx: RunContext, objects: PatientObjects) -> None:
    await write_appointments(ctx, objects.bundle, objects.contact_id)


async def _read_back(ctx: RunContext, bundle: PatientBundle) -> list[FieldDiff]:
    appt_map = ctx.maps.get("appointment")
    rows: list[FieldDiff] = []
    for appointment in bundle.appointments:
        key = appointment_key(appointment)
        event_id = await ctx.db(ctx.ledger.destination_of, KIND, key)
        if event_id is None or appt_map is None or not migrated_appointment(ctx, appointment):
            continue
        path = f"/calendars/events/appointments/{event_id}"
        event = await ctx.hl.call("GET", path, kind=RequestKind.READ)
        rows += diff_object(
            field_map=appt_map,
            record=appointment,
            source_key=key,
            destination_id=event_id,
            expected=appt_map.apply(appointment, practice=ctx.practice).payload,
            actual=event.get("event") or event,
            field_ids=ctx.state.field_ids,
            server_defaults=APPOINTMENT_SERVER_DEFAULTS,
        )
    return rows


FEATURE = feature(
    "appointments",
    "find or create the calendars (their teams), create, read back and (rollback) delete appointments",
    "GET /calendars/",
    "POST /calendars/",
    "GET /calendars/{calendarId}",
    "PUT /calendars/{calendarId}",
    "DELETE /calendars/{calendarId}",
    "POST /calendars/events/appointments",
    "PUT /calendars/events/appointments/{eventId}",
    "GET /calendars/events/appointments/{eventId}",
    "GET /calendars/events",
    "DELETE /calendars/events/{eventId}",
)


WRITER = Writer(
    kind=KIND,
    # HighLevel's event delete wants a JSON body, even an empty one.
    delete=delete_at(lambda _ctx, event_id, _contact: f"/calendars/events/{event_id}", with_body=True),
    count=_count,
    write_for_patient=_write,
    read_back=_read_back,
    feature=FEATURE,
    in_plan=lambda policies, mapped: policies.calendar_name is not None and mapped("appointment"),
)
