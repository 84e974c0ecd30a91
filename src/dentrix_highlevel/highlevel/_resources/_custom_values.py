"""``client.custom_values``: location-level merge values (``{{ custom_values.x }}``)."""

from __future__ import annotations

from dentrix_highlevel.highlevel._convert import write
from dentrix_highlevel.highlevel._inputs import CustomValueInput
from dentrix_highlevel.highlevel._models import CustomValue
from dentrix_highlevel.highlevel._request_kind import RequestKind
from dentrix_highlevel.highlevel._resources._base import Resource, seg

__all__ = ["CustomValues"]


class CustomValues(Resource):
    def _path(self, value_id: str | None = None) -> str:
        base = f"/locations/{seg(self._location_id)}/customValues"
        return base if value_id is None else f"{base}/{seg(value_id)}"

    async def list(self) -> tuple[CustomValue, ...]:
        path = self._path()
        return await self._get(path, tuple[CustomValue, ...], key="customValues")

    async def get(self, value_id: str) -> CustomValue:
        path = self._path(value_id)
        return await self._get(path, CustomValue, key="customValue")

    async def create(self, value: CustomValueInput) -> CustomValue:
        lookup = {"name": value.name}
        path = self._path()
        return await self._create(
            path, CustomValue, key="customValue", json=write(value), resource="custom_value", lookup=lookup
        )

    async def update(self, value_id: str, value: CustomValueInput) -> CustomValue:
        path = self._path(value_id)
        return await self._put(path, CustomValue, key="customValue", json=write(value))

    async def delete(self, value_id: str) -> None:
        await self._client.call("DELETE", self._path(value_id), kind=RequestKind.IDEMPOTENT)

    async def find(self, *, name: str) -> CustomValue | None:
        for value in await self.list():
            if value.name == name:
                return value
        return None
