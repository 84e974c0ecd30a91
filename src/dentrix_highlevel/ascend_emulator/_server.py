"""The emulator over real HTTP: uvicorn on 127.0.0.1 in a background thread (demos, notebooks, tests)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.ascend_emulator._emulator import AscendEmulator

__all__ = ["AscendEmulatorServer"]


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class AscendEmulatorServer:
    """Serve an :class:`AscendEmulator` on loopback; a context manager (or ``start()``/``stop()``).

    Point an ``AscendSource`` at :attr:`base_url` (no ``transport`` needed); tokens come from the same host.
    """

    def __init__(
        self,
        emulator: AscendEmulator | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        start_timeout_s: float = 10.0,
    ) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ConfigurationError("the Ascend emulator serves on loopback only")
        self.emulator = emulator or AscendEmulator()
        self.host = host
        self.port = port or _free_port(host)
        self._start_timeout_s = start_timeout_s
        config = uvicorn.Config(
            self.emulator.app,
            host=host,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"AscendEmulatorServer(base_url={self.base_url!r})"

    @property
    def base_url(self) -> str:
        """The API root to give ``AscendSource(base_url=...)``."""
        return f"http://{self.host}:{self.port}/ascend-gateway/api"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.run, name="ascend-emulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigurationError(f"Ascend emulator did not start on {self.host}:{self.port}")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> AscendEmulatorServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
