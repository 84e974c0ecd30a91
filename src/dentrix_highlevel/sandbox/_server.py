"""A real uvicorn server for the sandbox on 127.0.0.1, in a background thread (tests, notebooks)."""

from __future__ import annotations

from dentrix_highlevel._loopback_server import LoopbackServer, free_port
from dentrix_highlevel.sandbox._sandbox import Sandbox
from dentrix_highlevel.sandbox._state import LocationInfo

__all__ = ["SandboxServer", "free_port"]


class SandboxServer(LoopbackServer):
    """Serve ``sandbox`` over HTTP on loopback; use as a context manager (or ``start()``/``stop()``).

    ``location`` is created on entry when ``create_location`` is true (duplicates not allowed).
    """

    _what = "sandbox"

    def __init__(
        self,
        sandbox: Sandbox | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        create_location: bool = True,
        start_timeout_s: float = 10.0,
    ) -> None:
        self.sandbox = sandbox or Sandbox()
        super().__init__(self.sandbox.app, host=host, port=port, start_timeout_s=start_timeout_s)
        self.location: LocationInfo | None = self.sandbox.create_location() if create_location else None

    def __repr__(self) -> str:
        return f"SandboxServer(base_url={self.base_url!r})"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"
