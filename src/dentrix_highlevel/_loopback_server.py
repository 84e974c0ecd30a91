"""Uvicorn on a loopback port in a background thread: what the sandbox and the Ascend emulator serve with.

Imported only by the server modules of those two packages, so ``import dentrix_highlevel`` never pulls in
uvicorn.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any, Self

import uvicorn

from dentrix_highlevel._errors import ConfigurationError

__all__ = ["LOOPBACK_HOSTS", "LoopbackServer", "free_port"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LoopbackServer:
    """Serve an ASGI ``app`` on loopback; a context manager (or ``start()``/``stop()``).

    Emulators of remote APIs must never listen beyond this machine, so any other host is refused.
    """

    _what = "server"

    def __init__(self, app: Any, *, host: str, port: int | None, start_timeout_s: float) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ConfigurationError(f"the {self._what} serves on loopback only")
        self.host = host
        self.port = port or free_port(host)
        self._start_timeout_s = start_timeout_s
        config = uvicorn.Config(
            app, host=host, port=self.port, log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.run, name=self._what, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigurationError(f"the {self._what} did not start on {self.host}:{self.port}")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
