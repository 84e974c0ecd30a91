"""Users: create, search, get, update, delete, the deprecated list by location and the agency's filter by
e-mail (API-NOTES §4). Users live in the company; the sandbox keeps each one in the location that created
it and lists it for any location it names in ``locationIds``."""

from __future__ import annotations

from typing import Any

from dentrix_highlevel.sandbox._http import (
    ApiError,
    ApiRoute,
    Ctx,
    Field,
    Reply,
    drop_none,
    fields,
    normalize_email,
    normalize_phone,
)
from dentrix_highlevel.sandbox._state import LocationState

__all__ = ["ROUTES"]

Json = dict[str, Any]

_USER_FIELDS = {
    **fields(Field(), "companyId", "firstName", "lastName", "email", "password", "phone"),
    "type": Field(enum=("account", "agency")),
    "role": Field(enum=("admin", "user")),
    "locationIds": Field(kind="strs"),
    "permissions": Field(kind="obj"),
    "scopes": Field(kind="strs"),
    "scopesAssignedToOnly": Field(kind="strs"),
    "profilePhoto": Field(),
    "twilioPhone": Field(kind="obj"),
    "platformLanguage": Field(),
}
_USER_CREATE = {
    **_USER_FIELDS,
    **{
        key: Field(kind=_USER_FIELDS[key].kind, required=True, enum=_USER_FIELDS[key].enum)
        for key in ("companyId", "firstName", "lastName", "email", "password", "type", "role", "locationIds")
    },
}


def _view(user: Json) -> Json:
    # The password is write-only.
    return {k: v for k, v in user.items() if k != "password"}


def _user(ctx: Ctx) -> tuple[LocationState, Json]:
    return ctx.owned("users", ctx.path_params["userId"], "User")


def _check_company(ctx: Ctx, loc: LocationState, company_id: str | None) -> None:
    if company_id is not None and company_id != loc.company_id:
        raise ApiError.forbidden()


def create_user(ctx: Ctx) -> Reply:
    loc = ctx.location()
    body = ctx.body
    _check_company(ctx, loc, body["companyId"])
    if any(lid != loc.location_id for lid in body["locationIds"]):
        raise ApiError.forbidden()
    email = normalize_email(body["email"])
    if any(u["email"] == email for u in loc.users.values()):
        raise ApiError.bad_request("User already exists with this email")
    user = drop_none(
        {
            "id": ctx.new_id(),
            "name": f"{body['firstName']} {body['lastName']}".strip(),
            "firstName": body["firstName"],
            "lastName": body["lastName"],
            "email": email,
            "phone": normalize_phone(body.get("phone")),
            "permissions": body.get("permissions") or {},
            "roles": {
                "type": body["type"],
                "role": body["role"],
                "locationIds": list(body["locationIds"]),
                "restrictSubAccount": False,
            },
            "deleted": False,
            "password": body["password"],
            "platformLanguage": body.get("platformLanguage"),
        }
    )
    loc.users[user["id"]] = user
    return Reply(201, _view(user))


def search_users(ctx: Ctx) -> Reply:
    loc = ctx.location(ctx.query.get("locationId") or None)
    _check_company(ctx, loc, ctx.require_query("companyId"))
    try:
        skip = int(ctx.query.get("skip", "0"))
        limit = int(ctx.query.get("limit", "25"))
    except ValueError:
        raise ApiError.unprocessable(["skip and limit must be numeric strings"]) from None
    query = (ctx.query.get("query") or "").lower()
    wanted_ids = set(filter(None, (ctx.query.get("ids") or "").split(",")))
    rows = [
        u
        for u in loc.users.values()
        if not u["deleted"]
        and (not query or query in u["name"].lower() or query in u["email"])
        and (not wanted_ids or u["id"] in wanted_ids)
        and (not ctx.query.get("role") or u["roles"]["role"] == ctx.query.get("role"))
        and (not ctx.query.get("type") or u["roles"]["type"] == ctx.query.get("type"))
    ]
    return Reply(200, {"users": [_view(u) for u in rows[skip : skip + limit]], "count": len(rows)})


def users_of_location(ctx: Ctx) -> Reply:
    """Deprecated ``GET /users/?locationId`` ("Get User by Location"): ``{users}``, no paging."""
    loc = ctx.location(ctx.require_query("locationId"))
    return Reply(200, {"users": [_view(u) for u in loc.users.values() if not u["deleted"]]})


#: FilterByEmailDto (spec users); skip and limit are strings there.
_FILTER_BY_EMAIL = {
    "companyId": Field(required=True),
    "emails": Field(required=True),
    "deleted": Field(kind="bool"),
    **fields(Field(), "skip", "limit", "projection"),
}
AGENCY_ONLY = "This route is not yet supported by the IAM Service."


def filter_by_email(ctx: Ctx) -> Reply:
    """``POST /users/search/filter-by-email``: Agency-Access only (spec security), across the company.

    ``projection`` "all" returns every field, a comma list those fields; the default only id and email.
    """
    token = ctx.token
    if token is None or token.location_id is not None:
        # A sub-account token on an agency-only route (message as for the reverse case; a guess).
        raise ApiError.unauthorized(AGENCY_ONLY)
    body = ctx.body
    if body["companyId"] != token.company_id:
        raise ApiError.forbidden()
    try:
        skip, limit = int(body.get("skip") or 0), int(body.get("limit") or 25)
    except ValueError:
        raise ApiError.unprocessable(["skip and limit must be numeric strings"]) from None
    wanted = {e.strip().lower() for e in body["emails"].split(",") if e.strip()}
    deleted = bool(body.get("deleted", False))
    seen: dict[str, Json] = {}
    for loc in ctx.state.locations.values():
        if loc.company_id != token.company_id:
            continue
        for user in loc.users.values():
            if user["email"] in wanted and user["deleted"] == deleted:
                seen.setdefault(user["id"], user)
    rows = list(seen.values())
    projection = body.get("projection")
    if projection == "all":
        fields = None
    else:
        fields = {"id", "email"} | {f.strip() for f in (projection or "").split(",") if f.strip()}
    users = [
        _view(u) if fields is None else {k: v for k, v in _view(u).items() if k in fields}
        for u in rows[skip : skip + limit]
    ]
    return Reply(200, {"users": users, "count": len(rows)})


def get_user(ctx: Ctx) -> Reply:
    _, user = _user(ctx)
    return Reply(200, _view(user))


def update_user(ctx: Ctx) -> Reply:
    body = ctx.body
    loc, user = _user(ctx)
    _check_company(ctx, loc, body.get("companyId"))
    for key in ("firstName", "lastName", "permissions", "platformLanguage", "password"):
        if body.get(key) is not None:
            user[key] = body[key]
    if body.get("email") is not None:
        user["email"] = normalize_email(body["email"])
    if body.get("phone") is not None:
        user["phone"] = normalize_phone(body["phone"])
    for key in ("type", "role"):
        if body.get(key) is not None:
            user["roles"][key] = body[key]
    if body.get("locationIds") is not None:
        user["roles"]["locationIds"] = list(body["locationIds"])
    user["name"] = f"{user['firstName']} {user['lastName']}".strip()
    return Reply(200, _view(user))


def delete_user(ctx: Ctx) -> Reply:
    """HighLevel queues the delete; the sandbox removes the user at once and says it was queued."""
    loc, user = _user(ctx)
    del loc.users[user["id"]]
    return Reply(200, {"succeded": True, "message": f"Queued deleting user with id {user['id']}"})


_SEARCH_QUERY = frozenset(
    {
        "companyId",
        "query",
        "skip",
        "limit",
        "locationId",
        "type",
        "role",
        "ids",
        "sort",
        "sortDirection",
        "enabled2waySync",
    }
)
ROUTES = [
    ApiRoute(
        method="GET",
        path="/users/",
        handler=users_of_location,
        scope="users.readonly",
        query=frozenset({"locationId"}),
    ),
    ApiRoute(
        method="POST",
        path="/users/search/filter-by-email",
        handler=filter_by_email,
        scope="users.readonly",
        body=_FILTER_BY_EMAIL,
    ),
    ApiRoute(
        method="GET", path="/users/search", handler=search_users, scope="users.readonly", query=_SEARCH_QUERY
    ),
    ApiRoute(method="POST", path="/users/", handler=create_user, scope="users.write", body=_USER_CREATE),
    ApiRoute(method="GET", path="/users/{userId}", handler=get_user, scope="users.readonly"),
    ApiRoute(
        method="PUT", path="/users/{userId}", handler=update_user, scope="users.write", body=_USER_FIELDS
    ),
    ApiRoute(method="DELETE", path="/users/{userId}", handler=delete_user, scope="users.write"),
]
