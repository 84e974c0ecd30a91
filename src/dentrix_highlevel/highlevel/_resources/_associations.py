"""``client.associations``: association types (contact–contact, contact–custom object) and the relations
that link two records under one (API-NOTES §8). Answers are read into small frozen records of ids only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs

from dentrix_highlevel._errors import NotFoundError, ResponseFormatError
from dentrix_highlevel.highlevel._request_kind import RequestKind
from dentrix_highlevel.highlevel._resources._base import Resource, seg

__all__ = ["Association", "Associations", "Relation"]


@attrs.frozen(kw_only=True)
class Association:
    """An association type: ``key`` is its unique name in the location; object keys like ``contact``."""

    id: str
    key: str
    first_object_key: str
    second_object_key: str
    first_object_label: str = ""
    second_object_label: str = ""


@attrs.frozen(kw_only=True)
class Relation:
    """One link between two records under an association."""

    id: str
    association_id: str
    first_record_id: str
    second_record_id: str


def _text(body: dict[str, Any], name: str, *, method: str, path: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ResponseFormatError(f"answer lacks {name}", method=method, path=path)
    return value


def _object(body: Any, what: str, *, method: str, path: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ResponseFormatError(f"{what} is not an object", method=method, path=path)
    return body


def _association(body: Any, *, method: str, path: str) -> Association:
    body = _object(body, "association", method=method, path=path)
    return Association(
        id=_text(body, "id", method=method, path=path),
        key=_text(body, "key", method=method, path=path),
        first_object_key=str(body.get("firstObjectKey") or ""),
        second_object_key=str(body.get("secondObjectKey") or ""),
        first_object_label=str(body.get("firstObjectLabel") or ""),
        second_object_label=str(body.get("secondObjectLabel") or ""),
    )


def _relation(body: Any, *, method: str, path: str) -> Relation:
    body = _object(body, "relation", method=method, path=path)
    ids = {name: _text(body, key, method=method, path=path) for name, key in _RELATION_IDS}
    return Relation(**ids)


#: Relation attribute <- the answer's key: every one a non-empty id.
_RELATION_IDS = (
    ("id", "id"),
    ("association_id", "associationId"),
    ("first_record_id", "firstRecordId"),
    ("second_record_id", "secondRecordId"),
)


class Associations(Resource):
    async def create(
        self,
        *,
        key: str,
        first_object_key: str,
        first_object_label: str,
        second_object_key: str,
        second_object_label: str,
    ) -> Association:
        path = "/associations/"
        body = await self._client.call(
            "POST",
            path,
            kind=RequestKind.CREATE,
            json={
                "locationId": self._location_id,
                "key": key,
                "firstObjectKey": first_object_key,
                "firstObjectLabel": first_object_label,
                "secondObjectKey": second_object_key,
                "secondObjectLabel": second_object_label,
            },
            resource="association",
            lookup={"key": key},
        )
        return _association(body, method="POST", path=path)

    async def find(self, *, key: str) -> Association | None:
        """The association with this key, or None (HighLevel answers 400 "… not found" for an unknown key,
        which the client raises as :class:`NotFoundError`, as it does a 404)."""
        path = f"/associations/key/{seg(key)}"
        try:
            body = await self._client.call(
                "GET", path, kind=RequestKind.READ, params={"locationId": self._location_id}
            )
        except NotFoundError:
            return None
        return _association(body, method="GET", path=path)

    async def delete(self, association_id: str) -> None:
        await self._client.call("DELETE", f"/associations/{seg(association_id)}", kind=RequestKind.IDEMPOTENT)

    async def create_relation(
        self, *, association_id: str, first_record_id: str, second_record_id: str
    ) -> Relation:
        path = "/associations/relations"
        ids = {
            "associationId": association_id,
            "firstRecordId": first_record_id,
            "secondRecordId": second_record_id,
        }
        body = await self._client.call(
            "POST",
            path,
            kind=RequestKind.CREATE,
            json={"locationId": self._location_id, **ids},
            resource="relation",
            lookup=ids,
        )
        return _relation(body, method="POST", path=path)

    async def relations(
        self, record_id: str, *, association_id: str | None = None, page_limit: int = 100
    ) -> AsyncIterator[Relation]:
        """Every relation of one record (either side), page by page."""
        path = f"/associations/relations/{seg(record_id)}"
        skip = 0
        guard = self._client.page_guard("GET", path)
        while True:
            guard.page()
            params: dict[str, Any] = {"locationId": self._location_id, "skip": skip, "limit": page_limit}
            if association_id is not None:
                params["associationIds"] = association_id
            body = await self._client.call("GET", path, kind=RequestKind.READ, params=params)
            rows = body.get("relations")
            if not isinstance(rows, list):
                raise ResponseFormatError("answer lacks relations", method="GET", path=path)
            relations = [_relation(row, method="GET", path=path) for row in rows]
            for relation in relations:
                yield relation
            if relations:
                # skip always advances, so a cycle shows as the same relations again.
                guard.cursor([relations[0].id, relations[-1].id])
            skip += len(rows)
            total = body.get("total")
            if not rows or (isinstance(total, int) and skip >= total):
                return

    async def find_relation(
        self, *, association_id: str, first_record_id: str, second_record_id: str
    ) -> Relation | None:
        async for relation in self.relations(first_record_id, association_id=association_id):
            if {relation.first_record_id, relation.second_record_id} == {first_record_id, second_record_id}:
                return relation
        return None

    async def delete_relation(self, relation_id: str) -> None:
        await self._client.call(
            "DELETE",
            f"/associations/relations/{seg(relation_id)}",
            kind=RequestKind.IDEMPOTENT,
            params={"locationId": self._location_id},
        )
