"""``client.appointments``: calendar events (create/get/update/delete, listing by time window)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.highlevel._convert import write
from dentrix_highlevel.highlevel._inputs import AppointmentInput
from dentrix_highlevel.highlevel._models import Appointment
from dentrix_highlevel.highlevel._request_kind import RequestKind
from dentrix_highlevel.highlevel._resources._base import Resource, seg

__all__ = ["Appointments"]


def _epoch_ms(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise ConfigurationError("listing windows need aware datetimes")
    return str(int(moment.timestamp() * 1000))


def _instant(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


class Appointments(Resource):
    async def create(self, appointment: AppointmentInput) -> Appointment:
        """``POST /calendars/events/appointments`` (200, flat body)."""
        path = "/calendars/events/appointments"
        return await self._create_located(
            path, Appointment, key=None, item=appointment, resource="appointment"
        )

    async def get(self, event_id: str) -> Appointment:
        path = f"/calendars/events/appointments/{seg(event_id)}"
        return await self._get(path, Appointment, key="event")

    async def update(self, event_id: str, appointment: AppointmentInput) -> Appointment:
        payload = {k: v for k, v in write(appointment).items() if k != "contactId"}
        path = f"/calendars/events/appointments/{seg(event_id)}"
        return await self._put(path, Appointment, key=None, json=payload)

    async def delete(self, event_id: str) -> None:
        """``DELETE /calendars/events/{id}`` with an empty JSON body (HighLevel answers 201)."""
        await self._client.call(
            "DELETE", f"/calendars/events/{seg(event_id)}", kind=RequestKind.IDEMPOTENT, json={}
        )

    async def list(
        self,
        *,
        start: dt.datetime,
        end: dt.datetime,
        calendar_id: str | None = None,
        user_id: str | None = None,
        group_id: str | None = None,
    ) -> tuple[Appointment, ...]:
        """Events between ``start`` and ``end`` for exactly one of calendar, user or group."""
        scopes = {"calendarId": calendar_id, "userId": user_id, "groupId": group_id}
        chosen = {k: v for k, v in scopes.items() if v}
        if len(chosen) != 1:
            raise ConfigurationError("give exactly one of calendar_id, user_id, group_id")
        params: dict[str, Any] = {
            "locationId": self._location_id,
            "startTime": _epoch_ms(start),
            "endTime": _epoch_ms(end),
            **chosen,
        }
        path = "/calendars/events"
        return await self._get(path, tuple[Appointment, ...], key="events", params=params)

    async def find(self, *, calendar_id: str, contact_id: str, start_time: str) -> Appointment | None:
        """The contact's event on that calendar starting at that instant (resolves an ambiguous create)."""
        start = _instant(start_time)
        if start is None:
            raise ConfigurationError("start_time must be ISO-8601 with an offset")
        window = dt.timedelta(days=1)
        events = await self.list(start=start - window, end=start + window, calendar_id=calendar_id)
        for event in events:
            if event.contact_id == contact_id and _instant(event.start_time) == start:
                return event
        return None
