"""The client's own httpx transport: httpx's, with a connection pool that costs less CPU per request.

httpcore's pool re-examines every pooled connection each time a request arrives and each time a response
closes. Two parts of that dominate a busy client's CPU (profiled on a migration with 32 connections):

- Asking an idle connection whether the server closed it (``get_extra_info("is_readable")``): anyio builds
  the stream's whole attribute table (peer and local address, one ``getpeername`` system call each) to
  find the socket, every time. :class:`_Stream` finds the socket once and polls only it.
- For every idle connection, the pool counts its connections by building a list of them (quadratic in
  the pool size). :class:`_Pool` counts with ``len`` and looks for a connection to reuse without first
  listing every candidate: the same decisions, in the same order, in linear time.

Everything else (HTTP/1.1, TLS, timeouts, the exceptions httpx maps) is httpx's and httpcore's unchanged.
When this httpcore is not the one these replacements were written against (its pool lacks the parts
:class:`_Pool` overrides), the transport keeps httpcore's own pool.
"""

# The ``timeout`` parameters are httpcore's stream and backend interface, passed through as they are.
# ruff: noqa: ASYNC109

from __future__ import annotations

import select
import ssl
import sys
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

try:
    from httpcore._backends.auto import AutoBackend
except ImportError:  # pragma: no cover - another httpcore layout: its own pool and backend then
    AutoBackend = None  # type: ignore[assignment,misc]

__all__ = ["client_transport"]

_UNSET: Any = object()
_POOL_PARTS = ("_assign_requests_to_connections", "create_connection")


def _readable(sock: Any) -> bool:
    # httpcore's rule: a socket that is gone (no descriptor) counts as readable, so its connection is
    # dropped as closed by the server.
    fd = None if sock is None else sock.fileno()
    if fd is None or fd < 0:
        return True
    if sys.platform == "win32" or getattr(select, "poll", None) is None:  # pragma: no cover
        ready, _, _ = select.select([fd], [], [], 0)
        return bool(ready)
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(0))


class _Stream(httpcore.AsyncNetworkStream):
    """A backend's stream, with the socket kept for the pool's "closed by the server?" question."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._sock: Any = _UNSET

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            if self._sock is _UNSET:
                self._sock = self._inner.get_extra_info("socket")
            return _readable(self._sock)
        return self._inner.get_extra_info(info)


class _Backend(httpcore.AsyncNetworkBackend):
    """httpcore's default backend (anyio or trio, whichever runs), its streams wrapped in :class:`_Stream`."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        return _Stream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_unix_socket(path, timeout=timeout, socket_options=socket_options)
        return _Stream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _Pool(httpcore.AsyncConnectionPool):
    """httpcore's pool with its bookkeeping pass in linear time (see the module docstring)."""

    _connections: list[Any]
    _requests: list[Any]
    _max_connections: int
    _max_keepalive_connections: int

    def _assign_requests_to_connections(self) -> list[Any]:
        # httpcore 1.0's pass, decision for decision: first drop closed, expired and surplus idle
        # connections, then give each queued request a connection (reuse, create, or replace an idle one).
        closing: list[Any] = []
        connections = self._connections
        for connection in list(connections):
            if connection.is_closed():
                connections.remove(connection)
            elif connection.has_expired():
                connections.remove(connection)
                closing.append(connection)
            elif connection.is_idle() and len(connections) > self._max_keepalive_connections:
                # As httpcore: the number of all connections (it lists every one), not of idle ones.
                connections.remove(connection)
                closing.append(connection)

        for pool_request in [request for request in self._requests if request.is_queued()]:
            origin = pool_request.request.url.origin
            reusable = next(
                (c for c in connections if c.can_handle_request(origin) and c.is_available()), None
            )
            if reusable is not None:
                pool_request.assign_to_connection(reusable)
            elif len(connections) < self._max_connections:
                connection = self.create_connection(origin)
                connections.append(connection)
                pool_request.assign_to_connection(connection)
            else:
                idle = next((c for c in connections if c.is_idle()), None)
                if idle is not None:
                    connections.remove(idle)
                    closing.append(idle)
                    connection = self.create_connection(origin)
                    connections.append(connection)
                    pool_request.assign_to_connection(connection)
        return closing


def _pool_fits() -> bool:
    base = httpcore.AsyncConnectionPool
    return AutoBackend is not None and all(callable(getattr(base, name, None)) for name in _POOL_PARTS)


def client_transport(*, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """The transport ``httpx.AsyncClient(limits=..., trust_env=False)`` would make, with :class:`_Pool`."""
    transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    own = getattr(transport, "_pool", None)
    if type(own) is not httpcore.AsyncConnectionPool or not _pool_fits():
        return transport
    ssl_context = getattr(own, "_ssl_context", None) or httpx.create_ssl_context(trust_env=False)
    transport._pool = _Pool(
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        # httpcore's default backend: anyio's or trio's streams, whichever library runs the client.
        network_backend=_Backend(AutoBackend()),
    )
    return transport
