"""The emulator's ASGI app (Starlette): the OAuth token endpoint and every list resource.

Per API request, in order: injected fault, bearer token (401, Apigee's ``oauth.v2.InvalidAccessToken``),
``Organization-ID`` (400 when missing, 403 when it is not this organisation — how a vendor not enabled
for an organisation is answered [I]), forbidden resource (403), rate limit per token (429 +
``Retry-After``), then the list with ``filter``, ``page``/``pageSize`` or ``lastId``/``pageSize``. Every
request is logged. Error bodies are ``{"errors": [{"code", "message"}]}`` (shape guessed, SOURCE-NOTES §8).
"""

from __future__ import annotations

import bisect
import json
import math
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dentrix_highlevel.ascend_emulator._config import AscendRequestRecord, EmulatorHost
from dentrix_highlevel.ascend_emulator._filters import FilterError, matches, parse_filter
from dentrix_highlevel.sources._order import id_order

__all__ = ["API_PREFIX", "TOKEN_PATH", "build_app"]

API_PREFIX = "/ascend-gateway/api/"
TOKEN_PATH = "/oauth/client_credential/accesstoken"  # noqa: S105 -- a URL path, not a secret


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json(status, {"errors": [{"code": code, "message": message}]}, headers)


def _retry_after(seconds: float) -> str:
    millis = max(1, math.ceil(seconds * 1000))
    whole, rest = divmod(millis, 1000)
    return str(whole) if rest == 0 else f"{whole}.{rest:03d}".rstrip("0")


def build_app(emulator: EmulatorHost) -> Starlette:
    config = emulator.config

    def log(request: Request, status: int) -> None:
        emulator.log(
            AscendRequestRecord(
                time_s=config.clock(),
                method=request.method,
                path=request.url.path,
                params=dict(request.query_params),
                status=status,
                organization_id=request.headers.get("organization-id"),
            )
        )

    async def token(request: Request) -> Response:
        response = await _token(request)
        log(request, response.status_code)
        return response

    async def _token(request: Request) -> Response:
        if request.query_params.get("grant_type") != "client_credentials":
            return _json(400, {"ErrorCode": "invalid_request", "Error": "Unsupported grant type"})
        form = await request.form()
        if form.get("client_id") != config.client_id or form.get("client_secret") != config.client_secret:
            return _json(401, {"ErrorCode": "invalid_client", "Error": "ClientId is Invalid"})
        access = emulator.issue_token()
        return _json(
            200,
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": str(config.token_ttl_s),  # a string, as Ascend sends it
                "client_id": config.client_id,
                "status": "approved",
            },
        )

    async def api(request: Request) -> Response:
        response = _api(request)
        log(request, response.status_code)
        return response

    def _api(request: Request) -> Response:
        fault = emulator.take_fault()
        if fault is not None:
            return _error(fault, "fault", "injected fault")
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not emulator.token_valid(credential.strip()):
            return _json(
                401,
                {
                    "fault": {
                        "faultstring": "Invalid access token",
                        "detail": {"errorcode": "oauth.v2.InvalidAccessToken"},
                    }
                },
            )
        organization = request.headers.get("organization-id")
        if not organization:
            return _error(400, "missing_organization", "Organization-ID header is required")
        if organization != config.organization_id:
            return _error(403, "forbidden", "vendor is not enabled for this organization")
        path = request.path_params["path"].strip("/")
        resource = emulator.resource_for(path)
        if resource is None:
            return _error(404, "not_found", "no such resource")
        if resource in config.forbidden:
            return _error(403, "forbidden", "vendor is not enabled for this resource")
        wait = emulator.admit(credential.strip())
        if wait is not None:
            return _error(429, "rate_limited", "too many requests", {"Retry-After": _retry_after(wait)})
        params = dict(request.query_params)
        try:
            terms = parse_filter(params.get("filter", ""))
        except FilterError:
            return _error(400, "bad_filter", "filter could not be parsed")
        for term in [t for t in terms if t.field in ("page", "pageSize")]:
            terms.remove(term)
            params.setdefault(term.field, str(term.value))
        try:
            page_size = int(params.get("pageSize", config.default_page_size))
            page = int(params.get("page", "1"))
        except ValueError:
            return _error(400, "bad_paging", "page and pageSize must be integers")
        if not 1 <= page_size <= config.max_page_size or page < 1:
            return _error(400, "bad_paging", f"pageSize must be 1..{config.max_page_size}, page >= 1")
        if resource == "aging_report":
            return _aging(terms, page, page_size)
        if terms:
            items = [o for o in emulator.objects(resource) if matches(o, terms)]
            keys = [id_order(str(o["id"])) for o in items]
        else:
            items, keys = emulator.objects(resource), emulator.sort_keys(resource)
        total = len(items)
        last_id = params.get("lastId")
        if last_id:
            start = bisect.bisect_right(keys, id_order(last_id))
            chunk = items[start : start + page_size]
            current_page = None
        else:
            chunk = items[(page - 1) * page_size : page * page_size]
            current_page = page
        pagination = {
            "page": current_page,
            "pageSize": page_size,
            "total": total,
            "lastId": str(chunk[-1]["id"]) if chunk else None,
        }
        return _json(200, {"data": chunk, "warnings": [], "meta": {"pagination": pagination}})

    def _aging(terms: list[Any], page: int, page_size: int) -> Response:
        location_terms = [t for t in terms if t.field == "location.id"]
        rows = emulator.aging_rows()
        if any(not matches({"location": {"id": emulator.location_id}}, [t]) for t in location_terms):
            rows = []
        chunk = rows[(page - 1) * page_size : page * page_size]
        total_balance = round(sum(r["balance"] for r in rows), 2)
        data = {"type": "AgingBalanceReportV1", "balance": total_balance, "patientReports": chunk}
        pagination = {"page": page, "pageSize": page_size, "total": len(rows)}
        return _json(200, {"data": data, "warnings": [], "meta": {"pagination": pagination}})

    return Starlette(
        routes=[
            Route(TOKEN_PATH, token, methods=["POST"]),
            Route(API_PREFIX + "{path:path}", api, methods=["GET"]),
        ]
    )
