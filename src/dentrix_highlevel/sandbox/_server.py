"""A real uvicorn server for the sandbox on 127.0.0.1, in a background thread (tests, notebooks)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.sandbox._sandbox import Sandbox
from dentrix_highlevel.sandbox._state import LocationInfo

__all__ = ["SandboxServer", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class SandboxServer:
    """Serve ``sandbox`` over HTTP on loopback; use as a context manager (or ``start()``/``stop()``).

    ``location`` is created on entry when ``create_location`` is true (duplicates not allowed).
    """

    def __init__(
        self,
        sandbox: Sandbox | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        create_location: bool = True,
        start_timeout_s: float = 10.0,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigurationError("the sandbox serves on loopback only")
        self.sandbox = sandbox or Sandbox()
        self.host = host
        self.port = port or free_port(host)
        self._start_timeout_s = start_timeout_s
        self.location: LocationInfo | None = self.sandbox.create_location() if create_location else None
        config = uvicorn.Config(
            self.sandbox.app, host=host, port=self.port, log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"SandboxServer(base_url={self.base_url!r})"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.run, name="sandbox-uvicorn", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigurationError(f"sandbox server did not start on {self.base_url}")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
