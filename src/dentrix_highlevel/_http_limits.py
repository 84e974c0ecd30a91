"""What keeps the HighLevel and Ascend clients bounded and off plain HTTP, shared by both.

- :func:`require_secure_url`: a bearer token sent over ``http://`` travels in clear, so only loopback
  hosts (a sandbox, an emulator) may be spoken to without TLS.
- :class:`HttpLimits`: the most a server can make one request cost us: the body size (read as a stream and
  cut at the limit, so a 1.5 GiB answer never sits in memory), an overall deadline (httpx's timeouts are
  per read, so a server sending a byte every few seconds would otherwise hold a request for ever) and the
  number of pages one listing may take.
- :class:`PageGuard`: a listing whose server repeats a cursor (A, B, A, B ...) or never ends stops with an
  error instead of running until the daily cap.

Every message names the limit, the method and the path: never a body, a query string or a token.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import anyio
import attrs
import httpx

from dentrix_highlevel._errors import ConfigurationError

__all__ = [
    "DEFAULT_MAX_PAGES",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_REQUEST_DEADLINE_S",
    "HttpLimits",
    "PageGuard",
    "RequestDeadlineExceeded",
    "ResponseTooLarge",
    "is_loopback_host",
    "require_secure_url",
    "send_bounded",
]

# JSON answers of both APIs are kilobytes; the largest legitimate ones (a 500-contact search page with
# custom fields, an Ascend page of 1,000 ledger rows) stay in single-digit MiB. 32 MiB leaves room.
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
# Well above any honest answer (HighLevel and Ascend answer in seconds), well below "hung".
DEFAULT_REQUEST_DEADLINE_S = 120.0
# 20,000 pages are 2-10 million rows at the page sizes used: more than any practice holds.
DEFAULT_MAX_PAGES = 20_000


def is_loopback_host(host: str | None) -> bool:
    """``localhost``, ``127.0.0.0/8`` or ``::1``: traffic that never leaves this machine."""
    if not host:
        return False
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def require_secure_url(url: str, *, what: str) -> None:
    """Refuse ``url`` unless it is ``https://``, or ``http://`` to a loopback host.

    The message names the scheme and host only: a URL can carry credentials in its user-info or query.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        host = parts.hostname
    except ValueError:
        host = None
    if scheme not in ("http", "https") or not host:
        raise ConfigurationError(f"{what} must be an absolute https:// URL")
    if scheme == "http" and not is_loopback_host(host):
        raise ConfigurationError(
            f"{what} http://{host} is refused: credentials and patient data would travel in clear; "
            f"use https://{host} (plain http is allowed only to a loopback host: localhost, 127.0.0.0/8, ::1)"
        )


@attrs.frozen(kw_only=True)
class HttpLimits:
    """The bounds on every request of a client (``HighLevelClient(limits=...)``, ``AscendSource``/
    ``AscendClient(limits=...)``).

    - ``max_response_bytes``: the largest (decoded) body read; past it the request fails (no retry).
    - ``request_deadline_s``: the whole exchange (connect, send, every read) must end by then; past it the
      attempt counts as a timeout (reads retry, a create is ambiguous). ``timeout_s`` stays the per-read
      limit.
    - ``max_pages``: the most pages one listing (contact search, media files, Ascend lists ...) may take.
    """

    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    request_deadline_s: float = DEFAULT_REQUEST_DEADLINE_S
    max_pages: int = DEFAULT_MAX_PAGES

    def __attrs_post_init__(self) -> None:
        if self.max_response_bytes < 1:
            raise ConfigurationError("HttpLimits.max_response_bytes must be >= 1")
        if not self.request_deadline_s > 0:
            raise ConfigurationError("HttpLimits.request_deadline_s must be > 0 seconds")
        if self.max_pages < 1:
            raise ConfigurationError("HttpLimits.max_pages must be >= 1")


class RequestDeadlineExceeded(httpx.TimeoutException):
    """The overall deadline passed. A timeout to httpx's eyes, so the clients' retry rules apply as to any
    timeout (it may have reached the server: never proof that a create did not happen)."""

    def __init__(self, deadline_s: float, request: httpx.Request) -> None:
        self.deadline_s = deadline_s
        super().__init__(f"request deadline of {deadline_s:g} s exceeded", request=request)


class ResponseTooLarge(Exception):
    """The body passed ``max_response_bytes``; each client raises its own error from it."""

    def __init__(self, limit_bytes: int, *, status_code: int, headers: httpx.Headers) -> None:
        self.limit_bytes = limit_bytes
        self.status_code = status_code
        self.headers = headers
        super().__init__(f"response body larger than max_response_bytes={limit_bytes}")


async def send_bounded(
    http: httpx.AsyncClient, request: httpx.Request, limits: HttpLimits
) -> tuple[httpx.Response, bytes]:
    """Send ``request`` and read its body within ``limits``: the response (headers, status) and the body.

    Raises :class:`RequestDeadlineExceeded` past the deadline, :class:`ResponseTooLarge` past the size (as
    soon as a ``Content-Length`` announces it, or when the streamed bytes pass it: never buffering more).
    httpx's own errors pass through.
    """
    response: httpx.Response | None = None
    try:
        with anyio.fail_after(limits.request_deadline_s):
            response = await http.send(request, stream=True)
            body = await _read_capped(response, limits.max_response_bytes)
    except TimeoutError:
        raise RequestDeadlineExceeded(limits.request_deadline_s, request) from None
    finally:
        if response is not None:
            # Shielded: the connection must go back to the pool (or be closed) even when we are cancelled.
            with anyio.CancelScope(shield=True):
                await response.aclose()
    return response, body


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit and not response.headers.get("content-encoding"):
        raise ResponseTooLarge(limit, status_code=response.status_code, headers=response.headers)
    chunks: list[bytes] = []
    size = 0
    # Decoded bytes are counted: a small gzip body that inflates past the limit is cut as well.
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise ResponseTooLarge(limit, status_code=response.status_code, headers=response.headers)
        chunks.append(chunk)
    return b"".join(chunks)


class PageGuard:
    """Counts the pages of one listing and remembers its cursors.

    ``fail`` builds the client's own error from a message. :meth:`page` is called before each request
    (past ``max_pages`` it fails); :meth:`cursor` with each next-page cursor, or with what identifies a
    page of an offset listing (its first and last ids): a value seen before is a cycle.
    """

    __slots__ = ("_fail", "_max_pages", "_pages", "_seen")

    def __init__(self, *, max_pages: int, fail: Callable[[str], Exception]) -> None:
        self._max_pages = max_pages
        self._fail = fail
        self._pages = 0
        self._seen: set[str] = set()

    @property
    def pages(self) -> int:
        return self._pages

    def page(self) -> None:
        if self._pages >= self._max_pages:
            raise self._fail(f"pagination passed max_pages={self._max_pages} without ending")
        self._pages += 1

    def cursor(self, value: Any) -> None:
        # Cursors are compared as canonical JSON: searchAfter is a list, startAfter a number and an id.
        key = json.dumps(value, sort_keys=True, default=str)
        if key in self._seen:
            raise self._fail(f"pagination repeated a cursor after {self._pages} pages (a cycle)")
        self._seen.add(key)
