"""What the ASGI app, the admin routes and the in-process transport need of the sandbox they serve.

They read the :class:`~dentrix_highlevel.sandbox.Sandbox` through :class:`SandboxHost` rather than
importing ``_sandbox``, which builds the app and the transport: the dependency runs one way only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from starlette.applications import Starlette

from dentrix_highlevel.sandbox._config import FaultConfig, SandboxConfig
from dentrix_highlevel.sandbox._faults import FaultEngine
from dentrix_highlevel.sandbox._ratelimit import RateLimiter
from dentrix_highlevel.sandbox._state import LocationInfo, RequestRecord, SandboxState

__all__ = ["IN_PROCESS_HEADER", "SandboxHost"]

#: Set by :class:`SandboxTransport` so the app leaves timeouts/resets to the transport.
IN_PROCESS_HEADER = "x-sandbox-in-process"


class SandboxHost(Protocol):
    """The sandbox as its app, admin routes and transport see it (``state`` and ``faults`` are replaced
    on reset, so they are read each time, never kept)."""

    @property
    def config(self) -> SandboxConfig: ...

    @property
    def state(self) -> SandboxState: ...

    @property
    def limiter(self) -> RateLimiter: ...

    @property
    def faults(self) -> FaultEngine: ...

    @property
    def app(self) -> Starlette: ...

    @property
    def request_log(self) -> list[RequestRecord]: ...

    # Only the keywords the admin routes pass; keyword-only, so listed alphabetically.
    def create_location(
        self,
        *,
        allow_duplicates: bool = ...,
        company_id: str | None = ...,
        dedupe_order: Sequence[str] = ...,
        location_id: str | None = ...,
        name: str = ...,
        scopes: Iterable[str] | None = ...,
        timezone: str = ...,
        token: str | None = ...,
    ) -> LocationInfo: ...

    def register_oauth_app(
        self, *, client_id: str, client_secret: str, scopes: Iterable[str] | None = ...
    ) -> None: ...

    def authorization_code(
        self, *, client_id: str, location_id: str | None = ..., company_id: str | None = ...
    ) -> str: ...

    def set_faults(self, faults: FaultConfig) -> None: ...

    def max_requests_in_window(
        self, window_ms: float | None = ..., location_id: str | None = ..., *, admitted_only: bool = ...
    ) -> int: ...

    def dump(self) -> dict[str, Any]: ...

    def reset(self) -> None: ...

    def settle_search_index(self, location_id: str | None = ...) -> None: ...

    def add_workflow(self, location_id: str, *, name: str, status: str = ...) -> dict[str, Any]: ...
