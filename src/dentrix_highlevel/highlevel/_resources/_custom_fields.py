"""``client.custom_fields``: the location's contact/opportunity custom fields."""

from __future__ import annotations

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.highlevel._convert import write
from dentrix_highlevel.highlevel._inputs import CustomFieldInput
from dentrix_highlevel.highlevel._models import CustomField
from dentrix_highlevel.highlevel._request_kind import RequestKind
from dentrix_highlevel.highlevel._resources._base import Resource, seg

__all__ = ["CustomFields"]

# HighLevel's UpdateCustomFieldsDTO has no dataType/fieldKey/parentId: a field's type cannot change.
_CREATE_ONLY = ("dataType", "fieldKey", "parentId")


class CustomFields(Resource):
    def _path(self, field_id: str | None = None) -> str:
        base = f"/locations/{seg(self._location_id)}/customFields"
        return base if field_id is None else f"{base}/{seg(field_id)}"

    async def list(self, *, model: str = "all") -> tuple[CustomField, ...]:
        if model not in ("all", "contact", "opportunity"):
            raise ConfigurationError("model must be all|contact|opportunity")
        path = self._path()
        return await self._get(path, tuple[CustomField, ...], key="customFields", params={"model": model})

    async def get(self, id_or_field_key: str) -> CustomField:
        """By id or by ``fieldKey`` (``contact.insurance_carrier``): HighLevel accepts both in the path."""
        path = self._path(id_or_field_key)
        return await self._get(path, CustomField, key="customField")

    async def create(self, field: CustomFieldInput) -> CustomField:
        lookup = {"name": field.name, "model": field.model or "contact"}
        path = self._path()
        return await self._create(
            path, CustomField, key="customField", json=write(field), resource="custom_field", lookup=lookup
        )

    async def update(self, field_id: str, field: CustomFieldInput) -> CustomField:
        payload = {k: v for k, v in write(field).items() if k not in _CREATE_ONLY}
        path = self._path(field_id)
        return await self._put(path, CustomField, key="customField", json=payload)

    async def delete(self, field_id: str) -> None:
        await self._client.call("DELETE", self._path(field_id), kind=RequestKind.IDEMPOTENT)

    async def find(self, *, name: str, model: str = "contact") -> CustomField | None:
        """The field with this name (case-insensitive) on ``model``, or None."""
        folded = name.casefold()
        for field in await self.list(model=model):
            if (field.name or "").casefold() == folded:
                return field
        return None
