"""A hostile HTTP server on 127.0.0.1 for the client-bounds tests: raw sockets, so it can do what no
well-behaved framework would (an endless body, one byte at a time, a lying ``Content-Length``).

``hostile_server(handler)`` runs in the test's own event loop and yields its ``http://127.0.0.1:PORT``
base URL; ``handler(request, stream)`` writes the whole answer. Every connection is closed after one
answer. ``ConnectionRecorder`` is a thread that accepts connections and counts them (a proxy that must
stay unused), for tests that drive a subprocess.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.abc
import attrs

__all__ = [
    "ConnectionRecorder",
    "HostileRequest",
    "dribble",
    "endless_body",
    "hostile_server",
    "send_json",
]

_HEAD_LIMIT = 64 * 1024


@attrs.frozen
class HostileRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


Handler = Callable[[HostileRequest, anyio.abc.ByteStream], Awaitable[None]]


async def _read_request(stream: anyio.abc.ByteStream) -> HostileRequest | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive()
        if not chunk:
            return None
        data += chunk
        if len(data) > _HEAD_LIMIT:
            return None
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    while len(rest) < length:
        rest += await stream.receive()
    parts = urlsplit(target)
    return HostileRequest(method, parts.path, parse_qs(parts.query), headers, rest[:length])


@asynccontextmanager
async def hostile_server(handler: Handler) -> AsyncIterator[str]:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 -- anyio, not Django

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            # The client hanging up mid-answer is the point of most tests: not an error here.
            with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError):
                request = await _read_request(stream)
                if request is not None:
                    await handler(request, stream)

    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            group.cancel_scope.cancel()


async def send_json(stream: anyio.abc.ByteStream, body: Any, *, status: int = 200) -> None:
    payload = json.dumps(body).encode()
    head = (
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        "Connection: close\r\n\r\n"
    )
    await stream.send(head.encode() + payload)


async def endless_body(stream: anyio.abc.ByteStream, *, declared_bytes: int | None = None) -> None:
    """A 200 whose body never ends (64 KiB chunks until the client hangs up); ``declared_bytes`` sends a
    ``Content-Length`` (a huge one is refused before any body byte is read)."""
    length = f"Content-Length: {declared_bytes}\r\n" if declared_bytes is not None else ""
    await stream.send(
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{length}Connection: close\r\n\r\n".encode()
    )
    chunk = b" " * 65536
    while True:
        await stream.send(chunk)


async def dribble(stream: anyio.abc.ByteStream, *, every_s: float) -> None:
    """A slow-loris answer: a 200 announcing 1,000 bytes, then one byte every ``every_s`` seconds (each
    read well inside any per-read timeout)."""
    await stream.send(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
        b"Connection: close\r\n\r\n"
    )
    for _ in range(1000):
        await anyio.sleep(every_s)
        await stream.send(b" ")


class ConnectionRecorder:
    """Accepts TCP connections on 127.0.0.1 in a thread, counts them and closes them at once."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port = int(self._sock.getsockname()[1])
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="connection-recorder", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
