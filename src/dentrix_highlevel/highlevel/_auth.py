"""Who the client is: a static Private Integration token, OAuth 2.0 with refresh, or agency → location.

Tokens live only in memory. ``repr``/``str`` of every class here hides them, they never go into logs or
exception messages, and nothing here writes them to disk: persisting a rotated refresh token is the
caller's ``on_refresh`` callback's job (HighLevel rotates it on every refresh, so it must be persisted).
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import anyio
import attrs
import httpx

from dentrix_highlevel._errors import (
    AuthenticationError,
    ConfigurationError,
    HighLevelError,
    ResponseFormatError,
    TransportError,
)
from dentrix_highlevel._http_limits import HttpLimits, ResponseTooLarge, require_secure_url, send_bounded
from dentrix_highlevel._server_text import debug_text, error_code, safe_trace_id

__all__ = [
    "AgencyLocationToken",
    "Auth",
    "LocationToken",
    "OAuthToken",
    "OAuthTokens",
    "PrivateIntegrationToken",
    "TokenEndpoint",
]

_OAUTH_VERSION = "2021-07-28"
# Form values a token endpoint could echo back that must not reach even a --debug terminal.
_SECRET_FORM_KEYS = frozenset({"client_secret", "refresh_token", "code"})


class TokenEndpoint:
    """How auth objects reach ``/oauth/*``: the client's own HTTP connection, outside the rate limiter,
    within the client's :class:`HttpLimits` (size and deadline)."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, *, limits: HttpLimits | None = None) -> None:
        # The form carries client secrets and refresh tokens: https only (loopback excepted), as the client.
        require_secure_url(base_url, what="HighLevel base_url")
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._limits = limits or HttpLimits()

    def __repr__(self) -> str:
        return f"TokenEndpoint(base_url={self._base_url!r})"

    async def post_form(
        self, path: str, data: Mapping[str, str], *, bearer: str | None = None, version: str | None = None
    ) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        if version is not None:
            headers["Version"] = version
        request = self._http.build_request("POST", self._base_url + path, data=dict(data), headers=headers)
        try:
            response, content = await send_bounded(self._http, request, self._limits)
        except ResponseTooLarge as exc:
            raise ResponseFormatError(
                f"token response over max_response_bytes={exc.limit_bytes}",
                method="POST",
                path=path,
                status_code=exc.status_code,
            ) from None
        except httpx.HTTPError as exc:
            reason = str(exc) if isinstance(exc, httpx.TimeoutException) and str(exc) else type(exc).__name__
            raise TransportError(f"token request failed: {reason}", method="POST", path=path) from None
        body: Any
        try:
            body = json.loads(content) if content else None
        except ValueError:
            body = None
        trace_id = safe_trace_id(body.get("traceId")) if isinstance(body, dict) else None
        if not response.is_success:
            # The message may name the grant problem ("invalid refresh token"); never echo it nor the form
            # (kept for --debug with the secrets we sent blotted out).
            failure: HighLevelError = (
                AuthenticationError(
                    "token request rejected",
                    method="POST",
                    path=path,
                    status_code=response.status_code,
                    trace_id=trace_id,
                )
                if response.status_code in (400, 401, 403, 422)
                else HighLevelError(
                    "token request failed",
                    method="POST",
                    path=path,
                    status_code=response.status_code,
                    trace_id=trace_id,
                )
            )
            failure.code = error_code(body)
            sent = tuple(v for k, v in data.items() if k in _SECRET_FORM_KEYS)
            failure._debug_detail = debug_text(
                response.status_code, body, content, secrets=(*sent, bearer or "")
            )
            raise failure
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise ResponseFormatError(
                "token response has no access_token",
                method="POST",
                path=path,
                status_code=response.status_code,
                trace_id=trace_id,
            )
        return body


@runtime_checkable
class Auth(Protocol):
    """What the client needs from any credential."""

    async def token(self, endpoint: TokenEndpoint) -> str:
        """The bearer token to send now (refreshing first when it is known to be expired)."""
        ...

    async def refresh(self, endpoint: TokenEndpoint, *, rejected: str) -> bool:
        """HighLevel answered 401 to ``rejected``: get a new token; False when this credential cannot."""
        ...


@attrs.frozen
class PrivateIntegrationToken:
    """A sub-account's static Private Integration token (``pit-…``); it does not refresh."""

    value: str = attrs.field(repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.value or any(c.isspace() for c in self.value):
            raise ConfigurationError("a Private Integration token must be a non-empty string without spaces")

    def __repr__(self) -> str:
        return "PrivateIntegrationToken(value=<redacted>)"

    __str__ = __repr__

    async def token(self, endpoint: TokenEndpoint) -> str:
        return self.value

    async def refresh(self, endpoint: TokenEndpoint, *, rejected: str) -> bool:
        return False


def _opt_str(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    return value if isinstance(value, str) else None


def _expires_in(body: Mapping[str, Any]) -> float:
    value = body.get("expires_in")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 86_399.0


@attrs.frozen(kw_only=True)
class OAuthTokens:
    """One answer of ``POST /oauth/token``: what ``on_refresh`` receives to persist."""

    access_token: str = attrs.field(repr=False)
    refresh_token: str = attrs.field(repr=False)
    expires_at: float
    scope: str | None = None
    user_type: str | None = None
    location_id: str | None = None
    company_id: str | None = None
    user_id: str | None = None

    @classmethod
    def from_response(cls, body: Mapping[str, Any], *, now: float) -> OAuthTokens:
        refresh = body.get("refresh_token")
        if not isinstance(refresh, str):
            raise ResponseFormatError(
                "token response has no refresh_token", method="POST", path="/oauth/token"
            )
        return cls(
            access_token=str(body["access_token"]),
            refresh_token=refresh,
            expires_at=now + _expires_in(body),
            scope=_opt_str(body, "scope"),
            user_type=_opt_str(body, "userType"),
            location_id=_opt_str(body, "locationId"),
            company_id=_opt_str(body, "companyId"),
            user_id=_opt_str(body, "userId"),
        )


OnRefresh = Callable[[OAuthTokens], Awaitable[None] | None]


class OAuthToken:
    """OAuth 2.0 access token that refreshes itself before expiry and after a 401.

    Refreshes are single-flight: concurrent tasks that hit a 401 wait for one refresh and reuse its token.
    After every refresh ``on_refresh`` is called (and awaited if it is async) with the new
    :class:`OAuthTokens`: persist the rotated refresh token there, HighLevel invalidates the old one.
    ``expires_at`` is epoch seconds on ``clock`` (default ``time.time``).
    """

    __slots__ = (
        "_access_token",
        "_client_secret",
        "_clock",
        "_lock",
        "_refresh_token",
        "client_id",
        "expires_at",
        "on_refresh",
        "refresh_margin_s",
        "refreshes",
        "user_type",
    )

    def __init__(
        self,
        *,
        access_token: str,
        refresh_token: str,
        client_id: str,
        client_secret: str,
        expires_at: float,
        on_refresh: OnRefresh | None = None,
        user_type: str = "Location",
        refresh_margin_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not access_token or not refresh_token or not client_id or not client_secret:
            raise ConfigurationError(
                "OAuthToken needs access_token, refresh_token, client_id and client_secret"
            )
        if user_type not in ("Location", "Company"):
            raise ConfigurationError("OAuthToken.user_type must be 'Location' or 'Company'")
        self._access_token = access_token
        self._refresh_token = refresh_token
        self._client_secret = client_secret
        self.client_id = client_id
        self.expires_at = expires_at
        self.on_refresh = on_refresh
        self.user_type = user_type
        self.refresh_margin_s = refresh_margin_s
        self.refreshes = 0
        self._clock = clock
        self._lock: anyio.Lock | None = None

    def __repr__(self) -> str:
        return (
            f"OAuthToken(client_id={self.client_id!r}, user_type={self.user_type!r}, "
            f"expires_at={self.expires_at!r}, refreshes={self.refreshes}, tokens=<redacted>)"
        )

    __str__ = __repr__

    @classmethod
    async def from_authorization_code(
        cls,
        *,
        code: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str | None = None,
        user_type: str = "Location",
        on_refresh: OnRefresh | None = None,
        base_url: str = "https://services.leadconnectorhq.com",
        transport: httpx.AsyncBaseTransport | None = None,
        limits: HttpLimits | None = None,
        trust_env: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> OAuthToken:
        """Redeem the ``?code=`` of HighLevel's install redirect; ``on_refresh`` also gets this first pair.

        As for the client: ``base_url`` is https (or loopback), proxies from the environment only with
        ``trust_env=True``, ``limits`` bounds the request."""
        form = {
            "client_id": client_id,
            "client_secret": client_secret,
            "grant_type": "authorization_code",
            "code": code,
            "user_type": user_type,
        }
        if redirect_uri is not None:
            form["redirect_uri"] = redirect_uri
        require_secure_url(base_url, what="HighLevel base_url")
        async with httpx.AsyncClient(transport=transport, trust_env=trust_env) as http:
            body = await TokenEndpoint(http, base_url, limits=limits).post_form("/oauth/token", form)
        tokens = OAuthTokens.from_response(body, now=clock())
        token = cls(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            client_id=client_id,
            client_secret=client_secret,
            expires_at=tokens.expires_at,
            on_refresh=on_refresh,
            user_type=user_type,
            clock=clock,
        )
        await token._persist(tokens)
        return token

    async def _persist(self, tokens: OAuthTokens) -> None:
        if self.on_refresh is not None:
            result = self.on_refresh(tokens)
            if inspect.isawaitable(result):
                await result

    def _expired(self) -> bool:
        return self._clock() >= self.expires_at - self.refresh_margin_s

    async def token(self, endpoint: TokenEndpoint) -> str:
        if self._expired():
            await self._refresh_once(endpoint, seen=self._access_token)
        return self._access_token

    async def refresh(self, endpoint: TokenEndpoint, *, rejected: str) -> bool:
        await self._refresh_once(endpoint, seen=rejected)
        return True

    async def _refresh_once(self, endpoint: TokenEndpoint, *, seen: str) -> None:
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if self._access_token != seen and not self._expired():
                return  # another task refreshed while we waited for the lock
            body = await endpoint.post_form(
                "/oauth/token",
                {
                    "client_id": self.client_id,
                    "client_secret": self._client_secret,
                    "grant_type": "refresh_token",
                    "refresh_token": self._refresh_token,
                    "user_type": self.user_type,
                },
            )
            tokens = OAuthTokens.from_response(body, now=self._clock())
            self._access_token = tokens.access_token
            self._refresh_token = tokens.refresh_token
            self.expires_at = tokens.expires_at
            self.refreshes += 1
            await self._persist(tokens)


@attrs.frozen(kw_only=True)
class LocationToken:
    """A location access token obtained from an agency token (``POST /oauth/locationToken``)."""

    access_token: str = attrs.field(repr=False)
    expires_at: float
    location_id: str | None = None
    scope: str | None = None
    user_id: str | None = None


class AgencyLocationToken:
    """Acts for one location with an agency (Company) credential, exchanging it for a location token.

    The location token is fetched on first use and again when it expires or HighLevel answers 401; the
    agency credential itself refreshes as it normally would.
    """

    __slots__ = (
        "_clock",
        "_current",
        "_lock",
        "agency",
        "company_id",
        "exchanges",
        "location_id",
        "margin_s",
    )

    def __init__(
        self,
        *,
        agency: Auth,
        company_id: str,
        location_id: str,
        refresh_margin_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not company_id or not location_id:
            raise ConfigurationError("AgencyLocationToken needs company_id and location_id")
        self.agency = agency
        self.company_id = company_id
        self.location_id = location_id
        self.margin_s = refresh_margin_s
        self.exchanges = 0
        self._clock = clock
        self._current: LocationToken | None = None
        self._lock: anyio.Lock | None = None

    def __repr__(self) -> str:
        return (
            f"AgencyLocationToken(company_id={self.company_id!r}, location_id={self.location_id!r}, "
            f"agency={self.agency!r}, exchanges={self.exchanges})"
        )

    __str__ = __repr__

    async def token(self, endpoint: TokenEndpoint) -> str:
        current = self._current
        if current is None or self._clock() >= current.expires_at - self.margin_s:
            return await self._exchange(endpoint, seen=None if current is None else current.access_token)
        return current.access_token

    async def refresh(self, endpoint: TokenEndpoint, *, rejected: str) -> bool:
        await self._exchange(endpoint, seen=rejected)
        return True

    async def exchange(self, endpoint: TokenEndpoint) -> LocationToken:
        """Exchange now and return the new location token (also used for the next requests)."""
        await self._exchange(endpoint, seen=None if self._current is None else self._current.access_token)
        assert self._current is not None
        return self._current

    async def _exchange(self, endpoint: TokenEndpoint, *, seen: str | None) -> str:
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            current = self._current
            if (
                current is not None
                and current.access_token != seen
                and self._clock() < current.expires_at - self.margin_s
            ):
                return current.access_token
            form = {"companyId": self.company_id, "locationId": self.location_id}
            agency_token = await self.agency.token(endpoint)
            try:
                body = await endpoint.post_form(
                    "/oauth/locationToken", form, bearer=agency_token, version=_OAUTH_VERSION
                )
            except AuthenticationError:
                if not await self.agency.refresh(endpoint, rejected=agency_token):
                    raise
                agency_token = await self.agency.token(endpoint)
                body = await endpoint.post_form(
                    "/oauth/locationToken", form, bearer=agency_token, version=_OAUTH_VERSION
                )
            self._current = LocationToken(
                access_token=str(body["access_token"]),
                expires_at=self._clock() + _expires_in(body),
                location_id=_opt_str(body, "locationId"),
                scope=_opt_str(body, "scope"),
                user_id=_opt_str(body, "userId"),
            )
            self.exchanges += 1
            return self._current.access_token


def as_auth(auth: Auth | str) -> Auth:
    """A bare string is a Private Integration token (the common single-practice case)."""
    if isinstance(auth, str):
        return PrivateIntegrationToken(auth)
    if not isinstance(auth, Auth):
        raise ConfigurationError("auth must be a token string or an Auth object")
    return auth
