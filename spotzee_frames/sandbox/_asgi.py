"""The app as an ASGI application, for uvicorn.

A dropped response sends its status line and headers, then nothing: the server closes
the connection and the client sees an incomplete response (a transport error).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ._app import App
from ._wire import SandboxRequest

__all__ = ["AsgiApp", "read_body"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def read_body(receive: Receive) -> bytes | None:
    """An HTTP request's whole body, or None if the client went away first."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


class AsgiApp:
    """ASGI 3 wrapper around the pipeline."""

    def __init__(self, app: App) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        if body is None:
            return
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        client = scope.get("client")
        request = SandboxRequest(
            method=scope["method"],
            path=raw_path.decode("latin-1").partition("?")[0],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
            client=client[0] if client else "127.0.0.1",
        )
        response = await self._app.handle_async(request)
        wire_headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in response.headers]
        if response.drop:
            # Promise a body and never send it. A bodiless status (204) would make the
            # headers a complete response, so a dropped one is announced as a 200.
            length = max(len(response.body), 1)
            status = response.status if response.body else 200
            wire_headers.append((b"content-length", str(length).encode()))
            await send({"type": "http.response.start", "status": status, "headers": wire_headers})
            return
        if response.status not in (204, 304):
            wire_headers.append((b"content-length", str(len(response.body)).encode()))
        await send(
            {"type": "http.response.start", "status": response.status, "headers": wire_headers}
        )
        await send({"type": "http.response.body", "body": response.body})
