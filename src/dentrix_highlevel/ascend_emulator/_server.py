"""The emulator over real HTTP: uvicorn on 127.0.0.1 in a background thread (demos, notebooks, tests)."""

from __future__ import annotations

from dentrix_highlevel._loopback_server import LoopbackServer
from dentrix_highlevel.ascend_emulator._emulator import AscendEmulator

__all__ = ["AscendEmulatorServer"]


class AscendEmulatorServer(LoopbackServer):
    """Serve an :class:`AscendEmulator` on loopback; a context manager (or ``start()``/``stop()``).

    Point an ``AscendSource`` at :attr:`base_url` (no ``transport`` needed); tokens come from the same host.
    """

    _what = "Ascend emulator"

    def __init__(
        self,
        emulator: AscendEmulator | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        start_timeout_s: float = 10.0,
    ) -> None:
        self.emulator = emulator or AscendEmulator()
        super().__init__(self.emulator.app, host=host, port=port, start_timeout_s=start_timeout_s)

    def __repr__(self) -> str:
        return f"AscendEmulatorServer(base_url={self.base_url!r})"

    @property
    def base_url(self) -> str:
        """The API root to give ``AscendSource(base_url=...)``."""
        return f"http://{self.host}:{self.port}/ascend-gateway/api"
