"""``client.locations``: the sub-account itself (duplicate settings, timezone, company)."""

from __future__ import annotations

from dentrix_highlevel.highlevel._models import Location
from dentrix_highlevel.highlevel._resources._base import Resource, seg

__all__ = ["Locations"]


class Locations(Resource):
    async def get(self, location_id: str | None = None) -> Location:
        """``GET /locations/{id}`` (default: the client's location)."""
        path = f"/locations/{seg(location_id or self._location_id)}"
        return await self._get(path, Location, key="location")
