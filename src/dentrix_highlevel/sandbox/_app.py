"""The ASGI app: every HighLevel route wrapped in the cross-cutting behaviour HighLevel shows.

Per API request, in order: ``Version`` header (401), bearer token and scope (401), rate limit per
(token, location) and 429 storms (429 + ``Retry-After``), injected latency and pre-commit 5xx, the
validation pipe (undeclared query parameters 422, the path's location 403, the body against the route's
field table 422), the handler (4xx in HighLevel's shapes), post-commit faults, then ``traceId`` in the
JSON body, the five ``X-RateLimit-*`` headers and one request-log record. ``SandboxConfig.strict`` turns
single checks off.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import attrs
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from dentrix_highlevel.sandbox import (
    _routes_associations,
    _routes_calendars,
    _routes_contacts,
    _routes_locations,
    _routes_media,
    _routes_notes_tasks,
    _routes_oauth,
    _routes_opportunities,
    _routes_users,
    _routes_workflows,
)
from dentrix_highlevel.sandbox._faults import FaultDraw, faultable
from dentrix_highlevel.sandbox._host import IN_PROCESS_HEADER, SandboxHost
from dentrix_highlevel.sandbox._http import KNOWN_VERSIONS, ApiError, ApiRoute, Ctx, Reply, check_body
from dentrix_highlevel.sandbox._ratelimit import RateDecision
from dentrix_highlevel.sandbox._routes_admin import admin_routes
from dentrix_highlevel.sandbox._state import RequestRecord, TokenInfo

__all__ = ["IN_PROCESS_HEADER", "build_app"]

INVALID_TOKEN = "Invalid token: access token is invalid"  # noqa: S105 (a message, not a secret)
NO_SCOPE = "The token is not authorized for this scope."
NO_VERSION = "version header was not found."
BAD_VERSION = "version header is invalid"

ALL_ROUTES: list[ApiRoute] = [
    *_routes_contacts.ROUTES,
    *_routes_notes_tasks.ROUTES,
    *_routes_locations.ROUTES,
    *_routes_users.ROUTES,
    *_routes_calendars.ROUTES,
    *_routes_opportunities.ROUTES,
    *_routes_media.ROUTES,
    *_routes_oauth.ROUTES,
    *_routes_associations.ROUTES,
    *_routes_workflows.ROUTES,
]


class _CutOffResponse(Response):
    """Served-mode connection reset: announce the full body, send half, stop (the client sees the
    connection drop mid-response, after the server did the work)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send(
            {"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True}
        )
        # Returning mid-body makes the server close the socket (uvicorn logs one line, no traceback).


def _error_response(status: int) -> tuple[bytes, str]:
    """5xx bodies: 500 is HighLevel's JSON; 502/503 come from the load balancer as HTML."""
    if status == 500:
        return json.dumps(
            {"statusCode": 500, "message": "Internal server error"}
        ).encode(), "application/json"
    reason = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}.get(
        status, "Server Error"
    )
    html = (
        f"<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}</h1></body></html>"
    )
    return html.encode(), "text/html; charset=utf-8"


@attrs.frozen
class _Exchange:
    """One request as its answer is recorded: who asked, when, under which trace id and rate decision."""

    request: Request
    token: TokenInfo | None
    now_s: float
    trace_id: str
    decision: RateDecision
    admitted: bool


class _Pipeline:
    def __init__(self, sandbox: SandboxHost) -> None:
        self.sandbox = sandbox

    def endpoint(self, route: ApiRoute) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            return await self.handle(route, request)

        return handle

    def _authenticate(self, route: ApiRoute, request: Request, now_s: float) -> TokenInfo | None:
        strict = self.sandbox.config.strict
        if route.version is not None:
            version = request.headers.get("version")
            if not version:
                raise ApiError(401, {"statusCode": 401, "message": NO_VERSION})
            # Strict: the one version the operation declares; lenient: any documented version anywhere.
            accepted = {route.version} if strict.versions else KNOWN_VERSIONS
            if version not in accepted:
                raise ApiError(401, {"statusCode": 401, "message": BAD_VERSION})
        if route.scope is None:
            return None
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        info = self.sandbox.state.tokens.get(credential.strip()) if scheme.lower() == "bearer" else None
        if info is None or (info.expires_at_s is not None and now_s >= info.expires_at_s):
            raise ApiError.unauthorized(INVALID_TOKEN)
        # Before any validation: 401 here versus 422 later tells a caller whether a scope is granted.
        if strict.scopes and route.scope not in info.scopes:
            raise ApiError.unauthorized(NO_SCOPE)
        return info

    def _validate(self, route: ApiRoute, ctx: Ctx) -> Ctx:
        """The validation pipe: query parameters, then the path's location (403 before 422), then the body."""
        strict = ctx.strict
        unknown = [name for name in dict.fromkeys(ctx.query.keys()) if name not in route.query]
        if unknown and strict.query_params:
            raise ApiError.unprocessable([f"property {name} should not exist" for name in unknown])
        if "locationId" in ctx.path_params:
            ctx.location(ctx.path_params["locationId"])
        if route.body is None:
            return ctx
        if route.form:
            names = [] if ctx.form is None else list(dict.fromkeys(ctx.form.keys()))
            extra = [name for name in names if name not in route.body]
            if extra and strict.body_properties:
                raise ApiError.unprocessable([f"property {name} should not exist" for name in extra])
            return ctx
        # NestJS validates an absent body as {}: required keys fail, an all-optional DTO passes.
        body = check_body(
            {} if ctx.body is None else ctx.body, route.body, forbid_unknown=strict.body_properties
        )
        return attrs.evolve(ctx, body=body)

    async def _parse(self, route: ApiRoute, request: Request) -> tuple[Any, FormData | None]:
        if route.form:
            content_type = request.headers.get("content-type", "")
            if "multipart/form-data" in content_type or "application/x-www-form-urlencoded" in content_type:
                # The 25 MB check needs the whole part; python-multipart spools big files to disk.
                form = await request.form(max_part_size=self.sandbox.config.media_max_bytes + 1)
                return None, form
            return None, None
        raw = await request.body()
        if not raw.strip():
            return None, None
        try:
            return json.loads(raw), None
        except ValueError:
            raise ApiError.bad_request("Unexpected token in JSON body", error="Bad Request") from None

    async def handle(self, route: ApiRoute, request: Request) -> Response:
        sandbox = self.sandbox
        now_s = sandbox.config.clock()
        trace_id = str(uuid.uuid4())
        path = request.url.path
        in_process = request.headers.get(IN_PROCESS_HEADER) == "1"
        token: TokenInfo | None = None
        decision: RateDecision = sandbox.limiter.peek(
            None, now_s, burst_max=sandbox.faults.config.advertised_rate_max
        )
        admitted = False  # counted against a rate budget
        draw = FaultDraw()
        try:
            token = self._authenticate(route, request, now_s)
            if token is not None:
                # HighLevel budgets per Marketplace app per resource: every OAuth token of one app
                # (before and after a refresh) shares it; a PIT is its own "app".
                principal = f"app:{token.client_id}" if token.client_id else request.headers["authorization"]
                key = (principal, token.location_id or token.company_id)
                advertised = sandbox.faults.config.advertised_rate_max
                if faultable(path) and sandbox.faults.storming(now_s):
                    decision = attrs_evolve_storm(
                        sandbox.limiter.peek(key, now_s, burst_max=advertised), sandbox, now_s
                    )
                else:
                    decision = sandbox.limiter.acquire(key, now_s, burst_max=advertised)
                admitted = decision.admitted
                if not admitted:
                    raise ApiError(429, {"statusCode": 429, "message": "Too Many Requests"})
            if faultable(path):
                draw = sandbox.faults.draw(
                    contact_commit=route.contact_commit, transport_faults=not in_process
                )
                if draw.latency_s > 0:
                    await anyio.sleep(draw.latency_s)
                if draw.error_before is not None:
                    return self._finish_raw(
                        _Exchange(request, token, now_s, trace_id, decision, admitted), draw.error_before
                    )
            body, form = await self._parse(route, request)
            ctx = Ctx(
                state=sandbox.state,
                strict=sandbox.config.strict,
                token=token,
                path_params=request.path_params,
                query=request.query_params,
                body=body,
                form=form,
                now_s=now_s,
                wall_s=sandbox.config.wall_clock(),
                index_lag_s=sandbox.config.effective_search_lag_s,
                media_max_bytes=sandbox.config.media_max_bytes,
                access_token_ttl_s=sandbox.config.access_token_ttl_s,
            )
            try:
                reply = route.handler(self._validate(route, ctx))
            finally:
                if form is not None:
                    await form.close()
        except ApiError as error:
            reply = Reply(error.status, error.body)
        exchange = _Exchange(request, token, now_s, trace_id, decision, admitted)
        if 200 <= reply.status < 300:
            if draw.created_anyway is not None:
                reply = _created_anyway(draw.created_anyway)
            elif draw.error_after is not None:
                return self._finish_raw(exchange, draw.error_after)
        return await self._finish(exchange, reply, draw)

    def _record(self, exchange: _Exchange, status: int) -> None:
        token = exchange.token
        self.sandbox.state.request_log.append(
            RequestRecord(
                time_s=exchange.now_s,
                method=exchange.request.method,
                path=exchange.request.url.path,
                status=status,
                location_id=token.location_id if token is not None else None,
                admitted=exchange.admitted,
                trace_id=exchange.trace_id,
            )
        )

    def _finish_raw(self, exchange: _Exchange, status: int) -> Response:
        content, media_type = _error_response(status)
        self._record(exchange, status)
        headers = exchange.decision.headers()
        return Response(content, status_code=status, media_type=media_type, headers=headers)

    async def _finish(self, exchange: _Exchange, reply: Reply, draw: FaultDraw) -> Response:
        body = reply.body
        if isinstance(body, dict) and "traceId" not in body:
            body = {**body, "traceId": exchange.trace_id}
        content = json.dumps(body, separators=(",", ":")).encode()
        headers = exchange.decision.headers()
        self._record(exchange, reply.status)
        if draw.timeout:
            # Served mode: the work is done, the answer comes too late for any sane client timeout.
            await anyio.sleep(self.sandbox.faults.config.timeout_s)
        response_class = _CutOffResponse if draw.reset else Response
        return response_class(
            content, status_code=reply.status, media_type="application/json", headers=headers
        )


def attrs_evolve_storm(decision: RateDecision, sandbox: SandboxHost, now_s: float) -> RateDecision:
    """A 429 storm refuses everything for its duration; the budget itself is untouched."""
    wait = max(sandbox.faults.config.storm_retry_after_s, 0.001)
    wait = min(wait, max(sandbox.faults.storm_remaining_s(now_s), 0.001))
    return RateDecision(
        admitted=False,
        burst_max=decision.burst_max,
        burst_remaining=0,
        window_ms=decision.window_ms,
        daily_max=decision.daily_max,
        daily_remaining=decision.daily_remaining,
        retry_after_s=wait,
    )


def _created_anyway(status: int) -> Reply:
    """HighLevel's "4xx returned but the contact was created anyway" (issue highlevel-api-docs#64)."""
    if status == 422:
        return Reply(
            422, {"statusCode": 422, "message": ["Unprocessable Entity"], "error": "Unprocessable Entity"}
        )
    return Reply(400, {"statusCode": 400, "message": "Bad Request"})


def _not_found(sandbox: SandboxHost) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        # NestJS's answer for an unknown route.
        body = {
            "message": f"Cannot {request.method} {request.url.path}",
            "error": "Not Found",
            "statusCode": 404,
            "traceId": str(uuid.uuid4()),
        }
        headers = sandbox.limiter.peek(None, sandbox.config.clock()).headers()
        return Response(json.dumps(body), status_code=404, media_type="application/json", headers=headers)

    return handle


def build_app(sandbox: SandboxHost) -> Starlette:
    pipeline = _Pipeline(sandbox)
    routes: list[BaseRoute] = list(admin_routes(sandbox))
    for route in ALL_ROUTES:
        endpoint = pipeline.endpoint(route)
        routes.append(Route(route.path, endpoint, methods=[route.method]))
        if route.path.endswith("/") and len(route.path) > 1:
            # HighLevel (NestJS) answers the collection root with or without the trailing slash.
            routes.append(Route(route.path.rstrip("/"), endpoint, methods=[route.method]))
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    routes.append(Route("/{path:path}", _not_found(sandbox), methods=methods))
    app = Starlette(routes=routes)
    app.router.redirect_slashes = False
    return app
