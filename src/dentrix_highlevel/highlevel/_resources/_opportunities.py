"""``client.opportunities`` and ``client.pipelines``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.highlevel._convert import write
from dentrix_highlevel.highlevel._inputs import OpportunityInput
from dentrix_highlevel.highlevel._models import Opportunity, OpportunityUpsertResult, Pipeline
from dentrix_highlevel.highlevel._request_kind import RequestKind
from dentrix_highlevel.highlevel._resources._base import Resource, seg

__all__ = ["Opportunities", "Pipelines"]

_STATUSES = frozenset({"open", "won", "lost", "abandoned"})


class Opportunities(Resource):
    async def create(self, opportunity: OpportunityInput) -> Opportunity:
        return await self._create_located(
            "/opportunities/", Opportunity, key="opportunity", item=opportunity, resource="opportunity"
        )

    async def upsert(self, opportunity: OpportunityInput) -> OpportunityUpsertResult:
        """``POST /opportunities/upsert`` (sends ``contactId``: HighLevel answers 422 without it)."""
        payload = {**write(opportunity), "locationId": self._location_id}
        payload.pop("customFields", None)  # not part of UpsertOpportunityDto
        path = "/opportunities/upsert"
        return await self._request(
            "POST", path, OpportunityUpsertResult, key=None, kind=RequestKind.IDEMPOTENT, json=payload
        )

    async def get(self, opportunity_id: str) -> Opportunity:
        path = f"/opportunities/{seg(opportunity_id)}"
        return await self._get(path, Opportunity, key="opportunity")

    async def update(self, opportunity_id: str, opportunity: OpportunityInput) -> Opportunity:
        payload = {k: v for k, v in write(opportunity).items() if k != "contactId"}
        path = f"/opportunities/{seg(opportunity_id)}"
        return await self._put(path, Opportunity, key="opportunity", json=payload)

    async def set_status(
        self, opportunity_id: str, status: str, *, lost_reason_id: str | None = None
    ) -> None:
        if status not in _STATUSES:
            raise ConfigurationError("status must be open|won|lost|abandoned")
        payload: dict[str, Any] = {"status": status}
        if lost_reason_id is not None:
            payload["lostReasonId"] = lost_reason_id
        path = f"/opportunities/{seg(opportunity_id)}/status"
        await self._client.call("PUT", path, kind=RequestKind.IDEMPOTENT, json=payload)

    async def delete(self, opportunity_id: str) -> None:
        await self._client.call(
            "DELETE", f"/opportunities/{seg(opportunity_id)}", kind=RequestKind.IDEMPOTENT
        )

    async def search(
        self,
        *,
        contact_id: str | None = None,
        pipeline_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> AsyncIterator[Opportunity]:
        """``GET /opportunities/search`` (snake_case query), following ``meta.startAfter(Id)``."""
        if not 1 <= limit <= 100:
            raise ConfigurationError("limit must be in 1..100")
        params: dict[str, Any] = {"location_id": self._location_id, "limit": limit}
        for key, value in (("contact_id", contact_id), ("pipeline_id", pipeline_id), ("status", status)):
            if value is not None:
                params[key] = value

        def next_cursor(
            body: Mapping[str, Any], rows: tuple[Opportunity, ...], asked: Mapping[str, Any]
        ) -> tuple[Any, Any] | None:
            raw_meta = body.get("meta")
            meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
            after, after_id = meta.get("startAfter"), meta.get("startAfterId")
            if len(rows) < limit or not after_id or after is None or after_id == asked.get("startAfterId"):
                return None
            return after, after_id

        pages = self._start_after_pages(
            "/opportunities/search",
            tuple[Opportunity, ...],
            key="opportunities",
            params=params,
            next_cursor=next_cursor,
        )
        async with aclosing(pages):
            async for row in pages:
                yield row

    async def find(self, *, contact_id: str, pipeline_id: str) -> Opportunity | None:
        async for row in self.search(contact_id=contact_id, pipeline_id=pipeline_id):
            return row
        return None


class Pipelines(Resource):
    """Pipelines are read-only through the public API (they are set up in HighLevel's UI)."""

    async def list(self) -> tuple[Pipeline, ...]:
        return await self._list_location("/opportunities/pipelines", tuple[Pipeline, ...], key="pipelines")

    async def find(self, *, name: str) -> Pipeline | None:
        folded = name.casefold()
        return next((p for p in await self.list() if (p.name or "").casefold() == folded), None)
