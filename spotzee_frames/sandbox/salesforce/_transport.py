"""Carrying requests to the fake: in process (a `requests` adapter, no socket) or served
over HTTPS on a socket (an ASGI app for uvicorn, with a throwaway certificate).

A `disconnect` fault raises `requests.ConnectionError` in process, and closes the
connection without an answer when served, as a dropped connection does.
"""

from __future__ import annotations

import asyncio
import http
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from .._asgi import read_body
from ._api import Answer, FakeApi

__all__ = ["AsgiFake", "FakeAdapter"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


class FakeAdapter(BaseAdapter):
    """A `requests` transport adapter that answers from the fake, in this process."""

    def __init__(self, api: FakeApi) -> None:
        super().__init__()
        self._api = api

    def send(  # type: ignore[override]  # requests' own signature, by keyword
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        url = urlsplit(request.url or "")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        headers = {k.lower(): v for k, v in request.headers.items()}
        if self._api.latency:
            time.sleep(self._api.latency)
        answer = self._api.handle(request.method or "GET", url.path, url.query, headers, body)
        if answer.disconnect:
            raise requests.ConnectionError(
                "Connection aborted: the remote end closed the connection without a response "
                "(fake Salesforce disconnect fault)",
                request=request,
            )
        return _response(request, answer)

    def close(self) -> None:
        pass


def _response(request: requests.PreparedRequest, answer: Answer) -> requests.Response:
    response = requests.Response()
    response.status_code = answer.status
    response.headers = CaseInsensitiveDict(dict(answer.headers))
    response._content = answer.body
    response.url = request.url or ""
    response.request = request
    response.encoding = "utf-8"
    response.reason = http.HTTPStatus(answer.status).phrase
    return response


class AsgiFake:
    """The fake as an ASGI 3 application, for uvicorn."""

    def __init__(self, api: FakeApi) -> None:
        self._api = api

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        if body is None:
            return
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        if self._api.latency:
            await asyncio.sleep(self._api.latency)
        answer = self._api.handle(
            scope["method"],
            scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            headers,
            body,
        )
        if answer.disconnect:
            # Promise a body and never send it: the connection closes mid-answer.
            start = {"type": "http.response.start", "status": 200}
            await send({**start, "headers": [(b"content-length", b"1")]})
            return
        wire = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in answer.headers]
        wire.append((b"content-length", str(len(answer.body)).encode()))
        if answer.status >= 400:
            # Close after a refusal, so no idle connection outlives the server's shutdown.
            wire.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": answer.status, "headers": wire})
        await send({"type": "http.response.body", "body": answer.body})
