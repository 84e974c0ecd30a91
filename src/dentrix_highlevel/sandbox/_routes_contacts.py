"""Contacts: create, get, update, delete, upsert, search, legacy list, duplicate lookup, tags (§2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from dentrix_highlevel.sandbox._contacts_model import (
    CREATE_FIELDS,
    UPDATE_FIELDS,
    UPSERT_FIELDS,
    apply_contact_write,
    contact_view,
    find_duplicate,
)
from dentrix_highlevel.sandbox._http import (
    ApiError,
    ApiRoute,
    Ctx,
    Field,
    Reply,
    fields,
    normalize_email,
    normalize_phone,
    normalize_tags,
)
from dentrix_highlevel.sandbox._routes_calendars import event_view_naive
from dentrix_highlevel.sandbox._state import LocationState

__all__ = ["ROUTES"]

Json = dict[str, Any]

BASE_URL = "https://services.leadconnectorhq.com"
DUPLICATE_MESSAGE = "This location does not allow duplicated contacts."
#: The duplicate lookup's answer without email or number, also what an upsert without either gets
#: (issue marioaldayuz/n8n-highlevel#10, highlevel-api-docs#37; API-NOTES §2.4).
NO_IDENTITY = "Pass at least one of number, email query parameter"
SEARCH_MAX_PAGE_LIMIT = 500
SEARCH_MAX_WINDOW = 10_000
LEGACY_MAX_LIMIT = 100


def _epoch_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def _duplicate_error(contact: Json, field: str) -> ApiError:
    return ApiError.bad_request(
        DUPLICATE_MESSAGE,
        meta={"contactId": contact["id"], "contactName": contact.get("name") or "", "matchingField": field},
    )


def _new_contact(ctx: Ctx, loc: LocationState, body: Json) -> Json:
    contact: Json = {"id": ctx.new_id(), "locationId": loc.location_id}
    with ctx.reindex(loc.contact_search, loc.contacts, contact["id"]):
        apply_contact_write(ctx, loc, contact, body, creating=True)
        loc.contacts[contact["id"]] = contact
    return contact


def create_contact(ctx: Ctx) -> Reply:
    body = ctx.body
    loc = ctx.location(body["locationId"])
    if not loc.allow_duplicates:
        match = find_duplicate(
            loc, email=normalize_email(body.get("email")), phone=normalize_phone(body.get("phone"))
        )
        if match is not None:
            raise _duplicate_error(*match)
    return Reply(201, {"contact": contact_view(_new_contact(ctx, loc, body))})


def upsert_contact(ctx: Ctx) -> Reply:
    """Match by the location's dedupe order; update the first-priority match, else create (§2.4)."""
    body = ctx.body
    loc = ctx.location(body["locationId"])
    if ctx.strict.upsert_identity and not body.get("email") and not body.get("phone"):
        raise ApiError.bad_request(NO_IDENTITY)
    write = {k: v for k, v in body.items() if k != "createNewIfDuplicateAllowed"}
    if loc.allow_duplicates and body.get("createNewIfDuplicateAllowed"):
        return Reply(200, {"new": True, "contact": contact_view(_new_contact(ctx, loc, write))})
    email, phone = normalize_email(body.get("email")), normalize_phone(body.get("phone"))
    match = find_duplicate(loc, email=email, phone=phone)
    if match is None:
        return Reply(200, {"new": True, "contact": contact_view(_new_contact(ctx, loc, write))})
    contact, field = match
    # A second-priority value that belongs to a different contact is dropped silently (issue #37).
    for other_field, value in (("email", email), ("phone", phone)):
        if other_field == field or not value:
            continue
        other = find_duplicate(loc, email=email, phone=phone, exclude_id=contact["id"], order=(other_field,))
        if other is not None:
            write.pop(other_field, None)
    with ctx.reindex(loc.contact_search, loc.contacts, contact["id"]):
        apply_contact_write(ctx, loc, contact, write, creating=False)
    return Reply(200, {"new": False, "contact": contact_view(contact)})


def get_contact(ctx: Ctx) -> Reply:
    _, contact = ctx.owned("contacts", ctx.path_params["contactId"], "Contact")
    return Reply(200, {"contact": contact_view(contact)})


def update_contact(ctx: Ctx) -> Reply:
    body = ctx.body
    loc, contact = ctx.owned("contacts", ctx.path_params["contactId"], "Contact")
    if not loc.allow_duplicates:
        email = normalize_email(body.get("email")) if "email" in body else None
        phone = normalize_phone(body.get("phone")) if "phone" in body else None
        match = find_duplicate(loc, email=email, phone=phone, exclude_id=contact["id"])
        if match is not None:
            raise _duplicate_error(*match)
    with ctx.reindex(loc.contact_search, loc.contacts, contact["id"]):
        apply_contact_write(ctx, loc, contact, body, creating=False)
    return Reply(200, {"succeded": True, "contact": contact_view(contact)})


def delete_contact(ctx: Ctx) -> Reply:
    loc, contact = ctx.owned("contacts", ctx.path_params["contactId"], "Contact")
    with ctx.reindex(loc.contact_search, loc.contacts, contact["id"]):
        del loc.contacts[contact["id"]]
    loc.index_remove(contact)
    # Notes and tasks go with their contact, so a rollback leaves no orphans behind.
    for store in (loc.notes, loc.tasks):
        for object_id in [k for k, v in store.items() if v.get("contactId") == contact["id"]]:
            del store[object_id]
    return Reply(200, {"succeded": True})


def _indexed_match(loc: LocationState, docs: list[Json], field: str, value: str) -> Json | None:
    """``first_match`` over what the search index shows (writes in flight are not there yet)."""
    key = "emailLowerCase" if field == "email" else "phone"
    matches = [doc for doc in docs if doc.get(key) == value]
    return min(matches, key=lambda d: loc.created_seq.get(d["id"], 0)) if matches else None


def duplicate_lookup(ctx: Ctx) -> Reply:
    """``GET /contacts/search/duplicate``: exact match on the stored value; a bare 10-digit number or an
    unencoded ``+`` (decoded as a space) does not match an E.164 phone, as reported for HighLevel.

    It reads the search index (it lives under /contacts/search), so a contact written less than the index
    lag ago is not found yet; the duplicate rule of create and upsert reads the store and never lags.
    """
    loc = ctx.location(ctx.require_query("locationId"))
    number, email = ctx.query.get("number"), ctx.query.get("email")
    if not number and not email:
        raise ApiError.bad_request(NO_IDENTITY)
    order = ("email", "phone") if loc.allow_duplicates else loc.dedupe_order
    wanted = {"email": email.lower() if email else None, "phone": number}
    if loc.contact_search.settled(ctx.now_s):
        match = find_duplicate(loc, email=wanted["email"], phone=wanted["phone"], order=order)
        return Reply(200, {"contact": contact_view(match[0]) if match else None})
    docs = loc.contact_search.view(loc.contacts, ctx.now_s)
    for field in order:
        value = wanted[field]
        found = _indexed_match(loc, docs, field, value) if value else None
        if found is not None:
            return Reply(200, {"contact": contact_view(found)})
    return Reply(200, {"contact": None})


def _matches_query(contact: Json, query: str) -> bool:
    needle = query.lower()
    haystack = (
        contact.get("fullNameLowerCase"),
        contact.get("emailLowerCase"),
        contact.get("phone"),
        (contact.get("companyName") or "").lower(),
    )
    return any(needle in value for value in haystack if value)


def legacy_list(ctx: Ctx) -> Reply:
    """Deprecated ``GET /contacts/``: ordered by dateAdded, cursor ``startAfter`` (ms) + ``startAfterId``."""
    loc = ctx.location(ctx.require_query("locationId"))
    try:
        limit = int(ctx.query.get("limit", "20"))
        start_after = int(float(ctx.query["startAfter"])) if ctx.query.get("startAfter") else None
    except ValueError:
        raise ApiError.unprocessable(
            ["limit must be a number conforming to the specified constraints"]
        ) from None
    if limit > LEGACY_MAX_LIMIT:
        raise ApiError.unprocessable([f"limit must not be greater than {LEGACY_MAX_LIMIT}"])
    if limit < 1:
        raise ApiError.unprocessable(["limit must not be less than 1"])
    start_after_id = ctx.query.get("startAfterId")
    query = ctx.query.get("query")
    # Served from the search index like POST /contacts/search (a guess: docs/sandbox.md).
    indexed = loc.contact_search.view(loc.contacts, ctx.now_s)
    rows = sorted(
        (c for c in indexed if not query or _matches_query(c, query)),
        key=lambda c: (_epoch_ms(c["dateAdded"]), c["id"]),
    )
    total = len(rows)
    if start_after is not None or start_after_id:
        cursor = (start_after if start_after is not None else 0, start_after_id or "")
        rows = [c for c in rows if (_epoch_ms(c["dateAdded"]), c["id"]) > cursor]
    offset = total - len(rows)
    page = rows[:limit]
    meta: Json = {"total": total, "currentPage": offset // limit + 1, "prevPage": None, "nextPage": None}
    if offset > 0:
        meta["prevPage"] = offset // limit
    if len(rows) > limit:
        last = page[-1]
        meta["startAfterId"] = last["id"]
        meta["startAfter"] = _epoch_ms(last["dateAdded"])
        meta["nextPage"] = meta["currentPage"] + 1
        params = {"locationId": loc.location_id, "limit": limit, "startAfter": meta["startAfter"]}
        params["startAfterId"] = last["id"]
        meta["nextPageUrl"] = f"{BASE_URL}/contacts/?{urlencode(params)}"
    else:
        meta["startAfterId"] = None
        meta["startAfter"] = None
        meta["nextPageUrl"] = None
    return Reply(200, {"contacts": [contact_view(c) for c in page], "count": total, "meta": meta})


# ---- POST /contacts/search -------------------------------------------------------------------------

#: Documented in prose only (the spec's SearchBodyV2DTO is empty): each key is in ``_undocumented``.
_SEARCH_BODY = {
    "locationId": Field(required=True),
    "pageLimit": Field(kind="int", required=True),
    "page": Field(kind="int"),
    **fields(Field(kind="list"), "searchAfter", "filters", "sort"),
    "query": Field(max_length=75),
}
#: Index fields a filter or sort may name (API-NOTES §2.5: real index fields, e.g. firstNameLowerCase).
_INDEX_FIELDS = {
    "id": "id",
    "firstNameLowerCase": "firstNameLowerCase",
    "lastNameLowerCase": "lastNameLowerCase",
    "fullNameLowerCase": "fullNameLowerCase",
    "email": "emailLowerCase",
    "phone": "phone",
    "tags": "tags",
    "dateAdded": "dateAdded",
    "dateUpdated": "dateUpdated",
    "assignedTo": "assignedTo",
    "dnd": "dnd",
    "source": "source",
    "companyName": "companyName",
    "city": "city",
    "state": "state",
    "country": "country",
    "postalCode": "postalCode",
    "address": "address1",
    "type": "type",
    "businessId": "businessId",
    "dateOfBirth": "dateOfBirth",
    "timezone": "timezone",
}
_OPERATORS = {"eq", "not_eq", "contains", "not_contains", "exists", "not_exists", "range"}


def _field_value(contact: Json, field: str) -> Any:
    if field.startswith("customFields."):
        wanted = field.removeprefix("customFields.")
        for entry in contact.get("customFields", []):
            if entry["id"] == wanted:
                return entry["value"]
        return None
    value = contact.get(_INDEX_FIELDS[field])
    if field in ("dateAdded", "dateUpdated") and isinstance(value, str):
        return _epoch_ms(value)
    return value


def _check_field(field: Any) -> str:
    if not isinstance(field, str) or not (field in _INDEX_FIELDS or field.startswith("customFields.")):
        raise ApiError(400, {"statusCode": 400, "message": f"Invalid field {field}", "error": "Bad Request"})
    return field


def _compare(value: Any, wanted: Any) -> bool:
    if isinstance(value, list):
        return any(_compare(v, wanted) for v in value)
    if isinstance(value, str) and isinstance(wanted, str):
        return value.lower() == wanted.lower()
    return bool(value == wanted)


def _contains(value: Any, wanted: Any) -> bool:
    if isinstance(value, list):
        return any(_contains(v, wanted) for v in value)
    return isinstance(value, str) and isinstance(wanted, str) and wanted.lower() in value.lower()


def _in_range(value: Any, bounds: Any) -> bool:
    if value is None or not isinstance(bounds, dict):
        return False
    tests = {
        "gte": lambda a, b: a >= b,
        "gt": lambda a, b: a > b,
        "lte": lambda a, b: a <= b,
        "lt": lambda a, b: a < b,
    }
    try:
        return all(tests[op](value, bound) for op, bound in bounds.items() if op in tests)
    except TypeError:
        return False


def _build_filter(spec: Any) -> Any:
    """Validate one filter (or group) up front, so a bad filter fails even on an empty location."""
    if not isinstance(spec, dict):
        raise ApiError.unprocessable(["filters must be an array of objects"])
    if "group" in spec:
        if spec["group"] not in ("AND", "OR") or not isinstance(spec.get("filters"), list):
            raise ApiError.unprocessable(["group must be one of the following values: AND, OR"])
        children = [_build_filter(child) for child in spec["filters"]]
        combine = all if spec["group"] == "AND" else any
        return lambda c: combine(child(c) for child in children)
    field = _check_field(spec.get("field"))
    operator = spec.get("operator")
    if operator not in _OPERATORS:
        raise ApiError(
            400, {"statusCode": 400, "message": f"Invalid operator {operator}", "error": "Bad Request"}
        )
    wanted = spec.get("value")
    if isinstance(wanted, str) and len(wanted) > 75:
        raise ApiError.unprocessable(["value must be shorter than or equal to 75 characters"])

    def test(contact: Json) -> bool:
        value = _field_value(contact, field)
        if operator == "exists":
            return value not in (None, "", [])
        if operator == "not_exists":
            return value in (None, "", [])
        if operator == "eq":
            return _compare(value, wanted)
        if operator == "not_eq":
            return not _compare(value, wanted)
        if operator == "contains":
            return _contains(value, wanted)
        if operator == "not_contains":
            return not _contains(value, wanted)
        return _in_range(value, wanted)

    return test


def search_contacts(ctx: Ctx) -> Reply:
    """``POST /contacts/search``: filters, sort, ``page`` paging up to 10,000 rows, ``searchAfter`` beyond."""
    body = ctx.body
    loc = ctx.location(body["locationId"])
    page_limit = body["pageLimit"]
    if not 1 <= page_limit <= SEARCH_MAX_PAGE_LIMIT:
        raise ApiError.unprocessable([f"pageLimit must not be greater than {SEARCH_MAX_PAGE_LIMIT}"])
    search_after = body.get("searchAfter")
    page = body.get("page")
    if search_after is not None and page is not None:
        raise ApiError.unprocessable(["page should not exist when searchAfter is used"])
    page = page or 1
    if page < 1:
        raise ApiError.unprocessable(["page must not be less than 1"])
    if search_after is None and page * page_limit > SEARCH_MAX_WINDOW:
        raise ApiError.bad_request(
            f"page * pageLimit must not exceed {SEARCH_MAX_WINDOW}; use searchAfter to page further"
        )
    filters = [_build_filter(spec) for spec in body.get("filters") or []]
    sort_specs = body.get("sort") or [{"field": "dateAdded", "direction": "asc"}]
    if not isinstance(sort_specs, list) or not sort_specs:
        raise ApiError.unprocessable(["sort must be an array"])
    sort = sort_specs[0]
    if not isinstance(sort, dict) or sort.get("direction", "asc") not in ("asc", "desc"):
        raise ApiError.unprocessable(["sort.direction must be one of the following values: asc, desc"])
    sort_field = _check_field(sort.get("field"))
    descending = sort.get("direction") == "desc"
    visible = loc.contact_search.view(loc.contacts, ctx.now_s)
    rows = [c for c in visible if all(f(c) for f in filters)]
    query = body.get("query")
    if query:
        rows = [c for c in rows if _matches_query(c, query)]

    def key(contact: Json) -> tuple[int, Any, str]:
        value = _field_value(contact, sort_field)
        # Missing values sort last in both directions; ids break ties so the cursor is total.
        missing = 1 if value is None else 0
        return (missing, "" if value is None else value, contact["id"])

    try:
        rows.sort(key=key, reverse=descending)
    except TypeError:
        rows.sort(key=lambda c: (key(c)[0], str(key(c)[1]), c["id"]), reverse=descending)
    total = len(rows)
    if search_after is not None:
        if len(search_after) != 2 or not isinstance(search_after[1], str):
            raise ApiError.unprocessable(["searchAfter must be [sortValue, id] from the last row"])
        cursor_id = search_after[1]
        ids = [c["id"] for c in rows]
        start = ids.index(cursor_id) + 1 if cursor_id in ids else _cursor_position(rows, key, search_after)
        page_rows = rows[start : start + page_limit]
    else:
        page_rows = rows[(page - 1) * page_limit : page * page_limit]
    out = []
    for contact in page_rows:
        view = contact_view(contact)
        sort_value = _field_value(contact, sort_field)
        view["searchAfter"] = [sort_value if sort_value is not None else 0, contact["id"]]
        out.append(view)
    return Reply(200, {"contacts": out, "total": total})


def _cursor_position(rows: list[Json], key: Any, search_after: list[Any]) -> int:
    """The cursor row was deleted: continue after where it would sort."""
    probe = (0, search_after[0], search_after[1])
    for index, contact in enumerate(rows):
        try:
            if key(contact) > probe:
                return index
        except TypeError:
            return index
    return len(rows)


# ---- tags ----------------------------------------------------------------------------------------


_TAGS_BODY = {"tags": Field(kind="strs", required=True)}


def add_tags(ctx: Ctx) -> Reply:
    body = ctx.body
    loc, contact = ctx.owned("contacts", ctx.path_params["contactId"], "Contact")
    tags = normalize_tags(body["tags"])
    with ctx.reindex(loc.contact_search, loc.contacts, contact["id"]):
        contact["tags"] = contact.get("tags", []) + [t for t in tags if t not in contact.get("tags", [])]
    loc.ensure_tags(tags, ctx.new_id)
    return Reply(201, {"tags": list(contact["tags"])})


def remove_tags(ctx: Ctx) -> Reply:
    body = ctx.body
    loc, contact = ctx.owned("contacts", ctx.path_params["contactId"], "Contact")
    drop = set(normalize_tags(body["tags"]))
    with ctx.reindex(loc.contact_search, loc.contacts, contact["id"]):
        contact["tags"] = [t for t in contact.get("tags", []) if t not in drop]
    return Reply(200, {"tags": list(contact["tags"])})


_BULK_TAGS_BODY = {
    "contacts": Field(kind="strs", required=True),
    "tags": Field(kind="strs", required=True),
    "locationId": Field(required=True),
    "removeAllTags": Field(kind="bool"),
}


def bulk_tags(ctx: Ctx) -> Reply:
    kind = ctx.path_params["type"]
    if kind not in ("add", "remove"):
        raise ApiError.unprocessable(["type must be one of the following values: add, remove"])
    body = ctx.body
    loc = ctx.location(body["locationId"])
    if body.get("removeAllTags") and kind != "remove":
        raise ApiError.bad_request("removeAllTags can only be used with remove type")
    tags = normalize_tags(body["tags"])
    errors: list[str] = []
    for contact_id in body["contacts"]:
        contact = loc.contacts.get(contact_id)
        if contact is None:
            errors.append(contact_id)
            continue
        with ctx.reindex(loc.contact_search, loc.contacts, contact_id):
            if kind == "add":
                contact["tags"] = contact["tags"] + [t for t in tags if t not in contact["tags"]]
            elif body.get("removeAllTags"):
                contact["tags"] = []
            else:
                contact["tags"] = [t for t in contact["tags"] if t not in tags]
    if kind == "add":
        loc.ensure_tags(tags, ctx.new_id)
    responses = [f"Contact {cid} not found" for cid in errors]
    return Reply(201, {"succeded": not errors, "errorCount": len(errors), "responses": responses})


def contact_appointments(ctx: Ctx) -> Reply:
    """``GET /contacts/{id}/appointments``: naive ``YYYY-MM-DD HH:mm:ss`` times in location time (§13)."""
    loc, contact = ctx.owned("contacts", ctx.path_params["contactId"], "Contact")
    events = [event_view_naive(loc, e) for e in loc.events.values() if e["contactId"] == contact["id"]]
    return Reply(200, {"events": events})


ROUTES = [
    ApiRoute(
        method="POST",
        path="/contacts/search",
        handler=search_contacts,
        scope="contacts.readonly",
        body=_SEARCH_BODY,
    ),
    ApiRoute(
        method="GET",
        path="/contacts/search/duplicate",
        handler=duplicate_lookup,
        scope="contacts.readonly",
        query=frozenset({"locationId", "number", "email"}),
    ),
    ApiRoute(
        method="POST",
        path="/contacts/upsert",
        handler=upsert_contact,
        scope="contacts.write",
        body=UPSERT_FIELDS,
        contact_commit=True,
    ),
    ApiRoute(
        method="POST",
        path="/contacts/bulk/tags/update/{type}",
        handler=bulk_tags,
        # Neither the spec (no security) nor Scopes.md names one: contacts.write is the sandbox's guess.
        scope="contacts.write",
        body=_BULK_TAGS_BODY,
    ),
    ApiRoute(
        method="POST",
        path="/contacts/",
        handler=create_contact,
        scope="contacts.write",
        body=CREATE_FIELDS,
        contact_commit=True,
    ),
    ApiRoute(
        method="GET",
        path="/contacts/",
        handler=legacy_list,
        scope="contacts.readonly",
        query=frozenset({"locationId", "startAfterId", "startAfter", "query", "limit"}),
    ),
    ApiRoute(method="GET", path="/contacts/{contactId}", handler=get_contact, scope="contacts.readonly"),
    ApiRoute(
        method="PUT",
        path="/contacts/{contactId}",
        handler=update_contact,
        scope="contacts.write",
        body=UPDATE_FIELDS,
    ),
    ApiRoute(method="DELETE", path="/contacts/{contactId}", handler=delete_contact, scope="contacts.write"),
    ApiRoute(
        method="POST",
        path="/contacts/{contactId}/tags",
        handler=add_tags,
        scope="contacts.write",
        body=_TAGS_BODY,
    ),
    ApiRoute(
        method="DELETE",
        path="/contacts/{contactId}/tags",
        handler=remove_tags,
        scope="contacts.write",
        body=_TAGS_BODY,
    ),
    ApiRoute(
        method="GET",
        path="/contacts/{contactId}/appointments",
        handler=contact_appointments,
        scope="contacts.readonly",
    ),
]
