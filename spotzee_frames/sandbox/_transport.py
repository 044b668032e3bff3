"""In-process httpx transports: requests go straight into the app, no socket involved.

A dropped response (the work was committed, then lost) raises `httpx.ReadError`, as a
connection cut mid-response would.
"""

from __future__ import annotations

import httpx

from ._app import App
from ._wire import SandboxRequest, SandboxResponse

__all__ = ["AsyncSandboxTransport", "SandboxTransport"]


def _request(request: httpx.Request, body: bytes, client: str) -> SandboxRequest:
    path, _, query = request.url.raw_path.decode("ascii").partition("?")
    headers: dict[str, str] = {}
    for name, value in request.headers.multi_items():
        headers.setdefault(name.lower(), value)
    return SandboxRequest(request.method, path, query, headers, body, client)


def _response(request: httpx.Request, response: SandboxResponse) -> httpx.Response:
    if response.drop:
        raise httpx.ReadError(
            "connection lost before the response arrived (sandbox drop fault; the work was done)",
            request=request,
        )
    return httpx.Response(response.status, headers=response.headers, content=response.body)


class SandboxTransport(httpx.BaseTransport):
    """Sync transport into a sandbox; latency is slept with time.sleep."""

    def __init__(self, app: App, *, client: str = "127.0.0.1") -> None:
        self._app = app
        self._client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        return _response(request, self._app.handle(_request(request, body, self._client)))


class AsyncSandboxTransport(httpx.AsyncBaseTransport):
    """Async transport into a sandbox; latency is slept with asyncio.sleep."""

    def __init__(self, app: App, *, client: str = "127.0.0.1") -> None:
        self._app = app
        self._client = client

    @property
    def budget_key(self) -> object:
        """The server this transport reaches: clients of one sandbox share its rate budget,
        as clients of one real host do (and clients of two sandboxes do not)."""
        return self._app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        sandboxed = _request(request, body, self._client)
        return _response(request, await self._app.handle_async(sandboxed))
