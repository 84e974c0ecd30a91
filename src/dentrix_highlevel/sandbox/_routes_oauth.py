"""OAuth 2.0 (API-NOTES §10): ``POST /oauth/token`` with authorization_code and refresh_token grants
(each refresh rotates the refresh token), and the agency -> location exchange ``POST /oauth/locationToken``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from dentrix_highlevel.sandbox._http import ApiError, ApiRoute, Ctx, Field, Reply
from dentrix_highlevel.sandbox._state import OAuthGrant, TokenInfo

__all__ = ["ROUTES"]

Json = dict[str, Any]

#: The token and location-token form fields (spec oauth); the pipeline refuses others.
_TOKEN_FORM = dict.fromkeys(
    ("client_id", "client_secret", "grant_type", "code", "refresh_token", "user_type", "redirect_uri"),
    Field(kind="any"),
)
_LOCATION_TOKEN_FORM = dict.fromkeys(("companyId", "locationId"), Field(kind="any"))


def _form(ctx: Ctx, allowed: Mapping[str, Field], required: tuple[str, ...]) -> dict[str, str]:
    if ctx.form is None:
        raise ApiError.unprocessable([f"{k} should not be empty" for k in required])
    values = {k: v for k, v in ctx.form.items() if isinstance(v, str) and k in allowed}
    problems = [f"{k} should not be empty" for k in required if not values.get(k)]
    if problems:
        raise ApiError.unprocessable(problems)
    return values


def _grant_access(ctx: Ctx, access: str, info: TokenInfo) -> tuple[str, Json]:
    """Store ``access`` as ``info`` for a new user id (minted here, after the caller's tokens, so ids
    come in the same order); returns the user id and the answer's first keys."""
    user_id = ctx.new_id()
    ctx.state.tokens[access] = attrs.evolve(
        info, expires_at_s=ctx.now_s + ctx.access_token_ttl_s, user_id=user_id
    )
    head = {"access_token": access, "token_type": "Bearer", "expires_in": int(ctx.access_token_ttl_s)}
    return user_id, head


def _issue(ctx: Ctx, grant: OAuthGrant, scopes: frozenset[str]) -> Json:
    """New access + refresh tokens for ``grant``; the refresh token is single-use."""
    access = ctx.ids.token("oat-")
    refresh = ctx.ids.token("ort-")
    info = TokenInfo(
        kind="oauth",
        location_id=grant.location_id,
        company_id=grant.company_id,
        scopes=scopes,
        client_id=grant.client_id,
    )
    user_id, head = _grant_access(ctx, access, info)
    ctx.state.refresh_tokens[refresh] = grant
    body: Json = {
        **head,
        "refresh_token": refresh,
        "scope": " ".join(sorted(scopes)),
        "userType": grant.user_type,
        "companyId": grant.company_id,
        "userId": user_id,
        "isBulkInstallation": False,
    }
    if grant.location_id is not None:
        body["locationId"] = grant.location_id
        body["approvedLocations"] = [grant.location_id]
    return body


def token(ctx: Ctx) -> Reply:
    values = _form(ctx, _TOKEN_FORM, ("client_id", "client_secret", "grant_type"))
    app = ctx.state.oauth_apps.get(values["client_id"])
    if app is None or app.client_secret != values["client_secret"]:
        raise ApiError.unauthorized("Invalid client: client is invalid")
    grant_type = values["grant_type"]
    if grant_type == "authorization_code":
        grant = ctx.state.auth_codes.pop(values.get("code", ""), None)
        if grant is None or grant.client_id != app.client_id:
            raise ApiError.bad_request("Invalid grant: authorization code is invalid", error="Bad Request")
    elif grant_type == "refresh_token":
        grant = ctx.state.refresh_tokens.pop(values.get("refresh_token", ""), None)
        if grant is None or grant.client_id != app.client_id:
            raise ApiError.bad_request("Invalid grant: refresh token is invalid", error="Bad Request")
    else:
        raise ApiError.unprocessable(
            ["grant_type must be one of the following values: authorization_code, refresh_token"]
        )
    return Reply(200, _issue(ctx, grant, app.scopes))


def location_token(ctx: Ctx) -> Reply:
    """Agency token -> location token; the answer has no refresh_token (spec oauth)."""
    values = _form(ctx, _LOCATION_TOKEN_FORM, ("companyId", "locationId"))
    agency = ctx.token
    if agency is None or agency.location_id is not None:
        raise ApiError.unauthorized("This route is only for agency (Company) tokens")
    loc = ctx.state.locations.get(values["locationId"])
    if loc is None or values["companyId"] != agency.company_id or loc.company_id != agency.company_id:
        raise ApiError.bad_request("Location not found for this company")
    info = TokenInfo(
        kind="location",
        location_id=loc.location_id,
        company_id=loc.company_id,
        scopes=agency.scopes,
        client_id=agency.client_id,
    )
    user_id, head = _grant_access(ctx, ctx.ids.token("olt-"), info)
    body = {
        **head,
        "scope": " ".join(sorted(agency.scopes)),
        "locationId": loc.location_id,
        "userId": user_id,
    }
    return Reply(200, body)


ROUTES = [
    ApiRoute(
        method="POST",
        path="/oauth/token",
        handler=token,
        scope=None,
        version=None,
        body=_TOKEN_FORM,
        form=True,
    ),
    ApiRoute(
        method="POST",
        path="/oauth/locationToken",
        handler=location_token,
        scope="oauth.write",
        body=_LOCATION_TOKEN_FORM,
        form=True,
    ),
]
