"""``/locations/{locationId}``: the location, its tag catalogue, custom fields and custom values (§3, §9)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from dentrix_highlevel.sandbox._http import ApiError, ApiRoute, Ctx, Field, Reply, drop_none, fields
from dentrix_highlevel.sandbox._state import LocationState

__all__ = ["DATA_TYPES", "ROUTES"]

Json = dict[str, Any]
Handler = Callable[[Ctx], Reply]

#: ICustomField dataType vocabulary (spec custom-fields) plus EMAIL on create.
DATA_TYPES = (
    "TEXT",
    "LARGE_TEXT",
    "NUMERICAL",
    "PHONE",
    "MONETORY",
    "CHECKBOX",
    "SINGLE_OPTIONS",
    "MULTIPLE_OPTIONS",
    "DATE",
    "TEXTBOX_LIST",
    "FILE_UPLOAD",
    "RADIO",
    "EMAIL",
)
_PICKLIST_TYPES = ("SINGLE_OPTIONS", "MULTIPLE_OPTIONS", "RADIO", "CHECKBOX")


def _loc(ctx: Ctx) -> LocationState:
    return ctx.location(ctx.path_params["locationId"])


def _item(ctx: Ctx, store: str, param: str, what: str) -> tuple[LocationState, Json]:
    """One object of the location's ``store`` by the path parameter ``param``; 404 when there is none."""
    loc = _loc(ctx)
    item: Json | None = getattr(loc, store).get(ctx.path_params[param])
    if item is None:
        raise ApiError.not_found(f"{what} not found")
    return loc, item


def _delete(ctx: Ctx, store: str, param: str, what: str) -> Reply:
    loc, item = _item(ctx, store, param, what)
    del getattr(loc, store)[item["id"]]
    return Reply(200, {"succeded": True})


def get_location(ctx: Ctx) -> Reply:
    loc = _loc(ctx)
    location = {
        "id": loc.location_id,
        "companyId": loc.company_id,
        "name": loc.name,
        "timezone": loc.timezone,
        "country": "US",
        "settings": loc.settings(),
    }
    return Reply(200, {"location": location})


# ---- tags ----------------------------------------------------------------------------------------

_TAG_BODY = {"name": Field(required=True)}


def _tag(ctx: Ctx) -> tuple[LocationState, Json]:
    return _item(ctx, "tags", "tagId", "Tag")


def list_tags(ctx: Ctx) -> Reply:
    return Reply(200, {"tags": [dict(t) for t in _loc(ctx).tags.values()]})


def create_tag(ctx: Ctx) -> Reply:
    loc = _loc(ctx)
    name = ctx.body["name"].strip().lower()
    for tag in loc.tags.values():
        if tag["name"] == name:
            raise ApiError.bad_request("The tag name is already exist.")
    tag = {"id": ctx.new_id(), "name": name, "locationId": loc.location_id}
    loc.tags[tag["id"]] = tag
    # The spec declares 200 (not 201) for this create.
    return Reply(200, {"tag": dict(tag)})


def get_tag(ctx: Ctx) -> Reply:
    return Reply(200, {"tag": dict(_tag(ctx)[1])})


def update_tag(ctx: Ctx) -> Reply:
    _, tag = _tag(ctx)
    tag["name"] = ctx.body["name"].strip().lower()
    return Reply(200, {"tag": dict(tag)})


def delete_tag(ctx: Ctx) -> Reply:
    return _delete(ctx, "tags", "tagId", "Tag")


# ---- custom fields -------------------------------------------------------------------------------

_FIELD_COMMON = {
    "name": Field(required=True),
    "placeholder": Field(),
    "acceptedFormat": Field(kind="strs"),
    "isMultipleFile": Field(kind="bool"),
    "maxNumberOfFiles": Field(kind="num"),
    "textBoxListOptions": Field(kind="list"),
    "position": Field(kind="num"),
    "model": Field(enum=("contact", "opportunity")),
    # Undocumented but accepted (API-NOTES §3.1, listed in _undocumented).
    "options": Field(kind="strs"),
}
_FIELD_CREATE = {
    **_FIELD_COMMON,
    "dataType": Field(required=True, enum=DATA_TYPES),
    # Undocumented but accepted (issue highlevel-api-docs#300, listed in _undocumented).
    **fields(Field(), "fieldKey", "parentId", "description"),
}
_FIELD_UPDATE = dict(_FIELD_COMMON)


def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_") or "field"


def _custom_field(ctx: Ctx) -> tuple[LocationState, Json]:
    """By id or by fieldKey (``contact.first_name``), as ``GET /customFields/{id}`` allows."""
    loc = _loc(ctx)
    wanted = ctx.path_params["id"]
    field = loc.custom_fields.get(wanted)
    if field is None:
        field = next((f for f in loc.custom_fields.values() if f["fieldKey"] == wanted), None)
    if field is None:
        raise ApiError.not_found("Custom field not found")
    return loc, field


def list_custom_fields(ctx: Ctx) -> Reply:
    loc = _loc(ctx)
    model = ctx.query.get("model", "all")
    if model not in ("contact", "opportunity", "all"):
        raise ApiError.unprocessable(["model must be one of the following values: contact, opportunity, all"])
    fields = [dict(f) for f in loc.custom_fields.values() if model == "all" or f["model"] == model]
    return Reply(200, {"customFields": fields})


def create_custom_field(ctx: Ctx) -> Reply:
    loc = _loc(ctx)
    body = ctx.body
    model = body.get("model") or "contact"
    key = body.get("fieldKey") or f"{model}.{_snake(body['name'])}"
    if not key.startswith(f"{model}."):
        key = f"{model}.{key}"
    if any(f["fieldKey"] == key for f in loc.custom_fields.values()):
        raise ApiError.bad_request(f"Custom field with key {key} already exists")
    options = body.get("options") or []
    if body["dataType"] in _PICKLIST_TYPES and not options:
        raise ApiError.unprocessable(["options should not be empty"])
    field = drop_none(
        {
            "id": ctx.new_id(),
            "name": body["name"],
            "fieldKey": key,
            "placeholder": body.get("placeholder"),
            "dataType": body["dataType"],
            "position": body.get("position", 0),
            "picklistOptions": list(options),
            "picklistImageOptions": [],
            "isAllowedCustomOption": False,
            "isMultiFileAllowed": bool(body.get("isMultipleFile", False)),
            "maxFileLimit": body.get("maxNumberOfFiles"),
            "locationId": loc.location_id,
            "model": model,
            "parentId": body.get("parentId"),
            "description": body.get("description"),
        }
    )
    loc.custom_fields[field["id"]] = field
    return Reply(201, {"customField": dict(field)})


def get_custom_field(ctx: Ctx) -> Reply:
    return Reply(200, {"customField": dict(_custom_field(ctx)[1])})


def update_custom_field(ctx: Ctx) -> Reply:
    body = ctx.body
    _, field = _custom_field(ctx)
    for src, dst in (("name", "name"), ("placeholder", "placeholder"), ("position", "position")):
        if body.get(src) is not None:
            field[dst] = body[src]
    if body.get("options") is not None:
        field["picklistOptions"] = list(body["options"])
    if body.get("maxNumberOfFiles") is not None:
        field["maxFileLimit"] = body["maxNumberOfFiles"]
    return Reply(200, {"customField": dict(field)})


def delete_custom_field(ctx: Ctx) -> Reply:
    loc, field = _custom_field(ctx)
    del loc.custom_fields[field["id"]]
    for contact in loc.contacts.values():
        if any(v["id"] == field["id"] for v in contact.get("customFields", [])):
            with ctx.reindex(loc.contact_search, loc.contacts, contact["id"]):
                contact["customFields"] = [v for v in contact["customFields"] if v["id"] != field["id"]]
    return Reply(200, {"succeded": True})


# ---- custom values -------------------------------------------------------------------------------

_VALUE_BODY = {"name": Field(required=True), "value": Field(required=True)}


def _custom_value(ctx: Ctx) -> tuple[LocationState, Json]:
    return _item(ctx, "custom_values", "id", "Custom value")


def list_custom_values(ctx: Ctx) -> Reply:
    return Reply(200, {"customValues": [dict(v) for v in _loc(ctx).custom_values.values()]})


def create_custom_value(ctx: Ctx) -> Reply:
    loc = _loc(ctx)
    body = ctx.body
    value = {
        "id": ctx.new_id(),
        "name": body["name"],
        "fieldKey": "{{ custom_values." + _snake(body["name"]) + " }}",
        "value": body["value"],
        "locationId": loc.location_id,
    }
    loc.custom_values[value["id"]] = value
    return Reply(201, {"customValue": dict(value)})


def get_custom_value(ctx: Ctx) -> Reply:
    return Reply(200, {"customValue": dict(_custom_value(ctx)[1])})


def update_custom_value(ctx: Ctx) -> Reply:
    body = ctx.body
    _, value = _custom_value(ctx)
    value["name"], value["value"] = body["name"], body["value"]
    value["fieldKey"] = "{{ custom_values." + _snake(body["name"]) + " }}"
    return Reply(200, {"customValue": dict(value)})


def delete_custom_value(ctx: Ctx) -> Reply:
    return _delete(ctx, "custom_values", "id", "Custom value")


_L = "/locations/{locationId}"


def _collection(
    path: str,
    item: str,
    scopes: tuple[str, str],
    handlers: tuple[Handler, Handler, Handler, Handler, Handler],
    bodies: tuple[Mapping[str, Field], Mapping[str, Field]],
    list_query: frozenset[str] = frozenset(),
) -> list[ApiRoute]:
    """A location collection's five routes: list and create on ``path``, get, update and delete on
    ``path/item``; ``scopes`` are (read, write), ``handlers`` in that order, ``bodies`` (create, update)."""
    read, write = scopes
    list_all, create, get, update, delete = handlers
    one = f"{path}/{item}"
    return [
        ApiRoute(method="GET", path=path, handler=list_all, scope=read, query=list_query),
        ApiRoute(method="POST", path=path, handler=create, scope=write, body=bodies[0]),
        ApiRoute(method="GET", path=one, handler=get, scope=read),
        ApiRoute(method="PUT", path=one, handler=update, scope=write, body=bodies[1]),
        ApiRoute(method="DELETE", path=one, handler=delete, scope=write),
    ]


# The by-id operations declare `bearer: []` in the spec; their scopes are the ones Scopes.md lists.
ROUTES = [
    ApiRoute(method="GET", path=f"{_L}", handler=get_location, scope="locations.readonly"),
    *_collection(
        f"{_L}/tags",
        "{tagId}",
        ("locations/tags.readonly", "locations/tags.write"),
        (list_tags, create_tag, get_tag, update_tag, delete_tag),
        (_TAG_BODY, _TAG_BODY),
    ),
    *_collection(
        f"{_L}/customFields",
        "{id}",
        ("locations/customFields.readonly", "locations/customFields.write"),
        (list_custom_fields, create_custom_field, get_custom_field, update_custom_field, delete_custom_field),
        (_FIELD_CREATE, _FIELD_UPDATE),
        list_query=frozenset({"model"}),
    ),
    *_collection(
        f"{_L}/customValues",
        "{id}",
        ("locations/customValues.readonly", "locations/customValues.write"),
        (list_custom_values, create_custom_value, get_custom_value, update_custom_value, delete_custom_value),
        (_VALUE_BODY, _VALUE_BODY),
    ),
]
