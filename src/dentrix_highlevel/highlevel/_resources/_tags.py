"""``client.tags``: a contact's tags (add/remove) and the location's tag catalogue."""

from __future__ import annotations

from collections.abc import Iterable

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.highlevel._models import LocationTag
from dentrix_highlevel.highlevel._request_kind import RequestKind
from dentrix_highlevel.highlevel._resources._base import Resource, seg

__all__ = ["Tags"]


def _tag_list(tags: Iterable[str]) -> list[str]:
    result = list(tags)
    if not result or not all(isinstance(t, str) and t for t in result):
        raise ConfigurationError("tags must be a non-empty list of non-empty strings")
    return result


class Tags(Resource):
    async def _contact_tags(self, method: str, contact_id: str, tags: Iterable[str]) -> tuple[str, ...]:
        path = f"/contacts/{seg(contact_id)}/tags"
        body = {"tags": _tag_list(tags)}
        return await self._request(
            method, path, tuple[str, ...], key="tags", kind=RequestKind.IDEMPOTENT, json=body
        )

    async def add(self, contact_id: str, tags: Iterable[str]) -> tuple[str, ...]:
        """Add tags to a contact (adding twice is harmless, so it is retried like a read)."""
        return await self._contact_tags("POST", contact_id, tags)

    async def remove(self, contact_id: str, tags: Iterable[str]) -> tuple[str, ...]:
        return await self._contact_tags("DELETE", contact_id, tags)

    async def bulk(self, contact_ids: Iterable[str], tags: Iterable[str], *, action: str = "add") -> int:
        """``POST /contacts/bulk/tags/update/{add|remove}``; returns HighLevel's ``errorCount``."""
        if action not in ("add", "remove"):
            raise ConfigurationError("bulk tag action must be 'add' or 'remove'")
        path = f"/contacts/bulk/tags/update/{action}"
        body = await self._client.call(
            "POST",
            path,
            kind=RequestKind.IDEMPOTENT,
            json={"contacts": list(contact_ids), "tags": _tag_list(tags), "locationId": self._location_id},
        )
        count = body.get("errorCount", 0)
        return count if isinstance(count, int) else 0

    async def list(self) -> tuple[LocationTag, ...]:
        """The location's tag catalogue."""
        path = f"/locations/{seg(self._location_id)}/tags"
        return await self._get(path, tuple[LocationTag, ...], key="tags")

    async def create(self, name: str) -> LocationTag:
        path = f"/locations/{seg(self._location_id)}/tags"
        return await self._create(
            path, LocationTag, key="tag", json={"name": name}, resource="tag", lookup={"name": name}
        )

    async def delete(self, tag_id: str) -> None:
        path = f"/locations/{seg(self._location_id)}/tags/{seg(tag_id)}"
        await self._client.call("DELETE", path, kind=RequestKind.IDEMPOTENT)
