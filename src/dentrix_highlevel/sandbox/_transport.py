"""In-process transport: ``httpx.ASGITransport`` over the sandbox app, plus transport-level faults."""

from __future__ import annotations

import httpx

from dentrix_highlevel.sandbox._faults import TransportFault, faultable
from dentrix_highlevel.sandbox._host import IN_PROCESS_HEADER, SandboxHost

__all__ = ["SandboxTransport"]


class SandboxTransport(httpx.AsyncBaseTransport):
    """Serves requests from the sandbox app without sockets.

    Faults per the sandbox's :class:`FaultConfig`: a connect error before the app sees the request
    (nothing happened); a reset or timeout *after* the app handled it (a write may have happened), raised
    as ``httpx.RemoteProtocolError`` / ``httpx.ReadTimeout`` without waiting out the timeout.
    """

    def __init__(self, sandbox: SandboxHost) -> None:
        self._sandbox = sandbox
        self._inner = httpx.ASGITransport(app=sandbox.app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        fault = self._sandbox.faults.draw_transport() if faultable(request.url.path) else None
        if fault == TransportFault.CONNECT:
            raise httpx.ConnectError("sandbox fault: connection refused", request=request)
        request.headers[IN_PROCESS_HEADER] = "1"
        response = await self._inner.handle_async_request(request)
        if fault is None:
            return response
        await response.aclose()
        if fault == TransportFault.TIMEOUT:
            raise httpx.ReadTimeout("sandbox fault: read timed out", request=request)
        raise httpx.RemoteProtocolError("sandbox fault: connection reset by peer", request=request)

    async def aclose(self) -> None:
        await self._inner.aclose()
