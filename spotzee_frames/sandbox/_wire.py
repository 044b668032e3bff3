"""Plain values that cross between the transports (httpx, ASGI) and the app."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RequestRecord", "SandboxRequest", "SandboxResponse"]


@dataclass(slots=True)
class SandboxRequest:
    """One HTTP request, independent of how it arrived."""

    method: str
    #: Percent-encoded path, without the query string.
    path: str
    #: Raw query string, without the `?`.
    query: str
    #: Header names in lower case; a repeated header keeps its first value.
    headers: dict[str, str]
    body: bytes
    client: str = "127.0.0.1"


@dataclass(slots=True)
class SandboxResponse:
    """One HTTP response; `drop` means the app committed it but the transport must lose it."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    drop: bool = False


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """What the sandbox saw and answered, for tests to inspect."""

    method: str
    #: Path relative to `/api/client` when under it, else the full path.
    path: str
    query: str
    status: int
    idempotency_key: str | None
    replayed: bool
    request_id: str | None
    #: None, or the fault that struck: "503", "500", "429", "drop", "html502", "plain404",
    #: or "rate_limited" for the rate limiter.
    fault: str | None
    body: bytes
    client: str
    #: Wall-clock seconds since the epoch when the request arrived.
    at: float
