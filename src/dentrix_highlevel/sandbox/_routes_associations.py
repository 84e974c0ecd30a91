"""Associations (API-NOTES §8): user-defined association types and the relations linking two records.

The sandbox supports contact–contact associations (what the migration uses for families); relations must
name two existing contacts of the caller's location. Guesses where HighLevel does not document behaviour:
an unknown association key or id answers 404, a second association with the same key 400, the same pair
related twice under one association 400, and deleting an association deletes its relations.
"""

from __future__ import annotations

from typing import Any

from dentrix_highlevel.sandbox._http import ApiError, ApiRoute, Ctx, Field, Reply, fields
from dentrix_highlevel.sandbox._state import LocationState

__all__ = ["ROUTES"]

Json = dict[str, Any]

_OBJECT_KEYS = ("contact",)
_ASSOCIATION = {
    **fields(Field(required=True), "locationId", "key", "firstObjectLabel"),
    "firstObjectKey": Field(required=True, enum=_OBJECT_KEYS),
    "secondObjectLabel": Field(required=True),
    "secondObjectKey": Field(required=True, enum=_OBJECT_KEYS),
}
_RELATION = {
    **fields(Field(required=True), "locationId", "associationId", "firstRecordId", "secondRecordId"),
}


def _page(ctx: Ctx) -> tuple[int, int]:
    try:
        skip = int(ctx.require_query("skip"))
        limit = int(ctx.require_query("limit"))
    except ValueError:
        raise ApiError.unprocessable(["skip and limit must be numeric strings"]) from None
    if skip < 0 or not 1 <= limit <= 100:
        raise ApiError.unprocessable(["skip must be >= 0 and limit between 1 and 100"])
    return skip, limit


def create_association(ctx: Ctx) -> Reply:
    body = ctx.body
    loc = ctx.location(body["locationId"])
    if any(a["key"] == body["key"] for a in loc.associations.values()):
        raise ApiError.bad_request(f"Association with key {body['key']} already exists")
    association = {"id": ctx.new_id(), **body, "associationType": "USER_DEFINED"}
    loc.associations[association["id"]] = association
    return Reply(201, dict(association))


def list_associations(ctx: Ctx) -> Reply:
    loc = ctx.location(ctx.require_query("locationId"))
    skip, limit = _page(ctx)
    rows = list(loc.associations.values())
    return Reply(200, {"associations": [dict(a) for a in rows[skip : skip + limit]], "total": len(rows)})


def association_by_key(ctx: Ctx) -> Reply:
    loc = ctx.location(ctx.require_query("locationId"))
    key = ctx.path_params["key_name"]
    found = next((a for a in loc.associations.values() if a["key"] == key), None)
    if found is None:
        raise ApiError.not_found("Association not found")
    return Reply(200, dict(found))


def get_association(ctx: Ctx) -> Reply:
    _, association = ctx.owned("associations", ctx.path_params["associationId"], "Association")
    return Reply(200, dict(association))


def delete_association(ctx: Ctx) -> Reply:
    loc, association = ctx.owned("associations", ctx.path_params["associationId"], "Association")
    for rid in [r["id"] for r in loc.relations.values() if r["associationId"] == association["id"]]:
        del loc.relations[rid]
    del loc.associations[association["id"]]
    return Reply(
        200, {"deleted": True, "id": association["id"], "message": "Association deleted successfully"}
    )


def _record(loc: LocationState, record_id: str) -> None:
    if record_id not in loc.contacts:
        raise ApiError.bad_request(f"Record {record_id} not found")


def create_relation(ctx: Ctx) -> Reply:
    body = ctx.body
    loc = ctx.location(body["locationId"])
    association = loc.associations.get(body["associationId"])
    if association is None:
        raise ApiError.bad_request("Association not found")
    _record(loc, body["firstRecordId"])
    _record(loc, body["secondRecordId"])
    pair = (body["firstRecordId"], body["secondRecordId"])
    for relation in loc.relations.values():
        if relation["associationId"] == association["id"] and (
            relation["firstRecordId"],
            relation["secondRecordId"],
        ) in (pair, pair[::-1]):
            raise ApiError.bad_request("Relation already exists")
    relation = {"id": ctx.new_id(), **body}
    loc.relations[relation["id"]] = relation
    return Reply(201, dict(relation))


def relations_of(ctx: Ctx) -> Reply:
    loc = ctx.location(ctx.require_query("locationId"))
    skip, limit = _page(ctx)
    record_id = ctx.path_params["recordId"]
    wanted = set(filter(None, (ctx.query.get("associationIds") or "").split(",")))
    rows = [
        r
        for r in loc.relations.values()
        if record_id in (r["firstRecordId"], r["secondRecordId"])
        and (not wanted or r["associationId"] in wanted)
    ]
    return Reply(200, {"relations": [dict(r) for r in rows[skip : skip + limit]], "total": len(rows)})


def delete_relation(ctx: Ctx) -> Reply:
    ctx.location(ctx.require_query("locationId"))
    loc, relation = ctx.owned("relations", ctx.path_params["relationId"], "Relation")
    del loc.relations[relation["id"]]
    return Reply(200, dict(relation))


_W, _R = "associations.write", "associations.readonly"
_RW, _RR = "associations/relation.write", "associations/relation.readonly"
_LOC = frozenset({"locationId"})
_PAGE = frozenset({"locationId", "skip", "limit"})
ROUTES = [
    ApiRoute(
        method="POST", path="/associations/relations", handler=create_relation, scope=_RW, body=_RELATION
    ),
    ApiRoute(
        method="GET",
        path="/associations/relations/{recordId}",
        handler=relations_of,
        scope=_RR,
        query=_PAGE | {"associationIds"},
    ),
    ApiRoute(
        method="DELETE",
        path="/associations/relations/{relationId}",
        handler=delete_relation,
        scope=_RW,
        query=_LOC,
    ),
    ApiRoute(
        method="GET", path="/associations/key/{key_name}", handler=association_by_key, scope=_R, query=_LOC
    ),
    ApiRoute(method="POST", path="/associations/", handler=create_association, scope=_W, body=_ASSOCIATION),
    ApiRoute(method="GET", path="/associations/", handler=list_associations, scope=_R, query=_PAGE),
    ApiRoute(method="GET", path="/associations/{associationId}", handler=get_association, scope=_R),
    ApiRoute(method="DELETE", path="/associations/{associationId}", handler=delete_association, scope=_W),
]
