"""Calendars and appointments (Version 2021-04-15; API-NOTES §5 and the appointment gotchas in §13)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dentrix_highlevel.sandbox._http import (
    VERSION_CALENDARS,
    ApiError,
    ApiRoute,
    Ctx,
    Field,
    Reply,
    drop_none,
    fields,
)
from dentrix_highlevel.sandbox._state import LocationState, iso_ms

__all__ = ["ROUTES", "event_view_naive"]

Json = dict[str, Any]

SLOT_TAKEN = "The slot you have selected is no longer available."
#: Spec CalendarCreateDTO.teamMembers: "Team members are required for calendars of type: Round Robin,
#: Collective, Class, Service. Personal calendar must have exactly one team member." The messages are
#: that text (HighLevel's wording is unknown); so are the two below.
TEAM_REQUIRED = "Team members are required for calendars of type: Round Robin, Collective, Class, Service."
PERSONAL_ONE = "Personal calendar must have exactly one team member."
NOT_ON_TEAM = "The selected user is not a team member of this calendar."
_TEAM_TYPES = ("round_robin", "collective", "class_booking", "service_booking")
#: An omitted calendarType: the spec declares no default; ``event`` is the one type that needs no team,
#: and calendars created without a type or team are reported to work (a guess, docs/sandbox.md).
DEFAULT_CALENDAR_TYPE = "event"
#: TeamMember (spec calendars).
_TEAM_MEMBER = {
    "userId": Field(required=True),
    "priority": Field(kind="num"),
    "meetingLocationType": Field(),
    "meetingLocation": Field(),
    "isPrimary": Field(kind="bool"),
    "locationConfigurations": Field(kind="list"),
}

#: CalendarCreateDTO's keys (spec calendars); only locationId and name are required.
_CALENDAR_KEYS = (
    "isActive",
    "notifications",
    "groupId",
    "teamMembers",
    "eventType",
    "description",
    "slug",
    "widgetSlug",
    "calendarType",
    "widgetType",
    "eventTitle",
    "eventColor",
    "meetingLocation",
    "locationConfigurations",
    "slotDuration",
    "slotDurationUnit",
    "slotInterval",
    "slotIntervalUnit",
    "slotBuffer",
    "slotBufferUnit",
    "preBuffer",
    "preBufferUnit",
    "appoinmentPerSlot",
    "appoinmentPerDay",
    "allowBookingAfter",
    "allowBookingAfterUnit",
    "allowBookingFor",
    "allowBookingForUnit",
    "openHours",
    "enableRecurring",
    "recurring",
    "formId",
    "stickyContact",
    "isLivePaymentMode",
    "autoConfirm",
    "shouldSendAlertEmailsToAssignedMember",
    "alertEmail",
    "googleInvitationEmails",
    "allowReschedule",
    "allowCancellation",
    "shouldAssignContactToTeamMember",
    "shouldSkipAssigningContactForExisting",
    "notes",
    "pixelId",
    "formSubmitType",
    "formSubmitRedirectURL",
    "formSubmitThanksMessage",
    "availabilityType",
    "availabilities",
    "guestType",
    "consentLabel",
    "calendarCoverImage",
    "lookBusyConfig",
)
_CALENDAR_CREATE = {
    **{key: Field(kind="any") for key in _CALENDAR_KEYS},
    "locationId": Field(required=True),
    "name": Field(required=True),
    "calendarType": Field(
        enum=("round_robin", "event", "class_booking", "collective", "service_booking", "personal")
    ),
    "slotDuration": Field(kind="num"),
    "slotDurationUnit": Field(enum=("mins", "hours")),
    "teamMembers": Field(kind="list"),
}

#: CalendarUpdateDTO: every key optional; ``locationId`` and ``calendarType`` cannot be changed, and it
#: has no ``slotBufferUnit`` (spec calendars).
_CALENDAR_UPDATE = {
    **{key: Field(kind="any") for key in _CALENDAR_KEYS if key not in ("calendarType", "slotBufferUnit")},
    "name": Field(),
    "teamMembers": Field(kind="list"),
    "slotDuration": Field(kind="num"),
    "slotDurationUnit": Field(enum=("mins", "hours")),
}

_STATUSES = ("new", "confirmed", "cancelled", "showed", "noshow", "invalid")
_APPOINTMENT_EDIT = {
    "title": Field(),
    "meetingLocationType": Field(enum=("custom", "zoom", "gmeet", "phone", "address", "ms_teams", "google")),
    "meetingLocationId": Field(),
    "overrideLocationConfig": Field(kind="bool"),
    "appointmentStatus": Field(enum=_STATUSES),
    **fields(Field(), "assignedUserId", "description", "address"),
    **fields(Field(kind="bool"), "ignoreDateRange", "toNotify", "ignoreFreeSlotValidation"),
    **fields(Field(), "rrule", "calendarId", "startTime", "endTime"),
}
_APPOINTMENT_CREATE = {
    **_APPOINTMENT_EDIT,
    **fields(Field(required=True), "calendarId", "locationId", "contactId", "startTime"),
}
#: Flags that steer validation; HighLevel does not store them on the event.
_FLAGS = (
    "ignoreDateRange",
    "toNotify",
    "ignoreFreeSlotValidation",
    "overrideLocationConfig",
    "meetingLocationId",
)


def _tz(loc: LocationState) -> ZoneInfo:
    return ZoneInfo(loc.timezone)


def _parse_time(loc: LocationState, value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError.unprocessable([f"{name} must be a valid ISO 8601 date string"]) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_tz(loc))
    return moment


def _local_iso(loc: LocationState, moment: datetime) -> str:
    """Offset-bearing ISO in location time, e.g. ``2027-06-12T10:00:00-06:00`` (§13)."""
    return moment.astimezone(_tz(loc)).isoformat(timespec="seconds")


def _span(event: Json) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(event["startTime"]), datetime.fromisoformat(event["endTime"])


def _slot_duration(calendar: Json) -> timedelta:
    amount = float(calendar.get("slotDuration") or 30)
    return (
        timedelta(hours=amount) if calendar.get("slotDurationUnit") == "hours" else timedelta(minutes=amount)
    )


# ---- calendars -----------------------------------------------------------------------------------


def list_calendars(ctx: Ctx) -> Reply:
    loc = ctx.location(ctx.require_query("locationId"))
    group = ctx.query.get("groupId")
    rows = [dict(c) for c in loc.calendars.values() if not group or c.get("groupId") == group]
    return Reply(200, {"calendars": rows})


def _check_team(ctx: Ctx, loc: LocationState, calendar_type: str, members: Any) -> None:
    """Team members per calendarType, each a (not deleted) user of the location."""
    if members is None:
        members = []
    for index, member in enumerate(members):
        if not isinstance(member, dict):
            raise ApiError.unprocessable([f"teamMembers.{index} must be an object"])
        ctx.check(member, _TEAM_MEMBER, prefix=f"teamMembers.{index}.")
    if not ctx.strict.calendar_teams:
        return
    if calendar_type in _TEAM_TYPES and not members:
        raise ApiError.bad_request(TEAM_REQUIRED)
    if calendar_type == "personal" and len(members) != 1:
        raise ApiError.bad_request(PERSONAL_ONE)
    users = {uid for uid, user in loc.users.items() if not user.get("deleted")}
    for member in members:
        if member["userId"] not in users:
            raise ApiError.bad_request(f"User with id {member['userId']} not found in this location")


def create_calendar(ctx: Ctx) -> Reply:
    body = ctx.body
    loc = ctx.location(body["locationId"])
    calendar_type = body.get("calendarType") or DEFAULT_CALENDAR_TYPE
    _check_team(ctx, loc, calendar_type, body.get("teamMembers"))
    calendar = {
        "isActive": True,
        "calendarType": DEFAULT_CALENDAR_TYPE,
        "slotDuration": 30,
        "slotDurationUnit": "mins",
        "teamMembers": [],
        **drop_none(body),
        "id": ctx.new_id(),
    }
    loc.calendars[calendar["id"]] = calendar
    return Reply(200, {"calendar": dict(calendar)})


def get_calendar(ctx: Ctx) -> Reply:
    _, calendar = ctx.owned("calendars", ctx.path_params["calendarId"], "Calendar")
    return Reply(200, {"calendar": dict(calendar)})


def update_calendar(ctx: Ctx) -> Reply:
    body = ctx.body
    loc, calendar = ctx.owned("calendars", ctx.path_params["calendarId"], "Calendar")
    if "teamMembers" in body and body["teamMembers"] is not None:
        _check_team(ctx, loc, calendar.get("calendarType") or DEFAULT_CALENDAR_TYPE, body["teamMembers"])
    calendar.update(drop_none(body))
    return Reply(200, {"calendar": dict(calendar)})


def delete_calendar(ctx: Ctx) -> Reply:
    loc, calendar = ctx.owned("calendars", ctx.path_params["calendarId"], "Calendar")
    # HighLevel deletes a calendar's events with it; keep no orphans that a state dump would show.
    for event_id in [eid for eid, ev in loc.events.items() if ev.get("calendarId") == calendar["id"]]:
        del loc.events[event_id]
    del loc.calendars[calendar["id"]]
    # CalendarDeleteSuccessfulResponseDTO: `success`, unlike every other delete's `succeded`.
    return Reply(200, {"success": True})


# ---- appointments --------------------------------------------------------------------------------


def _check_slot(ctx: Ctx, loc: LocationState, event: Json, flags: Json, exclude_id: str | None) -> None:
    """HighLevel's free-slot validation: no overlap on the calendar, no past start (unless told)."""
    start, end = _span(event)
    if end <= start:
        raise ApiError.bad_request("endTime must be after startTime")
    if not flags.get("ignoreDateRange") and start.timestamp() < ctx.wall_s:
        raise ApiError.bad_request(SLOT_TAKEN)
    if flags.get("ignoreFreeSlotValidation"):
        return
    for other in loc.events.values():
        if other["id"] == exclude_id or other["calendarId"] != event["calendarId"]:
            continue
        if other.get("appointmentStatus") == "cancelled":
            continue
        other_start, other_end = _span(other)
        if start < other_end and other_start < end:
            raise ApiError.bad_request(SLOT_TAKEN)


def _calendar(loc: LocationState, calendar_id: str) -> Json:
    calendar = loc.calendars.get(calendar_id)
    if calendar is None:
        raise ApiError.bad_request("Calendar not found")
    return calendar


def _write_event(ctx: Ctx, loc: LocationState, event: Json, body: Json) -> None:
    if body.get("calendarId") is not None:
        event["calendarId"] = body["calendarId"]
    calendar = _calendar(loc, event["calendarId"])
    if body.get("startTime") is not None:
        start = _parse_time(loc, body["startTime"], "startTime")
        event["startTime"] = _local_iso(loc, start)
        if body.get("endTime") is None:
            event["endTime"] = _local_iso(loc, start + _slot_duration(calendar))
    if body.get("endTime") is not None:
        event["endTime"] = _local_iso(loc, _parse_time(loc, body["endTime"], "endTime"))
    for key, value in body.items():
        if key not in _FLAGS and key not in ("startTime", "endTime", "locationId") and value is not None:
            event[key] = value
    if body.get("rrule") is not None and not body.get("ignoreFreeSlotValidation"):
        raise ApiError.bad_request("rrule is only applied when ignoreFreeSlotValidation is true")
    event["isRecurring"] = bool(event.get("rrule"))
    event["dateUpdated"] = iso_ms(ctx.wall_s)


def _check_assignee(ctx: Ctx, loc: LocationState, event: Json) -> None:
    """An appointment's ``assignedUserId`` must be on its calendar's team (``teamMembers[].userId``)."""
    user_id = event.get("assignedUserId")
    if not user_id or not ctx.strict.calendar_teams:
        return
    team = _calendar(loc, event["calendarId"]).get("teamMembers") or []
    if user_id not in {m.get("userId") for m in team if isinstance(m, dict)}:
        raise ApiError.bad_request(NOT_ON_TEAM)


def _create_view(event: Json) -> Json:
    keys = (
        "id",
        "calendarId",
        "locationId",
        "contactId",
        "startTime",
        "endTime",
        "title",
        "meetingLocationType",
        "appointmentStatus",
        "assignedUserId",
        "address",
        "isRecurring",
        "rrule",
    )
    return drop_none({k: event.get(k) for k in keys})


def _event_view(event: Json) -> Json:
    return drop_none(dict(event))


def event_view_naive(loc: LocationState, event: Json) -> Json:
    """The ``GET /contacts/{id}/appointments`` shape: naive location-time strings."""
    start, end = _span(event)
    view = _event_view(event)
    view["startTime"] = start.astimezone(_tz(loc)).strftime("%Y-%m-%d %H:%M:%S")
    view["endTime"] = end.astimezone(_tz(loc)).strftime("%Y-%m-%d %H:%M:%S")
    return view


def create_appointment(ctx: Ctx) -> Reply:
    body = ctx.body
    loc = ctx.location(body["locationId"])
    calendar = _calendar(loc, body["calendarId"])
    if body["contactId"] not in loc.contacts:
        raise ApiError.bad_request("Contact not found")
    team = calendar.get("teamMembers") or []
    default_user = team[0].get("userId") if team and isinstance(team[0], dict) else None
    now = iso_ms(ctx.wall_s)
    event: Json = {
        "id": ctx.new_id(),
        "calendarId": body["calendarId"],
        "locationId": loc.location_id,
        "contactId": body["contactId"],
        "groupId": calendar.get("groupId") or "",
        "title": "Appointment",
        "appointmentStatus": "new",
        "assignedUserId": default_user or "",
        "users": [],
        "dateAdded": now,
    }
    _write_event(ctx, loc, event, body)
    _check_assignee(ctx, loc, event)
    if event["assignedUserId"]:
        event["users"] = [event["assignedUserId"]]
    _check_slot(ctx, loc, event, body, exclude_id=None)
    loc.events[event["id"]] = event
    return Reply(200, _create_view(event))


def _event(ctx: Ctx) -> tuple[LocationState, Json]:
    return ctx.owned("events", ctx.path_params["eventId"], "Event")


def get_appointment(ctx: Ctx) -> Reply:
    _, event = _event(ctx)
    return Reply(200, {"event": _event_view(event)})


def update_appointment(ctx: Ctx) -> Reply:
    body = ctx.body
    loc, event = _event(ctx)
    updated = dict(event)
    _write_event(ctx, loc, updated, body)
    if body.get("assignedUserId") is not None or body.get("calendarId") is not None:
        _check_assignee(ctx, loc, updated)
    if any(body.get(k) is not None for k in ("startTime", "endTime", "calendarId")):
        _check_slot(ctx, loc, updated, body, exclude_id=event["id"])
    event.clear()
    event.update(updated)
    return Reply(200, _create_view(event))


def delete_event(ctx: Ctx) -> Reply:
    loc, event = _event(ctx)
    del loc.events[event["id"]]
    # Spelled correctly here, unlike every other delete (spec calendars).
    return Reply(201, {"succeeded": True})


def list_events(ctx: Ctx) -> Reply:
    loc = ctx.location(ctx.require_query("locationId"))
    try:
        start_ms = int(ctx.require_query("startTime"))
        end_ms = int(ctx.require_query("endTime"))
    except ValueError:
        raise ApiError.unprocessable(["startTime and endTime must be epoch milliseconds"]) from None
    calendar_id, user_id, group_id = (ctx.query.get(k) for k in ("calendarId", "userId", "groupId"))
    if not (calendar_id or user_id or group_id):
        raise ApiError.bad_request("calendarId, userId or groupId is required")
    window_start = datetime.fromtimestamp(start_ms / 1000, UTC)
    window_end = datetime.fromtimestamp(end_ms / 1000, UTC)
    rows = []
    for event in loc.events.values():
        if calendar_id and event["calendarId"] != calendar_id:
            continue
        if user_id and event.get("assignedUserId") != user_id:
            continue
        if group_id and event.get("groupId") != group_id:
            continue
        start, _ = _span(event)
        if window_start <= start <= window_end:
            rows.append(_event_view(event))
    return Reply(200, {"events": rows})


_V = VERSION_CALENDARS
_EVENTS_QUERY = frozenset({"locationId", "userId", "calendarId", "groupId", "startTime", "endTime"})
ROUTES = [
    ApiRoute(
        method="GET",
        path="/calendars/",
        handler=list_calendars,
        scope="calendars.readonly",
        version=_V,
        query=frozenset({"locationId", "groupId", "showDrafted"}),
    ),
    ApiRoute(
        method="POST",
        path="/calendars/",
        handler=create_calendar,
        scope="calendars.write",
        version=_V,
        body=_CALENDAR_CREATE,
    ),
    ApiRoute(
        method="GET",
        path="/calendars/events",
        handler=list_events,
        scope="calendars/events.readonly",
        version=_V,
        query=_EVENTS_QUERY,
    ),
    ApiRoute(
        method="POST",
        path="/calendars/events/appointments",
        handler=create_appointment,
        scope="calendars/events.write",
        version=_V,
        body=_APPOINTMENT_CREATE,
    ),
    ApiRoute(
        method="GET",
        path="/calendars/events/appointments/{eventId}",
        handler=get_appointment,
        scope="calendars/events.readonly",
        version=_V,
    ),
    ApiRoute(
        method="PUT",
        path="/calendars/events/appointments/{eventId}",
        handler=update_appointment,
        scope="calendars/events.write",
        version=_V,
        body=_APPOINTMENT_EDIT,
    ),
    ApiRoute(
        method="GET",
        path="/calendars/{calendarId}",
        handler=get_calendar,
        scope="calendars.readonly",
        version=_V,
    ),
    ApiRoute(
        method="PUT",
        path="/calendars/{calendarId}",
        handler=update_calendar,
        scope="calendars.write",
        version=_V,
        body=_CALENDAR_UPDATE,
    ),
    ApiRoute(
        method="DELETE",
        path="/calendars/{calendarId}",
        handler=delete_calendar,
        scope="calendars.write",
        version=_V,
    ),
    ApiRoute(
        method="DELETE",
        path="/calendars/events/{eventId}",
        handler=delete_event,
        scope="calendars/events.write",
        version=_V,
        # The spec's body is an empty object (clients send {}); any property in it is refused.
        body={},
    ),
]
