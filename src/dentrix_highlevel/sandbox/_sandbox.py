"""The :class:`Sandbox`: one emulated HighLevel with its state, limits, faults and ASGI app."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from starlette.applications import Starlette

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.sandbox._app import build_app
from dentrix_highlevel.sandbox._config import FaultConfig, SandboxConfig
from dentrix_highlevel.sandbox._faults import FaultEngine
from dentrix_highlevel.sandbox._ratelimit import RateLimiter, max_in_window
from dentrix_highlevel.sandbox._state import (
    ALL_SCOPES,
    IdFactory,
    LocationInfo,
    LocationState,
    OAuthApp,
    OAuthGrant,
    RequestRecord,
    SandboxState,
    TokenInfo,
    iso_ms,
)
from dentrix_highlevel.sandbox._transport import SandboxTransport

__all__ = ["DEFAULT_PIPELINE", "Sandbox"]

#: Seeded when ``create_location(pipelines=None)``: the dental lifecycle the migration maps onto.
DEFAULT_PIPELINE: tuple[str, tuple[str, ...]] = (
    "Patient Lifecycle",
    ("New Patient", "Active", "Recall", "Inactive"),
)
_DEDUPE_FIELDS = frozenset({"email", "phone"})
#: WorkflowSchema.status (spec workflows: the example is "draft"; HighLevel's UI publishes workflows).
WORKFLOW_STATUSES = ("draft", "published")


class Sandbox:
    """An in-memory HighLevel API v2 on loopback. See ``docs/sandbox.md``.

    Use ``transport()`` for in-process httpx clients, ``app`` for any ASGI server, or
    :class:`~dentrix_highlevel.sandbox.SandboxServer` for a real uvicorn server on 127.0.0.1.
    """

    def __init__(self, config: SandboxConfig | None = None, *, faults: FaultConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        start = self.config.clock()
        #: The seed of this sandbox's ids: the configured one, or one of its own (fresh per instance).
        self.seed: int = self.config.seed if self.config.seed is not None else secrets.randbits(64)
        self.state = SandboxState(ids=IdFactory(self.seed))
        self.limiter = RateLimiter(
            window_ms=self.config.rate_window_ms,
            burst_max=self.config.rate_max,
            daily_max=self.config.daily_max,
            day_length_s=self.config.day_length_s,
            epoch_s=start,
        )
        self.faults = FaultEngine(faults or FaultConfig(), seed=self._fault_seed, set_at_s=start)
        self._app = build_app(self)

    def __repr__(self) -> str:
        return f"Sandbox(locations={len(self.state.locations)}, requests={len(self.state.request_log)})"

    @property
    def app(self) -> Starlette:
        """The ASGI application (Starlette)."""
        return self._app

    def transport(self) -> httpx.AsyncBaseTransport:
        """An httpx transport that serves requests in-process and injects transport-level faults."""
        return SandboxTransport(self)

    # ---- locations and credentials ------------------------------------------------------------------

    def create_location(
        self,
        *,
        location_id: str | None = None,
        token: str | None = None,
        allow_duplicates: bool = False,
        dedupe_order: Sequence[str] = ("email", "phone"),
        timezone: str = "America/Denver",
        name: str = "Sandbox Dental",
        company_id: str | None = None,
        pipelines: Iterable[tuple[str, Sequence[str]]] | None = None,
        scopes: Iterable[str] | None = None,
        allow_duplicate_opportunity: bool = False,
    ) -> LocationInfo:
        """Add a sub-account and a Private Integration Token (``pit-<uuid>``) for it."""
        order = tuple(dedupe_order)
        if not order or not set(order) <= _DEDUPE_FIELDS or len(set(order)) != len(order):
            raise ConfigurationError("dedupe_order must list 'email' and/or 'phone' once each")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigurationError(f"unknown IANA timezone {timezone!r}") from None
        ids = self.state.ids
        location_id = location_id or ids.object_id()
        if location_id in self.state.locations:
            raise ConfigurationError(f"location {location_id} already exists")
        token = token or ids.token("pit-")
        if token in self.state.tokens:
            raise ConfigurationError("that token is already in use")
        company_id = company_id or ids.object_id()
        loc = LocationState(
            location_id=location_id,
            company_id=company_id,
            name=name,
            timezone=timezone,
            allow_duplicates=allow_duplicates,
            dedupe_order=order,
            allow_duplicate_opportunity=allow_duplicate_opportunity,
        )
        for pipeline_name, stages in pipelines if pipelines is not None else [DEFAULT_PIPELINE]:
            pipeline_id = ids.object_id()
            loc.pipelines[pipeline_id] = {
                "id": pipeline_id,
                "name": pipeline_name,
                "stages": [
                    {"id": ids.uuid(), "name": stage, "position": i} for i, stage in enumerate(stages)
                ],
                "showInFunnel": True,
                "showInPieChart": True,
                "locationId": location_id,
            }
        self.state.locations[location_id] = loc
        self.state.tokens[token] = TokenInfo(
            kind="pit",
            location_id=location_id,
            company_id=company_id,
            scopes=frozenset(scopes) if scopes is not None else frozenset(ALL_SCOPES),
        )
        return LocationInfo(location_id=location_id, token=token, company_id=company_id)

    def register_oauth_app(
        self, *, client_id: str, client_secret: str, scopes: Iterable[str] | None = None
    ) -> None:
        """Register a Marketplace app so ``POST /oauth/token`` accepts its credentials."""
        granted = frozenset(scopes) if scopes is not None else frozenset(ALL_SCOPES)
        self.state.oauth_apps[client_id] = OAuthApp(
            client_id=client_id, client_secret=client_secret, scopes=granted
        )

    def authorization_code(
        self, *, client_id: str, location_id: str | None = None, company_id: str | None = None
    ) -> str:
        """What the chooselocation redirect would deliver: a one-time code for a location (``user_type``
        Location) or, with only ``company_id``, for the agency (Company)."""
        if client_id not in self.state.oauth_apps:
            raise ConfigurationError(f"no OAuth app {client_id!r}; call register_oauth_app first")
        if location_id is not None:
            loc = self.state.locations.get(location_id)
            if loc is None:
                raise ConfigurationError(f"no location {location_id!r}")
            grant = OAuthGrant(
                client_id=client_id, location_id=location_id, company_id=loc.company_id, user_type="Location"
            )
        elif company_id is not None:
            grant = OAuthGrant(
                client_id=client_id, location_id=None, company_id=company_id, user_type="Company"
            )
        else:
            raise ConfigurationError("give location_id or company_id")
        code = self.state.ids.uuid().replace("-", "")
        self.state.auth_codes[code] = grant
        return code

    def expire_token(self, token: str) -> None:
        """Make an access token (or PIT) invalid from now on, e.g. to test refresh-on-401."""
        info = self.state.tokens.get(token)
        if info is None:
            raise ConfigurationError("unknown token")
        self.state.tokens[token] = TokenInfo(
            kind=info.kind,
            location_id=info.location_id,
            company_id=info.company_id,
            scopes=info.scopes,
            expires_at_s=self.config.clock(),
            client_id=info.client_id,
            user_id=info.user_id,
        )

    # ---- faults, log, state ---------------------------------------------------------------------------

    def set_faults(self, faults: FaultConfig) -> None:
        """Replace the fault configuration; a storm's ``storm_after_s`` counts from now."""
        self.faults.replace(faults, set_at_s=self.config.clock())

    @property
    def request_log(self) -> list[RequestRecord]:
        return self.state.request_log

    def max_requests_in_window(
        self, window_ms: float | None = None, location_id: str | None = None, *, admitted_only: bool = False
    ) -> int:
        """The most requests the sandbox saw in any sliding window (default: the rate window).

        Counts every request by default (what a client sent); ``admitted_only`` counts only those the rate
        limiter let through, which can never exceed ``rate_max`` per (token, location).
        """
        times = [
            r.time_s
            for r in self.state.request_log
            if (location_id is None or r.location_id == location_id) and (r.admitted or not admitted_only)
        ]
        return max_in_window(times, window_ms if window_ms is not None else self.config.rate_window_ms)

    def dump(self) -> dict[str, Any]:
        """Every object of every location, JSON-able (tokens and secrets are not part of it)."""
        return {
            "locations": {lid: copy.deepcopy(loc.dump()) for lid, loc in self.state.locations.items()},
        }

    def reset(self) -> None:
        """Drop every location, token, OAuth app and the request log; the rate budget starts afresh and the
        RNGs are reseeded, so a reset sandbox mints the same ids as it did when new.
        Faults stay configured."""
        now = self.config.clock()
        self.state = SandboxState(ids=IdFactory(self.seed))
        self.limiter.reset(epoch_s=now)
        self.faults = FaultEngine(self.faults.config, seed=self._fault_seed, set_at_s=now)

    @property
    def _fault_seed(self) -> int:
        return self.config.seed if self.config.seed is not None else 0

    def settle_search_index(self, location_id: str | None = None) -> None:
        """Make everything written so far searchable now (one location, or all), as if the index lag had
        passed: a test seeds a practice's pre-existing data, settles, and never sleeps. Later writes lag
        again."""
        if location_id is not None and location_id not in self.state.locations:
            raise ConfigurationError(f"no location {location_id!r}")
        for lid, loc in self.state.locations.items():
            if location_id is None or lid == location_id:
                loc.contact_search.settle()
                loc.opportunity_search.settle()

    def add_workflow(self, location_id: str, *, name: str, status: str = "published") -> dict[str, Any]:
        """Seed a workflow, as if built in HighLevel's UI (the API can only list them): ``GET /workflows/``
        shows it. A new location has none."""
        loc = self.state.locations.get(location_id)
        if loc is None:
            raise ConfigurationError(f"no location {location_id!r}")
        if status not in WORKFLOW_STATUSES:
            raise ConfigurationError(f"workflow status must be one of {', '.join(WORKFLOW_STATUSES)}")
        if not name.strip():
            raise ConfigurationError("a workflow needs a name")
        stamp = iso_ms(self.config.wall_clock())
        workflow_id = self.state.ids.uuid()
        workflow: dict[str, Any] = {
            "id": workflow_id,
            "name": name,
            "status": status,
            "version": 1,
            "createdAt": stamp,
            "updatedAt": stamp,
            "locationId": location_id,
        }
        loc.workflows[workflow_id] = workflow
        return dict(workflow)

    def location(self, location_id: str) -> LocationState:
        """The live state of one location (for assertions in tests)."""
        return self.state.locations[location_id]
