"""``GET /workflows/?locationId``: the location's workflows and their status (spec workflows, read-only).

Workflows are built in HighLevel's UI, so the sandbox seeds them through ``Sandbox.add_workflow`` (or
``POST /_sandbox/workflows``); a new location has none.
"""

from __future__ import annotations

from dentrix_highlevel.sandbox._http import ApiRoute, Ctx, Reply

__all__ = ["ROUTES"]


def list_workflows(ctx: Ctx) -> Reply:
    loc = ctx.location(ctx.require_query("locationId"))
    return Reply(200, {"workflows": [dict(w) for w in loc.workflows.values()]})


ROUTES = [
    ApiRoute(
        method="GET",
        path="/workflows/",
        handler=list_workflows,
        scope="workflows.readonly",
        query=frozenset({"locationId"}),
    ),
]
