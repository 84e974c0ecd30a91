"""``client.workflows``: the location's automations, read-only (``workflows.readonly``)."""

from __future__ import annotations

from dentrix_highlevel.highlevel._models import Workflow
from dentrix_highlevel.highlevel._resources._base import Resource

__all__ = ["Workflows"]


class Workflows(Resource):
    async def list(self) -> tuple[Workflow, ...]:
        """Every workflow of the location, published or draft (the API offers no filter)."""
        return await self._list_location("/workflows/", tuple[Workflow, ...], key="workflows")
