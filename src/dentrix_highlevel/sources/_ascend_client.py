"""The HTTP side of the Ascend adapter: OAuth client credentials, the envelope, paging, retries.

Facts followed (SOURCE-NOTES §6): ``POST https://{host}/oauth/client_credential/accesstoken?grant_type=
client_credentials`` with a form body answers ``expires_in`` as a *string*; every call carries
``Authorization: Bearer`` and ``Organization-ID``; lists answer ``{data, warnings, meta: {pagination}}``;
``page``/``pageSize`` and ``lastId``/``pageSize`` both page; 429 carries ``Retry-After``.

Errors become :class:`AscendError` naming method, path (never the query: filters can hold names), status
and Ascend's error code when it has the shape of one — never a body, Ascend's message text (it can echo
request values), a token or the client secret. The body is kept on the error as ``debug_detail``, in
memory only, for ``--debug`` on a terminal.

Bounds (:class:`HttpLimits`): https only (loopback excepted: the emulator), no proxy from the environment
unless ``trust_env=True``, a body size and an overall deadline per request, a page budget and no cursor
(or page) twice per listing.
"""

from __future__ import annotations

import email.utils
import json
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx

from dentrix_highlevel._backoff import jittered_delay_s
from dentrix_highlevel._errors import AscendError, ConfigurationError
from dentrix_highlevel._http_limits import (
    HttpLimits,
    PageGuard,
    RequestDeadlineExceeded,
    ResponseTooLarge,
    require_secure_url,
    send_bounded,
)
from dentrix_highlevel._server_text import debug_text, error_code
from dentrix_highlevel.sources._ascend_config import AscendRetry, Pagination

__all__ = ["AscendClient", "Page"]

Json = dict[str, Any]
_TOKEN_PATH = "/oauth/client_credential/accesstoken"  # noqa: S105 -- a URL path, not a secret


def _refusal(
    message: str,
    response: httpx.Response,
    content: bytes,
    *,
    method: str,
    path: str,
    secrets: tuple[str, ...] = (),
) -> AscendError:
    """An AscendError for an error answer (``content``: its body, read within the limits): our fixed
    ``message``, the status and Ascend's code (from ``{"errors": [{"code", "message"}]}``); the answer
    itself only as ``debug_detail``."""
    try:
        body: Any = json.loads(content) if content else None
    except ValueError:
        body = None
    errors = body.get("errors") if isinstance(body, dict) else None
    first = errors[0] if isinstance(errors, list) and errors else body
    code = error_code(first) or error_code(body)
    shown = f"{message} ({code})" if code else message
    error = AscendError(shown, method=method, path=path, status_code=response.status_code)
    error.code = code
    error._debug_detail = debug_text(response.status_code, body, content, secrets=secrets)
    return error


class _Secret:
    """Holds a credential; its repr and str never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


class Page:
    """One page of a list: its items and what ``meta.pagination`` said."""

    __slots__ = ("items", "last_id", "page_size", "total")

    def __init__(
        self, items: list[Json], *, total: int | None, last_id: str | None, page_size: int | None = None
    ) -> None:
        self.items = items
        self.total = total
        self.last_id = last_id
        self.page_size = page_size


def _retry_after_s(value: str | None, now_epoch_s: float) -> float | None:
    """``Retry-After`` as seconds: a (possibly fractional) number or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - now_epoch_s)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _count(value: object) -> int | None:
    """A non-negative integer from ``meta.pagination`` (sent as a number or a string), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _fingerprint(item: Json) -> str:
    """What identifies an item when comparing pages: its id, or its whole content (report rows)."""
    ident = item.get("id")
    return f"id:{ident}" if ident is not None else json.dumps(item, sort_keys=True, default=str)


class AscendClient:
    """An async client for one organisation of the Ascend API Exchange.

    ``base_url`` is the API root (``https://prod.hs1api.com/ascend-gateway/api``); the token endpoint is on
    the same host unless ``token_url`` says otherwise. ``max_requests_per_s`` paces requests on our side
    (Ascend's published limits conflict, SOURCE-NOTES §6, so the default is to rely on 429 + ``Retry-After``,
    which pauses every request of this client). ``clock`` (monotonic seconds) and ``sleep`` are test seams:
    tests pass a recording sleep instead of waiting out ``Retry-After``. ``base_url`` and ``token_url``
    must be ``https://`` unless their host is loopback; ``limits`` bounds every request and listing; the
    proxy environment is ignored unless ``trust_env=True`` (``proxy`` names one explicitly).
    """

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        organization_id: str,
        transport: httpx.AsyncBaseTransport | None = None,
        token_url: str | None = None,
        retry: AscendRetry | None = None,
        timeout_s: float = 30.0,
        refresh_margin_s: float = 60.0,
        max_requests_per_s: float | None = None,
        limits: HttpLimits | None = None,
        trust_env: bool = False,
        proxy: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError("base_url must be an absolute http(s) URL")
        # The bearer token and the client secret must not travel in clear.
        require_secure_url(base_url, what="Ascend base_url")
        if token_url is not None:
            require_secure_url(token_url, what="Ascend token_url")
        if not client_id or not client_secret or not organization_id:
            raise ConfigurationError("client_id, client_secret and organization_id are all required")
        self.base_url = base_url.rstrip("/")
        self.token_url = token_url or f"{parts.scheme}://{parts.netloc}{_TOKEN_PATH}"
        self.organization_id = organization_id
        self._client_id = client_id
        self._secret = _Secret(client_secret)
        self._retry = retry or AscendRetry()
        self._rng = random.Random(self._retry.seed)
        self._refresh_margin_s = refresh_margin_s
        self._clock = clock
        self._sleep = sleep
        self._token: _Secret | None = None
        self._expires_at_s = 0.0
        self._token_lock = anyio.Lock()
        if max_requests_per_s is not None and not max_requests_per_s > 0:
            raise ConfigurationError("max_requests_per_s must be positive")
        self._min_interval_s = 1.0 / max_requests_per_s if max_requests_per_s else 0.0
        self._next_slot_s = float("-inf")
        self._gate_lock = anyio.Lock()
        self.limits = limits or HttpLimits()
        self.trust_env = trust_env
        # trust_env=False: a proxy from the environment would see every request; only when asked for.
        self._http = httpx.AsyncClient(
            transport=transport, timeout=timeout_s, trust_env=trust_env, proxy=proxy
        )
        #: Requests sent (tokens included) and tokens obtained: for tests and progress output.
        self.requests_sent = 0
        self.tokens_obtained = 0
        self.warnings_seen = 0

    def __repr__(self) -> str:
        return f"AscendClient(base_url={self.base_url!r}, organization_id={self.organization_id!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- auth -------------------------------------------------------------------------------------------

    async def _access_token(self, *, refused: str | None = None) -> str:
        """The current token, fetched when missing or near expiry, or when ``refused`` (a token a call was
        just refused with) is still the current one — so concurrent 401s renew once, not once each."""
        async with self._token_lock:
            stale = refused is not None and self._token is not None and self._token.reveal() == refused
            if stale or self._token is None or self._clock() >= self._expires_at_s:
                await self._fetch_token()
            assert self._token is not None
            return self._token.reveal()

    async def _fetch_token(self) -> None:
        path = urlsplit(self.token_url).path
        data = {"client_id": self._client_id, "client_secret": self._secret.reveal()}
        response, content = await self._send(
            "POST", self.token_url, path, data=data, params={"grant_type": "client_credentials"}
        )
        secrets = (self._secret.reveal(),)
        if response.status_code in (400, 401, 403):
            raise _refusal(
                "token request refused: check the client id and secret",
                response,
                content,
                method="POST",
                path=path,
                secrets=secrets,
            )
        if response.status_code != 200:
            raise _refusal(
                "token request failed", response, content, method="POST", path=path, secrets=secrets
            )
        body = self._json(response, content, "POST", path)
        token = body.get("access_token")
        try:
            # expires_in arrives as a string ("3600"); accept a number as well.
            expires_in = float(body.get("expires_in", ""))
        except (TypeError, ValueError):
            expires_in = math.nan
        if not isinstance(token, str) or not token or not math.isfinite(expires_in) or expires_in <= 0:
            raise AscendError(
                "token response lacks access_token/expires_in", method="POST", path=path, status_code=200
            )
        margin = min(self._refresh_margin_s, expires_in * 0.1)
        self._token = _Secret(token)
        self._expires_at_s = self._clock() + expires_in - margin
        self.tokens_obtained += 1

    # ---- requests ---------------------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        url: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[httpx.Response, bytes]:
        """One HTTP exchange with the 429/5xx/transport retry policy (5xx and transport: GET only); the
        response and its body, read within :attr:`limits`."""
        attempt = 0
        while True:
            attempt += 1
            await self._gate()
            self.requests_sent += 1
            request = self._http.build_request(method, url, params=params, data=data, headers=headers)
            try:
                response, content = await send_bounded(self._http, request, self.limits)
            except ResponseTooLarge as exc:
                # Not retried: the same server would send the same body again.
                raise AscendError(
                    f"response over max_response_bytes={exc.limit_bytes}; not read",
                    method=method,
                    path=path,
                    status_code=exc.status_code,
                ) from None
            except httpx.TransportError as exc:
                if method != "GET" or attempt >= self._retry.max_attempts:
                    why = f" ({exc})" if isinstance(exc, RequestDeadlineExceeded) else ""
                    raise AscendError(f"no answer from Ascend{why}", method=method, path=path) from None
                await self._sleep(self._backoff_s(attempt))
                continue
            status = response.status_code
            if status == 429 or (status >= 500 and method == "GET"):
                if attempt >= self._retry.max_attempts:
                    what = "rate limited" if status == 429 else "server error"
                    raise _refusal(
                        f"{what} after {attempt} attempts",
                        response,
                        content,
                        method=method,
                        path=path,
                        secrets=(self._secret.reveal(),),
                    )
                wait = _retry_after_s(response.headers.get("retry-after"), time.time())
                if wait is not None and wait > self._retry.max_wait_s:
                    raise AscendError(
                        f"Retry-After {wait:.0f}s exceeds max_wait_s",
                        method=method,
                        path=path,
                        status_code=status,
                    )
                if status == 429:
                    # The limit is the organisation's, not this request's: every request waits it out.
                    if wait is None:
                        wait = self._backoff_s(attempt)
                    self._next_slot_s = max(self._next_slot_s, self._clock() + wait)
                else:
                    await self._sleep(wait if wait is not None else self._backoff_s(attempt))
                continue
            return response, content

    async def _gate(self) -> None:
        """Pace requests to ``max_requests_per_s`` and hold everyone back after a 429."""
        async with self._gate_lock:
            now = self._clock()
            start = max(now, self._next_slot_s)
            if start > now:
                await self._sleep(start - now)
            self._next_slot_s = start + self._min_interval_s

    def _backoff_s(self, attempt: int) -> float:
        return jittered_delay_s(attempt, self._retry.base_delay_s, self._retry.max_delay_s, self._rng)

    @staticmethod
    def _json(response: httpx.Response, content: bytes, method: str, path: str) -> Json:
        try:
            body = json.loads(content)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise AscendError(
                "response is not a JSON object", method=method, path=path, status_code=response.status_code
            )
        return body

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Json:
        """GET ``{base_url}/{path}`` and return the JSON envelope (re-authenticating once on 401)."""
        url = f"{self.base_url}/{path}"
        shown = urlsplit(url).path
        refused: str | None = None
        for renewed in (False, True):
            token = await self._access_token(refused=refused)
            headers = {"Authorization": f"Bearer {token}", "Organization-ID": self.organization_id}
            response, content = await self._send("GET", url, shown, params=params, headers=headers)
            if response.status_code == 401 and not renewed:
                refused = token  # expired or revoked early: one fresh token, then give up
                continue
            break
        status = response.status_code
        if status == 401:
            raise _refusal("access token refused", response, content, method="GET", path=shown)
        if status == 403:
            raise _refusal(
                "permission denied: is this vendor enabled for the organization and resource?",
                response,
                content,
                method="GET",
                path=shown,
            )
        if status == 404:
            raise _refusal("resource not found", response, content, method="GET", path=shown)
        if status != 200:
            raise _refusal("request failed", response, content, method="GET", path=shown)
        body = self._json(response, content, "GET", shown)
        if "data" not in body:
            raise AscendError(
                "response lacks the data envelope", method="GET", path=shown, status_code=status
            )
        warnings = body.get("warnings")
        if isinstance(warnings, list):
            self.warnings_seen += len(warnings)
        return body

    # ---- lists ------------------------------------------------------------------------------------------

    async def pages(
        self,
        path: str,
        *,
        filters: Sequence[str] = (),
        page_size: int = 200,
        pagination: Pagination = "keyset",
        items_field: str | None = None,
    ) -> AsyncIterator[Page]:
        """Every page of a list, in order, until ``meta.pagination.total`` items were read or, without a
        total, a short or empty page.

        Guards: a server that caps ``pageSize`` (its ``meta.pagination.pageSize`` is smaller) does not make
        every page look short; a keyset cursor that does not advance or comes back (A, B, A ...), a page
        that repeats an earlier one, or more than ``limits.max_pages`` pages is an :class:`AscendError` (a
        server looping forever would otherwise never end the read).
        ``items_field`` reads the items from inside an object ``data`` (the aging report).
        """
        shown = urlsplit(f"{self.base_url}/{path}").path
        base: dict[str, str] = {"pageSize": str(page_size)}
        if filters:
            base["filter"] = ",".join(filters)
        page_no = seen = 0
        size = page_size
        last_id: str | None = None
        previous: tuple[str, str] | None = None

        def fail(message: str) -> Exception:
            return AscendError(message, method="GET", path=shown, status_code=200)

        guard = PageGuard(max_pages=self.limits.max_pages, fail=fail)
        while True:
            guard.page()
            page_no += 1
            params = dict(base)
            if pagination == "page":
                params["page"] = str(page_no)
            elif last_id is not None:
                params["lastId"] = last_id
            body = await self.get(path, params)
            page = self._page(body, shown, items_field)
            if page.page_size is not None and 0 < page.page_size < size:
                size = page.page_size  # the server capped our pageSize: its pages are "full" at its size
            if not page.items:
                return
            ids = (_fingerprint(page.items[0]), _fingerprint(page.items[-1]))
            if previous is not None and ids == previous:
                raise AscendError(
                    "pagination repeated the previous page", method="GET", path=shown, status_code=200
                )
            previous = ids
            # Not only the previous page: a server alternating two pages (A, B, A, B) is a cycle as well.
            guard.cursor(["page", *ids])
            yield page
            seen += len(page.items)
            if page.total is not None:
                if seen >= page.total:
                    return
            elif len(page.items) < size:
                return  # a short page ends a list whose total we were not told
            if pagination == "page":
                continue
            cursor = page.last_id or str(page.items[-1].get("id") or "")
            if not cursor or cursor == last_id:
                raise AscendError(
                    "lastId pagination did not advance", method="GET", path=shown, status_code=200
                )
            guard.cursor(["lastId", cursor])
            last_id = cursor

    @staticmethod
    def _page(body: Json, shown: str, items_field: str | None) -> Page:
        data = body.get("data")
        if items_field is not None and isinstance(data, dict):
            data = data.get(items_field) or []
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise AscendError(
                "list data is not an array of objects", method="GET", path=shown, status_code=200
            )
        meta = body.get("meta")
        pagination = meta.get("pagination") if isinstance(meta, dict) else None
        total = size = None
        last_id = None
        if isinstance(pagination, dict):
            total = _count(pagination.get("total"))
            size = _count(pagination.get("pageSize"))
            raw_last = pagination.get("lastId")
            last_id = str(raw_last) if raw_last not in (None, "") else None
        return Page(data, total=total, last_id=last_id, page_size=size)
