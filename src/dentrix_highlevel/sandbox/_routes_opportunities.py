"""Opportunities and pipelines (API-NOTES §6). Pipelines cannot be created through the public API: the
sandbox seeds them when a location is created.

Both opportunity searches read a lagging search index like the contact search (a guess: their answers
carry Elasticsearch's ``aggregations``); GET by id and the duplicate-opportunity rule read the store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from dentrix_highlevel.sandbox._contacts_model import merge_custom_fields
from dentrix_highlevel.sandbox._http import ApiError, ApiRoute, Ctx, Field, Reply, drop_none, fields
from dentrix_highlevel.sandbox._state import LocationState, iso_ms

__all__ = ["ROUTES"]

Json = dict[str, Any]

_STATUSES = ("open", "won", "lost", "abandoned", "all")
_COMMON = {
    **fields(Field(), "pipelineId", "name", "pipelineStageId"),
    "status": Field(enum=_STATUSES),
    "monetaryValue": Field(kind="num"),
    "assignedTo": Field(),
    "customFields": Field(kind="list"),
}
_CREATE = {
    **_COMMON,
    **fields(Field(required=True), "pipelineId", "locationId", "name"),
    "status": Field(required=True, enum=_STATUSES),
    "contactId": Field(required=True),
}
#: Union of the 2025-08 and 2026-05 UpsertOpportunityDto (neither has customFields); contactId is required
#: in practice (§6: 422 without) though HEAD dropped it (listed in _undocumented). HEAD's required
#: followers/isRemoveAllFollowers/followersActionType stay optional: clients on the 2025-08 DTO omit them.
_UPSERT = {
    **{key: field for key, field in _COMMON.items() if key != "customFields"},
    "id": Field(),
    **fields(Field(required=True), "locationId", "pipelineId", "contactId"),
    "lostReasonId": Field(),
    "followers": Field(kind="strs"),
    "isRemoveAllFollowers": Field(kind="bool"),
    "followersActionType": Field(enum=("add", "remove")),
}
_STATUS_BODY = {"status": Field(required=True, enum=_STATUSES), "lostReasonId": Field()}
SEARCH_MAX_LIMIT = 100
DUPLICATE_OPPORTUNITY = "Can not create duplicate opportunity for the contact."
BASE_URL = "https://services.leadconnectorhq.com"


def _view(loc: LocationState, opportunity: Json) -> Json:
    view = drop_none(dict(opportunity))
    contact = loc.contacts.get(opportunity["contactId"])
    if contact is not None:
        view["contact"] = drop_none(
            {
                "id": contact["id"],
                "name": contact.get("name"),
                "companyName": contact.get("companyName"),
                "email": contact.get("email"),
                "phone": contact.get("phone"),
                "tags": list(contact.get("tags", [])),
            }
        )
    return view


def _check_refs(loc: LocationState, body: Json, current: Json | None = None) -> None:
    pipeline_id = body.get("pipelineId") or (current or {}).get("pipelineId")
    pipeline = loc.pipelines.get(pipeline_id or "")
    if pipeline is None:
        raise ApiError.bad_request("Pipeline not found")
    stage_id = body.get("pipelineStageId")
    if stage_id is not None and stage_id not in {s["id"] for s in pipeline["stages"]}:
        raise ApiError.bad_request("Pipeline stage not found")
    contact_id = body.get("contactId")
    if contact_id is not None and contact_id not in loc.contacts:
        raise ApiError.bad_request("Contact not found")


def _write(ctx: Ctx, loc: LocationState, opportunity: Json, body: Json) -> None:
    now = iso_ms(ctx.wall_s)
    if body.get("status") is not None and body["status"] != opportunity.get("status"):
        opportunity["lastStatusChangeAt"] = now
    if body.get("pipelineStageId") is not None and body["pipelineStageId"] != opportunity.get(
        "pipelineStageId"
    ):
        opportunity["lastStageChangeAt"] = now
    for key in (
        "pipelineId",
        "name",
        "pipelineStageId",
        "status",
        "monetaryValue",
        "assignedTo",
        "lostReasonId",
    ):
        if body.get(key) is not None:
            opportunity[key] = body[key]
    if opportunity.get("pipelineStageId") is None:
        opportunity["pipelineStageId"] = loc.pipelines[opportunity["pipelineId"]]["stages"][0]["id"]
    if body.get("customFields") is not None:
        opportunity["customFields"] = merge_custom_fields(
            ctx,
            loc,
            opportunity.get("customFields", []),
            body["customFields"],
            model="opportunity",
            value_key="fieldValue",
        )
    opportunity["updatedAt"] = now


def _new(ctx: Ctx, loc: LocationState, body: Json) -> Json:
    now = iso_ms(ctx.wall_s)
    opportunity: Json = {
        "id": ctx.new_id(),
        "locationId": loc.location_id,
        "contactId": body["contactId"],
        "status": "open",
        "source": "api",
        "customFields": [],
        "followers": [],
        "createdAt": now,
        "lastStatusChangeAt": now,
        "lastStageChangeAt": now,
    }
    with ctx.reindex(loc.opportunity_search, loc.opportunities, opportunity["id"]):
        _write(ctx, loc, opportunity, body)
        loc.opportunities[opportunity["id"]] = opportunity
    return opportunity


def _existing_for(loc: LocationState, contact_id: str, pipeline_id: str) -> Json | None:
    for opportunity in loc.opportunities.values():
        if opportunity["contactId"] == contact_id and opportunity["pipelineId"] == pipeline_id:
            return opportunity
    return None


def create_opportunity(ctx: Ctx) -> Reply:
    body = ctx.body
    loc = ctx.location(body["locationId"])
    _check_refs(loc, body)
    existing = _existing_for(loc, body["contactId"], body["pipelineId"])
    if existing is not None and not loc.allow_duplicate_opportunity:
        # HighLevel's answer as public client code records it (docs/sandbox.md).
        raise ApiError.bad_request(
            DUPLICATE_OPPORTUNITY,
            error="Bad Request",
            code="OPPORTUNITY_NO_DUPLICATE",
            meta={"existingId": existing["id"]},
        )
    return Reply(201, {"opportunity": _view(loc, _new(ctx, loc, body))})


def upsert_opportunity(ctx: Ctx) -> Reply:
    """Match by ``id`` when given, else by (contact, pipeline); answers 200 ``{opportunity, new}``."""
    body = ctx.body
    loc = ctx.location(body["locationId"])
    _check_refs(loc, body)
    if body.get("id"):
        existing = loc.opportunities.get(body["id"])
        if existing is None:
            raise ApiError.bad_request("Opportunity not found")
    else:
        existing = _existing_for(loc, body["contactId"], body["pipelineId"])
    if existing is None:
        if body.get("name") is None:
            raise ApiError.unprocessable(["name should not be empty", "name must be a string"])
        return Reply(200, {"opportunity": _view(loc, _new(ctx, loc, body)), "new": True})
    with ctx.reindex(loc.opportunity_search, loc.opportunities, existing["id"]):
        _write(ctx, loc, existing, body)
    return Reply(200, {"opportunity": _view(loc, existing), "new": False})


def _opportunity(ctx: Ctx) -> tuple[LocationState, Json]:
    return ctx.owned("opportunities", ctx.path_params["id"], "Opportunity")


def get_opportunity(ctx: Ctx) -> Reply:
    loc, opportunity = _opportunity(ctx)
    return Reply(200, {"opportunity": _view(loc, opportunity)})


def update_opportunity(ctx: Ctx) -> Reply:
    body = ctx.body
    loc, opportunity = _opportunity(ctx)
    _check_refs(loc, body, opportunity)
    with ctx.reindex(loc.opportunity_search, loc.opportunities, opportunity["id"]):
        if (
            body.get("pipelineId")
            and body["pipelineId"] != opportunity["pipelineId"]
            and not body.get("pipelineStageId")
        ):
            opportunity["pipelineStageId"] = None
        _write(ctx, loc, opportunity, body)
    return Reply(200, {"opportunity": _view(loc, opportunity)})


def update_status(ctx: Ctx) -> Reply:
    body = ctx.body
    loc, opportunity = _opportunity(ctx)
    with ctx.reindex(loc.opportunity_search, loc.opportunities, opportunity["id"]):
        _write(ctx, loc, opportunity, body)
    return Reply(200, {"succeded": True})


def delete_opportunity(ctx: Ctx) -> Reply:
    loc, opportunity = _opportunity(ctx)
    with ctx.reindex(loc.opportunity_search, loc.opportunities, opportunity["id"]):
        del loc.opportunities[opportunity["id"]]
    return Reply(200, {"succeded": True})


def list_pipelines(ctx: Ctx) -> Reply:
    loc = ctx.location(ctx.require_query("locationId"))
    return Reply(200, {"pipelines": [dict(p) for p in loc.pipelines.values()]})


def search_opportunities(ctx: Ctx) -> Reply:
    """``GET /opportunities/search`` (snake_case ``location_id``), limit <= 100, page or cursor paging."""
    loc = ctx.location(ctx.require_query("location_id"))
    try:
        limit = int(ctx.query.get("limit", "20"))
        page = int(ctx.query.get("page", "1"))
    except ValueError:
        raise ApiError.unprocessable(["limit and page must be numbers"]) from None
    if not 1 <= limit <= SEARCH_MAX_LIMIT:
        raise ApiError.unprocessable([f"limit must not be greater than {SEARCH_MAX_LIMIT}"])
    filters = {
        "pipelineId": ctx.query.get("pipeline_id"),
        "pipelineStageId": ctx.query.get("pipeline_stage_id"),
        "contactId": ctx.query.get("contact_id"),
        "assignedTo": ctx.query.get("assigned_to"),
        "id": ctx.query.get("id"),
    }
    status = ctx.query.get("status")
    needle = (ctx.query.get("q") or "").lower()
    rows = [
        o
        for o in loc.opportunity_search.view(loc.opportunities, ctx.now_s)
        if all(value is None or o.get(key) == value for key, value in filters.items())
        and (status in (None, "all") or o.get("status") == status)
        and (not needle or needle in (o.get("name") or "").lower())
    ]
    rows.sort(key=lambda o: (o["createdAt"], o["id"]))
    total = len(rows)
    start_after_id = ctx.query.get("startAfterId")
    if start_after_id:
        ids = [o["id"] for o in rows]
        start = ids.index(start_after_id) + 1 if start_after_id in ids else len(rows)
        page_rows = rows[start : start + limit]
        offset = start
    else:
        offset = (page - 1) * limit
        page_rows = rows[offset : offset + limit]
    current = offset // limit + 1
    more = offset + limit < total
    meta: Json = {"total": total, "currentPage": current, "nextPage": current + 1 if more else None}
    meta["prevPage"] = current - 1 if current > 1 else None
    if more and page_rows:
        last = page_rows[-1]
        meta["startAfterId"] = last["id"]
        meta["startAfter"] = _epoch_ms(last["createdAt"])
        params = {"location_id": loc.location_id, "limit": limit, "startAfterId": last["id"]}
        params["startAfter"] = meta["startAfter"]
        meta["nextPageUrl"] = f"{BASE_URL}/opportunities/search?{urlencode(params)}"
    return Reply(
        200,
        {"opportunities": [_view(loc, o) for o in page_rows], "meta": drop_none(meta), "aggregations": {}},
    )


_POST_SEARCH = {
    "locationId": Field(required=True),
    "query": Field(),
    "limit": Field(kind="int"),
    "page": Field(kind="int"),
    "searchAfter": Field(kind="list"),
    "additionalDetails": Field(kind="obj"),
}


def post_search(ctx: Ctx) -> Reply:
    """``POST /opportunities/search``: ``{opportunities, total}``; page, or ``searchAfter`` = [createdAt, id].

    The spec marks every body key required; the sandbox requires only ``locationId`` (a guess).
    """
    body = ctx.body
    loc = ctx.location(body["locationId"])
    limit = body.get("limit") or 20
    if not 1 <= limit <= SEARCH_MAX_LIMIT:
        raise ApiError.unprocessable([f"limit must not be greater than {SEARCH_MAX_LIMIT}"])
    needle = (body.get("query") or "").lower()
    rows = sorted(
        (
            o
            for o in loc.opportunity_search.view(loc.opportunities, ctx.now_s)
            if not needle or needle in (o.get("name") or "").lower()
        ),
        key=lambda o: (_epoch_ms(o["createdAt"]), o["id"]),
    )
    cursor = body.get("searchAfter")
    if cursor:
        if len(cursor) != 2:
            raise ApiError.unprocessable(["searchAfter must be [createdAt, id] from the last row"])
        after = (int(cursor[0]), str(cursor[1]))
        page_rows = [o for o in rows if (_epoch_ms(o["createdAt"]), o["id"]) > after][:limit]
    else:
        page = body.get("page") or 1
        page_rows = rows[(page - 1) * limit : page * limit]
    out = []
    for opportunity in page_rows:
        view = _view(loc, opportunity)
        view["searchAfter"] = [_epoch_ms(opportunity["createdAt"]), opportunity["id"]]
        out.append(view)
    return Reply(200, {"opportunities": out, "total": len(rows), "aggregations": {}})


def _epoch_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


_R, _W = "opportunities.readonly", "opportunities.write"
#: GET /opportunities/search's query parameters (spec opportunities); the sandbox filters on some of them
#: and accepts the rest (HighLevel's date/campaign/country filters and getNotes etc. are not emulated).
_SEARCH_QUERY = frozenset(
    {
        "q",
        "location_id",
        "pipeline_id",
        "pipeline_stage_id",
        "contact_id",
        "status",
        "assigned_to",
        "campaignId",
        "id",
        "order",
        "endDate",
        "startAfter",
        "startAfterId",
        "date",
        "country",
        "page",
        "limit",
        "getTasks",
        "getNotes",
        "getCalendarEvents",
    }
)
ROUTES = [
    ApiRoute(
        method="GET",
        path="/opportunities/pipelines",
        handler=list_pipelines,
        scope=_R,
        query=frozenset({"locationId"}),
    ),
    ApiRoute(
        method="GET",
        path="/opportunities/search",
        handler=search_opportunities,
        scope=_R,
        query=_SEARCH_QUERY,
    ),
    ApiRoute(method="POST", path="/opportunities/search", handler=post_search, scope=_R, body=_POST_SEARCH),
    ApiRoute(method="POST", path="/opportunities/upsert", handler=upsert_opportunity, scope=_W, body=_UPSERT),
    ApiRoute(method="POST", path="/opportunities/", handler=create_opportunity, scope=_W, body=_CREATE),
    ApiRoute(method="GET", path="/opportunities/{id}", handler=get_opportunity, scope=_R),
    ApiRoute(method="PUT", path="/opportunities/{id}", handler=update_opportunity, scope=_W, body=_COMMON),
    ApiRoute(
        method="PUT", path="/opportunities/{id}/status", handler=update_status, scope=_W, body=_STATUS_BODY
    ),
    ApiRoute(method="DELETE", path="/opportunities/{id}", handler=delete_opportunity, scope=_W),
]
