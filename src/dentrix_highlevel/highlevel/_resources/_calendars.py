"""``client.calendars`` (Version 2021-04-15 like every ``/calendars`` path)."""

from __future__ import annotations

from typing import Any

from dentrix_highlevel.highlevel._models import Calendar
from dentrix_highlevel.highlevel._request_kind import RequestKind
from dentrix_highlevel.highlevel._resources._base import Resource, seg

__all__ = ["Calendars"]


class Calendars(Resource):
    async def list(self) -> tuple[Calendar, ...]:
        return await self._list_location("/calendars/", tuple[Calendar, ...], key="calendars")

    async def get(self, calendar_id: str) -> Calendar:
        path = f"/calendars/{seg(calendar_id)}"
        return await self._get(path, Calendar, key="calendar")

    async def create(
        self,
        *,
        name: str,
        calendar_type: str | None = None,
        description: str | None = None,
        slot_duration: int | None = None,
        team_member_ids: tuple[str, ...] = (),
    ) -> Calendar:
        payload: dict[str, Any] = {"locationId": self._location_id, "name": name}
        if calendar_type is not None:
            payload["calendarType"] = calendar_type
        if description is not None:
            payload["description"] = description
        if slot_duration is not None:
            payload["slotDuration"] = slot_duration
        if team_member_ids:
            payload["teamMembers"] = [{"userId": user_id} for user_id in team_member_ids]
        path = "/calendars/"
        return await self._create(
            path, Calendar, key="calendar", json=payload, resource="calendar", lookup={"name": name}
        )

    async def update(self, calendar_id: str, *, team_member_ids: tuple[str, ...]) -> Calendar:
        """``PUT /calendars/{id}`` with the calendar's whole team (``teamMembers`` replaces the list)."""
        path = f"/calendars/{seg(calendar_id)}"
        return await self._put(
            path,
            Calendar,
            key="calendar",
            json={"teamMembers": [{"userId": user_id} for user_id in team_member_ids]},
        )

    async def delete(self, calendar_id: str) -> None:
        """Delete a calendar (HighLevel deletes its events with it)."""
        await self._client.call("DELETE", f"/calendars/{seg(calendar_id)}", kind=RequestKind.IDEMPOTENT)

    async def find(self, *, name: str) -> Calendar | None:
        return next((c for c in await self.list() if c.name == name), None)
