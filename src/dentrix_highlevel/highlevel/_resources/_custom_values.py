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
        body = await self._client.call("GET", path, kind=RequestKind.READ)
        return self._read(body, tuple[CustomValue, ...], key="customValues", method="GET", path=path)

    async def get(self, value_id: str) -> CustomValue:
        path = self._path(value_id)
        body = await self._client.call("GET", path, kind=RequestKind.READ)
        return self._read(body, CustomValue, key="customValue", method="GET", path=path)

    async def create(self, value: CustomValueInput) -> CustomValue:
        path = self._path()
        body = await self._client.call(
            "POST",
            path,
            kind=RequestKind.CREATE,
            json=write(value),
            resource="custom_value",
            lookup={"name": value.name},
        )
        return self._read(body, CustomValue, key="customValue", method="POST", path=path)

    async def update(self, value_id: str, value: CustomValueInput) -> CustomValue:
        path = self._path(value_id)
        body = await self._client.call("PUT", path, kind=RequestKind.IDEMPOTENT, json=write(value))
        return self._read(body, CustomValue, key="customValue", method="PUT", path=path)

    async def delete(self, value_id: str) -> None:
        await self._client.call("DELETE", self._path(value_id), kind=RequestKind.IDEMPOTENT)

    async def find(self, *, name: str) -> CustomValue | None:
        for value in await self.list():
            if value.name == name:
                return value
        return None
