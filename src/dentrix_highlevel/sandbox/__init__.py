"""A faithful HighLevel API v2 emulator on loopback: ``dentrix_highlevel.sandbox``.

Only this package imports starlette/uvicorn (the ``sandbox`` extra); ``import dentrix_highlevel`` does not.
See ``docs/sandbox.md`` for the three ways to use it, the admin routes, fault options and what is a guess.
"""

from __future__ import annotations

from dentrix_highlevel._public import publish
from dentrix_highlevel.sandbox._config import FaultConfig, SandboxConfig, Strictness
from dentrix_highlevel.sandbox._sandbox import Sandbox
from dentrix_highlevel.sandbox._server import SandboxServer, free_port
from dentrix_highlevel.sandbox._state import LocationInfo, RequestRecord
from dentrix_highlevel.sandbox._transport import SandboxTransport

__all__ = [
    "FaultConfig",
    "LocationInfo",
    "RequestRecord",
    "Sandbox",
    "SandboxConfig",
    "SandboxServer",
    "SandboxTransport",
    "Strictness",
    "free_port",
]

# Public types report their public path (reveal_type, tracebacks, pickles); see _public.
publish(__name__, __all__, globals())
