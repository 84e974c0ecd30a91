"""``HighLevelClient``: one sub-account, every request through its shared limiter and the retry rules.

Retry rules (why they differ):
- READ / IDEMPOTENT (GET, PUT, DELETE, upserts, searches, tag adds): retried on 429, 5xx, timeouts and
  connection errors with the :class:`RetryPolicy`'s capped, jittered backoff. Repeating them changes nothing.
- CREATE (a POST that makes a new object): retried only when the failure proves HighLevel never processed
  it: a 429 (rejected by the rate limiter) or a connection that was never established. Any other failure
  (read timeout, reset after sending, 5xx, and for contacts a 400/422 HighLevel is known to answer after
  creating anyway) raises :class:`AmbiguousWriteError` with the keys to look the object up
  (:meth:`HighLevelClient.find_created`).
- 401: the credential refreshes once (OAuth / agency exchange) and the request is repeated.

Bounds (:class:`HttpLimits`): every attempt must finish within ``request_deadline_s`` (a timeout to the
rules above) and its body within ``max_response_bytes`` (never retried: a create is ambiguous, anything
else a :class:`ResponseFormatError`); every listing within ``max_pages`` pages, with no cursor twice.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import attrs
import httpx

from dentrix_highlevel._errors import (
    AmbiguousWriteError,
    ConfigurationError,
    DailyCapReachedError,
    DuplicateContactError,
    ResponseFormatError,
    TransportError,
)
from dentrix_highlevel._http_limits import (
    HttpLimits,
    PageGuard,
    RequestDeadlineExceeded,
    ResponseTooLarge,
    require_secure_url,
    send_bounded,
)
from dentrix_highlevel._version import __version__
from dentrix_highlevel.highlevel._auth import Auth, TokenEndpoint, as_auth
from dentrix_highlevel.highlevel._failures import error_for, retry_after_s, trace_id_of
from dentrix_highlevel.highlevel._limiter import LimiterRegistry, RateBudget, RateLimiter, default_registry
from dentrix_highlevel.highlevel._pool import client_transport
from dentrix_highlevel.highlevel._request_kind import RequestKind
from dentrix_highlevel.highlevel._retry import RetryPolicy

if TYPE_CHECKING:
    from dentrix_highlevel.highlevel._resources import (
        Appointments,
        Associations,
        Calendars,
        Contacts,
        CustomFields,
        CustomValues,
        Locations,
        Media,
        Notes,
        Opportunities,
        Pipelines,
        Tags,
        Tasks,
        Users,
        Workflows,
    )
    from dentrix_highlevel.highlevel._resources._find import FoundObject

__all__ = ["DEFAULT_BASE_URL", "HighLevelClient", "RequestKind", "SendTracker", "version_for"]

DEFAULT_BASE_URL = "https://services.leadconnectorhq.com"
_log = logging.getLogger("dentrix_highlevel.highlevel")


class _QueryRedactingFilter(logging.Filter):
    """httpx logs every request's full URL at INFO. Our query strings can hold a patient's e-mail or phone
    (HighLevel's duplicate search takes them there), so the query is cut from httpx's records before any
    handler sees them; the path (ids only) stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) and a.query for a in record.args):
            record.args = tuple(
                a.copy_with(query=None) if isinstance(a, httpx.URL) and a.query else a for a in record.args
            )
        return True


class _Cookies(httpx.Cookies):
    """httpx's cookie jar, skipped for responses that set no cookie.

    httpx hands every response to the jar, which first copies the request and the response headers into
    ``urllib`` stand-ins (a few percent of the client's CPU per request). Without a ``Set-Cookie`` or
    ``Set-Cookie2`` header the jar would find nothing to store, so the copy is skipped; a response that
    sets one is handled by httpx as before.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


_HTTPX_FILTER = _QueryRedactingFilter()
logging.getLogger("httpx").addFilter(_HTTPX_FILTER)  # the same object each import: added once

# Failures where the request provably never reached HighLevel.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@attrs.define
class SendTracker:
    """Counts the requests a block of code put on the wire (:meth:`HighLevelClient.track_sends`)."""

    sent: int = 0


# True inside a ``before_first_write`` hook: its own writes pass the gate they open.
_IN_WRITE_HOOK: contextvars.ContextVar[bool] = contextvars.ContextVar("_IN_WRITE_HOOK", default=False)
_TRACKER: contextvars.ContextVar[SendTracker | None] = contextvars.ContextVar(
    "dhl_send_tracker", default=None
)


_HEADERS = {"Accept": "application/json", "User-Agent": f"dentrix-highlevel/{__version__}"}


def version_for(path: str) -> str:
    """HighLevel's ``Version`` header: calendars are still on 2021-04-15, everything else 2021-07-28."""
    return "2021-04-15" if path.startswith("/calendars") else "2021-07-28"


@attrs.frozen(kw_only=True)
class _Call:
    method: str
    path: str
    kind: RequestKind
    json: Any = attrs.field(default=None, repr=False)
    params: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    data: Mapping[str, str] | None = attrs.field(default=None, repr=False)
    files: Any = attrs.field(default=None, repr=False)
    resource: str = "object"
    lookup: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    ambiguous_statuses: frozenset[int] = frozenset()


class HighLevelClient:
    """Async client for one HighLevel sub-account (location).

    ``auth`` is a Private Integration token string or an :class:`Auth` (``PrivateIntegrationToken``,
    ``OAuthToken``, ``AgencyLocationToken``); ``token="pit-…"`` is shorthand for a PIT. ``transport``
    plugs in any httpx transport (the sandbox's in-process one in tests). ``base_url`` must be
    ``https://`` unless its host is loopback (a sandbox on ``http://127.0.0.1``): the token would travel in
    clear. ``limits`` bounds every request and listing (:class:`HttpLimits`). The ``HTTP(S)_PROXY`` /
    ``ALL_PROXY`` environment is ignored unless ``trust_env=True``; ``proxy`` names one explicitly.
    ``timeout`` (an ``httpx.Timeout``) replaces ``timeout_s``/``connect_timeout_s`` when given.
    ``http_client`` runs every request through an ``httpx.AsyncClient`` of yours instead (its timeouts,
    pool, proxy and TLS settings; it must not follow redirects); ``aclose()`` leaves it open.
    Requests to one (base URL,
    location) share one :class:`RateLimiter` taken from ``limiter_registry`` (the process-wide one by
    default) unless ``limiter`` is given.
    Use it as ``async with HighLevelClient(...) as hl:``; resource groups are attributes
    (``hl.contacts``, ``hl.notes``, ``hl.opportunities``...).
    """

    def __init__(
        self,
        *,
        location_id: str,
        auth: Auth | str | None = None,
        token: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        timeout: httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        budget: RateBudget | None = None,
        limiter: RateLimiter | None = None,
        limiter_registry: LimiterRegistry | None = None,
        max_connections: int = 100,
        limits: HttpLimits | None = None,
        trust_env: bool = False,
        proxy: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if not location_id:
            raise ConfigurationError("HighLevelClient needs a location_id")
        if timeout_s <= 0 or connect_timeout_s <= 0:
            raise ConfigurationError("timeouts must be > 0 seconds")
        require_secure_url(base_url, what="HighLevel base_url")
        if http_client is not None:
            if timeout is not None:
                raise ConfigurationError("timeout= configures the client's own httpx client: set it on yours")
            if transport is not None or proxy is not None or trust_env:
                raise ConfigurationError(
                    "transport=, proxy= and trust_env= configure the client's own httpx client: "
                    "set them on the http_client you pass instead"
                )
            if http_client.follow_redirects:
                # A redirect would carry the request (and its body) to wherever HighLevel's answer points.
                raise ConfigurationError("the http_client must not follow redirects (follow_redirects=False)")
        self.location_id = location_id
        self.base_url = base_url.rstrip("/")
        self.limits = limits or HttpLimits()
        #: Whether the proxy environment (``HTTPS_PROXY`` ...) is used: only when asked for.
        self.trust_env = trust_env
        credential = auth if auth is not None else token
        if credential is None or (auth is not None and token is not None):
            raise ConfigurationError("give exactly one of auth= (any Auth or a token) or token= (a PIT)")
        self.auth = as_auth(credential)
        self.retry = retry or RetryPolicy()
        # A limiter taken from a registry is held until aclose() (or until this client is collected,
        # if nobody closed it): then a later client of the same sub-account may bring another budget.
        # A limiter the caller passed is the caller's.
        self._release_limiter: Callable[[], object] = lambda: None
        if limiter is None:
            registry = limiter_registry if limiter_registry is not None else default_registry()
            limiter = registry.hold(self.base_url, location_id, budget)
            self._release_limiter = weakref.finalize(
                self, registry.release, self.base_url, location_id, limiter
            )
        self.limiter = limiter
        self._rng = self.retry.rng()
        self._sleep = sleep
        #: Whether aclose() closes the httpx client: only the one this client opened, never the caller's.
        self._owns_http = http_client is None
        pool_limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        if http_client is None and transport is None and proxy is None and not trust_env:
            # httpx's default transport with a pool that costs less CPU per request (see _pool). Not with
            # trust_env: httpx reads the proxy environment only when it makes the transport itself.
            transport = client_transport(limits=pool_limits)
        self._http = (
            http_client
            if http_client is not None
            else httpx.AsyncClient(
                transport=transport,
                # An httpx.Timeout of the caller's wins over the two float seconds.
                timeout=timeout
                if timeout is not None
                else httpx.Timeout(timeout_s, connect=connect_timeout_s),
                limits=pool_limits,
                headers=_HEADERS,
                # A proxy from the environment would see every request (and, over http, the token): only
                # when the caller asks for it.
                trust_env=trust_env,
                proxy=proxy,
            )
        )
        if self._owns_http and type(getattr(self._http, "_cookies", None)) is httpx.Cookies:
            # httpx keeps the jar in ``_cookies`` (its ``cookies`` setter would copy into a plain one).
            self._http._cookies = _Cookies()
        self._tokens = TokenEndpoint(self._http, self.base_url, limits=self.limits)
        self._closed = False
        #: HTTP requests this client has put on the wire (retries included; refused-before-send excluded).
        self.requests_sent = 0
        self._write_hook: Callable[[], Awaitable[None]] | None = None
        from dentrix_highlevel.highlevel import _resources as r

        self.contacts: Contacts = r.Contacts(self)
        self.notes: Notes = r.Notes(self)
        self.tasks: Tasks = r.Tasks(self)
        self.tags: Tags = r.Tags(self)
        self.custom_fields: CustomFields = r.CustomFields(self)
        self.custom_values: CustomValues = r.CustomValues(self)
        self.locations: Locations = r.Locations(self)
        self.users: Users = r.Users(self)
        self.calendars: Calendars = r.Calendars(self)
        self.appointments: Appointments = r.Appointments(self)
        self.opportunities: Opportunities = r.Opportunities(self)
        self.pipelines: Pipelines = r.Pipelines(self)
        self.media: Media = r.Media(self)
        self.associations: Associations = r.Associations(self)
        self.workflows: Workflows = r.Workflows(self)

    def __repr__(self) -> str:
        return (
            f"HighLevelClient(location_id={self.location_id!r}, base_url={self.base_url!r}, "
            f"auth={type(self.auth).__name__}, limiter={self.limiter!r})"
        )

    async def __aenter__(self) -> HighLevelClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._release_limiter()
            if self._owns_http:
                await self._http.aclose()

    @contextlib.contextmanager
    def track_sends(self) -> Iterator[SendTracker]:
        """Count the requests sent inside the block by this task (its context): a create cancelled while
        it waited for the rate limiter (``sent == 0``) provably never reached HighLevel."""
        tracker = SendTracker()
        reset = _TRACKER.set(tracker)
        try:
            yield tracker
        finally:
            _TRACKER.reset(reset)

    def before_first_write(self, hook: Callable[[], Awaitable[None]] | None) -> None:
        """Await ``hook`` once, before the first write (any method but GET) this client sends from now on;
        its own writes pass, and writes other tasks send meanwhile do not wait. A hook that raises is
        tried again by the next write. ``None`` removes it. (The migration's lease on the location: a run
        that writes nothing sends nothing.)"""
        self._write_hook = hook

    async def _pass_write_hook(self) -> None:
        # Taken by the first writer; writes of other tasks in the meantime do not wait for it (a task
        # the hook waits on may be one of them).
        hook, self._write_hook = self._write_hook, None
        if hook is None:
            return
        reset = _IN_WRITE_HOOK.set(True)
        try:
            await hook()
        except BaseException:
            if self._write_hook is None:
                self._write_hook = hook
            raise
        finally:
            _IN_WRITE_HOOK.reset(reset)

    @property
    def token_endpoint(self) -> TokenEndpoint:
        """The ``/oauth/*`` caller auth objects use (e.g. ``await auth.exchange(client.token_endpoint)``)."""
        return self._tokens

    def page_guard(self, method: str, path: str) -> PageGuard:
        """A :class:`PageGuard` for one listing, failing with a :class:`ResponseFormatError` on it."""

        def fail(message: str) -> Exception:
            return ResponseFormatError(message, method=method, path=path)

        return PageGuard(max_pages=self.limits.max_pages, fail=fail)

    # -- the one request path ------------------------------------------------------------------------
    async def call(
        self,
        method: str,
        path: str,
        *,
        kind: RequestKind,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        files: Any = None,
        resource: str = "object",
        lookup: Mapping[str, str] | None = None,
        ambiguous_statuses: frozenset[int] = frozenset(),
    ) -> dict[str, Any]:
        """Send one API request under the limiter and retry rules; returns the JSON object body.

        ``path`` holds ids only (it is logged and put in exceptions); anything else goes in ``params``.
        """
        if self._write_hook is not None and method.upper() != "GET" and not _IN_WRITE_HOOK.get():
            await self._pass_write_hook()
        call = _Call(
            method=method.upper(),
            path=path,
            kind=kind,
            json=json,
            params=params,
            data=data,
            files=files,
            resource=resource,
            lookup=dict(lookup or {}),
            ambiguous_statuses=ambiguous_statuses,
        )
        return await self._run(call)

    async def _run(self, call: _Call) -> dict[str, Any]:
        if self._closed:
            raise ConfigurationError("this HighLevelClient is closed")
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.retry.max_attempts
            ticket = await self.limiter.admit()
            try:
                token = await self.auth.token(self._tokens)
                request = self._http.build_request(
                    call.method,
                    self.base_url + call.path,
                    json=call.json,
                    params=call.params,
                    data=call.data,
                    files=call.files,
                    # The defaults again: a caller's http_client has its own (or none).
                    headers={
                        **_HEADERS,
                        "Authorization": f"Bearer {token}",
                        "Version": version_for(call.path),
                    },
                )
            except BaseException:
                self.limiter.withdraw(ticket)  # nothing left: the slot goes back
                raise
            # The limiter's log holds the time the request leaves, not the time it was admitted.
            ticket = self.limiter.sent(ticket)
            started = time.perf_counter()
            self.requests_sent += 1
            tracker = _TRACKER.get()
            if tracker is not None:
                tracker.sent += 1
            try:
                response, content = await send_bounded(self._http, request, self.limits)
            except ResponseTooLarge as too_large:
                self.limiter.observe(ticket, too_large.headers, status_code=too_large.status_code)
                cause = f"response over max_response_bytes={too_large.limit_bytes}"
                if call.kind is RequestKind.CREATE:
                    raise self._ambiguous(
                        call, cause=cause, status=too_large.status_code, trace_id=None
                    ) from None
                # Not retried: the same server would send the same body again.
                raise ResponseFormatError(
                    f"{cause}; not read",
                    method=call.method,
                    path=call.path,
                    status_code=too_large.status_code,
                ) from None
            except httpx.TransportError as exc:
                elapsed_ms = (time.perf_counter() - started) * 1000
                _log.debug(
                    "%s %s -> %s after %.0f ms (attempt %d)",
                    call.method,
                    call.path,
                    type(exc).__name__,
                    elapsed_ms,
                    attempt,
                )
                not_sent = isinstance(exc, _NOT_SENT)
                if call.kind is RequestKind.CREATE and not not_sent:
                    raise self._ambiguous(
                        call, cause=type(exc).__name__, status=None, trace_id=None
                    ) from None
                if last:
                    reason = str(exc) if isinstance(exc, RequestDeadlineExceeded) else type(exc).__name__
                    raise TransportError(
                        f"no answer after {attempt} attempts ({reason})",
                        method=call.method,
                        path=call.path,
                    ) from None
                await self._sleep(self.retry.delay_s(attempt, self._rng))
                continue

            elapsed_ms = (time.perf_counter() - started) * 1000
            body = _json_or_none(content)
            trace_id = _trace_id(body, response)
            _log.debug(
                "%s %s -> %d in %.0f ms traceId=%s (attempt %d)",
                call.method,
                call.path,
                response.status_code,
                elapsed_ms,
                trace_id,
                attempt,
            )
            self.limiter.observe(ticket, response.headers, status_code=response.status_code)
            status = response.status_code

            if response.is_success:
                if not isinstance(body, dict):
                    raise ResponseFormatError(
                        "success response is not a JSON object",
                        method=call.method,
                        path=call.path,
                        status_code=status,
                        trace_id=trace_id,
                    )
                return body

            if status == 401 and not refreshed:
                refreshed = True
                if await self.auth.refresh(self._tokens, rejected=token):
                    attempt -= 1  # a refreshed credential is not a retry of a failure
                    continue

            if status == 429:
                daily = response.headers.get("x-ratelimit-daily-remaining")
                if daily is not None and daily.strip() in ("0", "0.0"):
                    raise DailyCapReachedError(
                        "HighLevel's daily request cap is exhausted",
                        remaining=0,
                        retry_after_s=retry_after_s(response),
                        method=call.method,
                        path=call.path,
                        status_code=status,
                        trace_id=trace_id,
                    )
                pause = self.limiter.on_429(retry_after_s(response))
                _log.debug(
                    "429 on %s %s: every task of this location pauses %.2f s", call.method, call.path, pause
                )
                if last:
                    raise error_for(response, body, method=call.method, path=call.path, content=content)
                continue  # the limiter holds everyone (us included) until the pause is over

            error = error_for(response, body, method=call.method, path=call.path, content=content)
            if call.kind is RequestKind.CREATE:
                if status >= 500:
                    raise self._ambiguous(
                        call, cause=f"HTTP {status}", status=status, trace_id=trace_id
                    ) from error
                if status in call.ambiguous_statuses and not isinstance(error, DuplicateContactError):
                    raise self._ambiguous(
                        call, cause=f"HTTP {status}", status=status, trace_id=trace_id
                    ) from error
                raise error
            if status >= 500 and not last:
                await self._sleep(self.retry.delay_s(attempt, self._rng))
                continue
            raise error

    def _ambiguous(
        self, call: _Call, *, cause: str, status: int | None, trace_id: str | None
    ) -> AmbiguousWriteError:
        return AmbiguousWriteError(
            f"{call.resource} create may or may not have happened ({cause}); look it up first",
            resource=call.resource,
            lookup=dict(call.lookup),
            cause=cause,
            method=call.method,
            path=call.path,
            status_code=status,
            trace_id=trace_id,
        )

    async def find_created(self, error: AmbiguousWriteError) -> FoundObject | None:
        """Resolve an ambiguous create: the object if HighLevel has it, else None (safe to create again)."""
        from dentrix_highlevel.highlevel._resources import find_created

        return await find_created(self, error)


def _json_or_none(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return None


def _trace_id(body: Any, response: httpx.Response) -> str | None:
    # Only a value shaped like a trace id: it is logged and shown, and a server may echo anything there.
    return trace_id_of(body, response)
