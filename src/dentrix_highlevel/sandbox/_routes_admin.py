"""The test/admin surface under ``/_sandbox/``, a prefix HighLevel does not use.

No authentication: the sandbox is meant for loopback only, and these routes never get faults, rate
limits or request-log records. Errors use the same JSON shape as the API (``statusCode``/``message``).

A web page in the operator's browser can still reach a loopback port: by DNS rebinding (a name of its own
resolving to 127.0.0.1, so its requests carry that name as ``Host``) or by a cross-site request (which
carries the page's ``Origin``). So the admin routes answer only a loopback ``Host`` (or the in-process base
URL's) and, when there is an ``Origin``, a loopback one: anything else is a 403 before the handler runs.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import attrs
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.sandbox._config import FaultConfig
from dentrix_highlevel.sandbox._host import SandboxHost

__all__ = ["admin_routes", "fault_config_from_json", "fault_config_to_json"]

Json = dict[str, Any]


def fault_config_to_json(config: FaultConfig) -> Json:
    out = attrs.asdict(config)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def fault_config_from_json(data: Any) -> FaultConfig:
    if not isinstance(data, dict):
        raise ConfigurationError("faults must be a JSON object")
    known = {f.name for f in attrs.fields(FaultConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigurationError(f"unknown fault options: {', '.join(unknown)}")
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    try:
        return FaultConfig(**values)
    except TypeError as error:
        raise ConfigurationError(f"bad fault options: {error}") from None


_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
#: The host the in-process transport sends (the sandbox answers HighLevel's base URL in-process).
_IN_PROCESS_HOST = "services.leadconnectorhq.com"


def _hostname(value: str) -> str:
    """The name part of a Host header (``[::1]:8765`` -> ``::1``, ``localhost:80`` -> ``localhost``)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def admin_request_refused(request: Request) -> str | None:
    """Why an admin request must be refused (a foreign Host or Origin), or None."""
    host = _hostname(request.headers.get("host", ""))
    if host not in _LOOPBACK_NAMES and host != _IN_PROCESS_HOST:
        return "admin routes answer loopback hosts only"
    origin = request.headers.get("origin")
    if origin is not None and (urlsplit(origin).hostname or "") not in _LOOPBACK_NAMES:
        return "admin routes refuse cross-site requests"
    return None


def _error(status: int, message: str) -> Response:
    return JSONResponse({"statusCode": status, "message": message}, status_code=status)


async def _json(request: Request) -> Json:
    raw = await request.body()
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ConfigurationError("body must be a JSON object")
    return data


def admin_routes(sandbox: SandboxHost) -> Iterator[Route]:
    def guarded(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            refused = admin_request_refused(request)
            if refused is not None:
                return _error(403, refused)
            try:
                return await handler(request)
            except (ConfigurationError, KeyError, ValueError, TypeError) as error:
                return _error(400, str(error))

        return run

    async def create_location(request: Request) -> Response:
        data = await _json(request)
        allowed = {
            "locationId",
            "token",
            "allowDuplicates",
            "dedupeOrder",
            "timezone",
            "name",
            "companyId",
            "scopes",
        }
        unknown = sorted(set(data) - allowed)
        if unknown:
            return _error(422, f"unknown keys: {', '.join(unknown)}")
        info = sandbox.create_location(
            location_id=data.get("locationId"),
            token=data.get("token"),
            allow_duplicates=bool(data.get("allowDuplicates", False)),
            dedupe_order=tuple(data.get("dedupeOrder", ("email", "phone"))),
            timezone=data.get("timezone", "America/Denver"),
            name=data.get("name", "Sandbox Dental"),
            company_id=data.get("companyId"),
            scopes=tuple(data["scopes"]) if data.get("scopes") is not None else None,
        )
        body = {"locationId": info.location_id, "token": info.token, "companyId": info.company_id}
        return JSONResponse(body, status_code=201)

    async def reset(_: Request) -> Response:
        sandbox.reset()
        return JSONResponse({"reset": True})

    async def state(_: Request) -> Response:
        return JSONResponse(sandbox.dump())

    async def requests(request: Request) -> Response:
        location_id = request.query_params.get("locationId")
        records = [
            attrs.asdict(r)
            for r in sandbox.request_log
            if location_id is None or r.location_id == location_id
        ]
        body = {
            "requests": records,
            "windowMs": sandbox.config.rate_window_ms,
            "maxInWindow": sandbox.max_requests_in_window(location_id=location_id),
            "maxAdmittedInWindow": sandbox.max_requests_in_window(
                location_id=location_id, admitted_only=True
            ),
        }
        return JSONResponse(body)

    async def get_faults(_: Request) -> Response:
        return JSONResponse({"faults": fault_config_to_json(sandbox.faults.config)})

    async def put_faults(request: Request) -> Response:
        config = fault_config_from_json(await _json(request))
        sandbox.set_faults(config)
        return JSONResponse({"faults": fault_config_to_json(config)})

    async def oauth_app(request: Request) -> Response:
        data = await _json(request)
        scopes = data.get("scopes")
        sandbox.register_oauth_app(
            client_id=str(data["clientId"]),
            client_secret=str(data["clientSecret"]),
            scopes=tuple(scopes) if scopes is not None else None,
        )
        return JSONResponse({"clientId": data["clientId"]}, status_code=201)

    async def oauth_code(request: Request) -> Response:
        data = await _json(request)
        code = sandbox.authorization_code(
            client_id=str(data["clientId"]),
            location_id=data.get("locationId"),
            company_id=data.get("companyId"),
        )
        return JSONResponse({"code": code}, status_code=201)

    async def settle(request: Request) -> Response:
        data = await _json(request)
        unknown = sorted(set(data) - {"locationId"})
        if unknown:
            return _error(422, f"unknown keys: {', '.join(unknown)}")
        sandbox.settle_search_index(data.get("locationId"))
        return JSONResponse({"settled": True})

    async def workflow(request: Request) -> Response:
        data = await _json(request)
        unknown = sorted(set(data) - {"locationId", "name", "status"})
        if unknown:
            return _error(422, f"unknown keys: {', '.join(unknown)}")
        created = sandbox.add_workflow(
            str(data["locationId"]), name=str(data["name"]), status=str(data.get("status", "published"))
        )
        return JSONResponse({"workflow": created}, status_code=201)

    yield Route("/_sandbox/locations", guarded(create_location), methods=["POST"])
    yield Route("/_sandbox/workflows", guarded(workflow), methods=["POST"])
    yield Route("/_sandbox/search-index/settle", guarded(settle), methods=["POST"])
    yield Route("/_sandbox/reset", guarded(reset), methods=["POST"])
    yield Route("/_sandbox/state", guarded(state), methods=["GET"])
    yield Route("/_sandbox/requests", guarded(requests), methods=["GET"])
    yield Route("/_sandbox/faults", guarded(get_faults), methods=["GET"])
    yield Route("/_sandbox/faults", guarded(put_faults), methods=["PUT"])
    yield Route("/_sandbox/oauth/apps", guarded(oauth_app), methods=["POST"])
    yield Route("/_sandbox/oauth/codes", guarded(oauth_code), methods=["POST"])
