"""Serving the sandbox over a real socket with uvicorn, in a background thread or forever."""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import uvicorn

from ._app import BASE_PATH, App
from ._asgi import AsgiApp

__all__ = [
    "ServedSandbox",
    "bind",
    "is_loopback",
    "serve",
    "serve_forever",
    "serve_in_thread",
    "uvicorn_server",
]

_DROP_MESSAGE: Final = "ASGI callable returned without completing response."
_START_TIMEOUT: Final = 10.0


@dataclass(frozen=True, slots=True)
class ServedSandbox:
    """Where a served sandbox listens."""

    host: str
    port: int

    @property
    def url(self) -> str:
        """The server's root, `http://127.0.0.1:<port>`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The Main API's base URL on this server, `http://127.0.0.1:<port>/api/client`."""
        return self.url + BASE_PATH


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _QuietDrops(logging.Filter):
    """Drop faults cut responses on purpose; uvicorn need not report each one."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _DROP_MESSAGE


def _quiet_uvicorn() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())


def bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        # Listen now, so clients that connect before the event loop starts just queue.
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    return sock


def _server(app: App) -> uvicorn.Server:
    return uvicorn_server(AsgiApp(app))


def uvicorn_server(asgi: Any, **options: Any) -> uvicorn.Server:
    """A quiet uvicorn server for an ASGI app (`options`: more `uvicorn.Config` settings,
    e.g. the TLS files)."""
    _quiet_uvicorn()
    config = uvicorn.Config(
        asgi,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        http="h11",
        ws="none",
        server_header=False,
        timeout_graceful_shutdown=2,
        **options,
    )
    return uvicorn.Server(config)


@contextmanager
def serve(app: App, host: str = "127.0.0.1", port: int = 0) -> Iterator[ServedSandbox]:
    """Serve `app` on `host:port` (0 = a free port) in a background thread."""
    with serve_in_thread(_server(app), host, port, name="spotzee-sandbox") as bound:
        yield ServedSandbox(host, bound)


@contextmanager
def serve_in_thread(server: uvicorn.Server, host: str, port: int, *, name: str) -> Iterator[int]:
    """Run `server` on `host:port` (0 = a free port) in a background thread until the
    block ends; yields the port it listens on."""
    sock = bind(host, port)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {name} server did not start on {host}:{port}")
            time.sleep(0.002)
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=_START_TIMEOUT)
        sock.close()


def serve_forever(
    app: App,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    ready: Callable[[ServedSandbox], None] | None = None,
) -> None:
    """Serve `app` in this thread until interrupted; `ready` is called once listening."""
    sock = bind(host, port)
    try:
        server = _server(app)
        if ready is not None:
            ready(ServedSandbox(host, sock.getsockname()[1]))
        server.run(sockets=[sock])
    finally:
        sock.close()
