"""The HTTP client for Spotzee's Main API: auth and headers, retries per the contract,
pacing and bounded concurrency, pagination, and fan-out of many calls.

The client is synchronous to its caller and asynchronous inside: it owns an event loop
on a background thread, so it works the same from a script and from a Jupyter cell
whose kernel already runs a loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import email.utils
import hashlib
import hmac
import ipaddress
import logging
import math
import os
import platform
import queue
import random
import threading
import time
import uuid
import weakref
from collections import Counter
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
)
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import httpx
import orjson
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

from ._errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    InsecureTransportError,
    KeyScopeError,
    PermissionDeniedError,
    RateLimitError,
    SpotzeeError,
    TransportError,
    error_class_for,
    is_transient,
)
from ._pacing import Gate, InFlight, Limiter, Pacer, host_limiter
from ._version import __version__
from ._warnings import IDEMPOTENCY_NOT_HONOURED, IdempotencyNotHonouredWarning, warn

__all__ = [
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "Call",
    "Client",
    "Response",
    "resolve_client",
]

API_VERSION = "2026-04-28"
DEFAULT_BASE_URL = "https://apix.spotzee.com/api/client"
SANDBOX_KEY = "sk_test_sandbox"

logger = logging.getLogger("spotzee_frames")

T = TypeVar("T")

# What httpx takes as query parameters: pairs must come as a list or a tuple (any other
# sequence would be read as a mapping).
Params = Mapping[str, Any] | list[tuple[str, Any]] | tuple[tuple[str, Any], ...]

# Codes for error answers that carry no usable code of their own (a proxy's HTML page,
# a legacy numeric code): go by the HTTP status, as the contract says.
_CODE_BY_STATUS = {
    400: "parameter_invalid_format",
    401: "authentication_required",
    402: "quota_exceeded",
    403: "permission_denied",
    404: "resource_missing",
    409: "state_conflict",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}
_DEFAULT_RATE_LIMIT_PAUSE = 1.0  # seconds, for a 429 that carries no Retry-After
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Doing these twice is the same as doing them once (RFC 9110 §9.2.2): a DELETE carries no
# idempotency key, yet a lost answer may be retried like a safe request's.
_IDEMPOTENT_METHODS = _SAFE_METHODS | {"PUT", "DELETE"}
_KEYED_METHODS = frozenset({"POST", "PATCH"})
# The only route a publishable key may use among those the toolkit calls.
_PK_ALLOWED = frozenset({("POST", "/events")})


class _Secret:
    """Holds the API key so that no repr, vars() dump or traceback local shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    @property
    def kind(self) -> str:
        return self._value.split("_", 1)[0] + "_" if "_" in self._value else "?"

    def __repr__(self) -> str:
        return f"'{self.kind}…'"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("an API key is not picklable")


@dataclass(frozen=True)
class Call:
    """One API request to make; `content` is sent byte for byte when given."""

    method: str
    path: str
    params: Params | None = None
    json: Any = None
    content: bytes | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Response:
    """A successful answer: parsed JSON body (None for 204) and what the headers said."""

    status_code: int
    data: Any
    headers: httpx.Headers
    request_id: str | None
    replayed: bool
    attempts: int


def _total_count(headers: httpx.Headers) -> int | None:
    """`X-Total-Count` (best effort, the contract says) as a count, or None."""
    value = headers.get("x-total-count", "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            seconds = when.timestamp() - time.time()
        except (TypeError, ValueError, OverflowError, IndexError):  # not an HTTP date either
            return None
    if not math.isfinite(seconds):  # "inf", "nan": no usable word from the server
        return None
    return max(0.0, seconds)


def _lost_answer(call: Call, exc: Exception, attempt: int) -> TransportError:
    """No usable answer: a timeout, a network failure, or a body that cannot be decoded."""
    where = f"{call.method} {call.path}"
    if isinstance(exc, httpx.TimeoutException):
        return TransportError(
            f"{where} timed out ({type(exc).__name__})", attempts=attempt, code="timeout"
        )
    if isinstance(exc, httpx.DecodingError):  # an answer came, but it cannot be read
        return TransportError(
            f"{where}: the answer could not be decoded ({exc})",
            attempts=attempt,
            code="invalid_response",
        )
    return TransportError(f"{where} failed: {type(exc).__name__}: {exc}", attempts=attempt)


# The contract's routes, as (method, path segments with None for a parameter): an answer
# that is not the API's envelope reads differently on a route the docs list, and on a path
# that names an object (a plain 404 there is that object missing, as on Parcelvoy).
_DOCUMENTED: Final = tuple(
    (method, tuple(None if part == "{}" else part for part in template.split("/")[1:]))
    for method, template in (
        ("POST", "/users/batch"),
        ("PATCH", "/users"),
        ("GET", "/users"),
        ("DELETE", "/users"),
        ("GET", "/users/{}"),
        ("DELETE", "/users/{}"),
        ("GET", "/users/{}/subscriptions"),
        ("PATCH", "/users/{}/subscriptions"),
        ("GET", "/campaigns"),
        ("GET", "/campaigns/{}"),
        ("PATCH", "/campaigns/{}"),
        ("POST", "/campaigns/{}/trigger"),
        ("GET", "/journeys"),
        ("GET", "/journeys/{}"),
        ("POST", "/journeys/{}/trigger"),
        ("POST", "/events"),
        ("GET", "/events"),
        ("GET", "/events/aggregations"),
        ("GET", "/subscriptions"),
        ("GET", "/subscriptions/{}"),
        ("POST", "/subscriptions/batch"),
        ("GET", "/lists"),
        ("GET", "/lists/{}"),
        ("GET", "/tags"),
    )
)
_MAIN_API = "/api/client"
# Parcelvoy's code for "The requested project does not exist.": its answer to a key that
# belongs to no project (a 404, where the contract says 401).
_PROJECT_MISSING = 6000


def _documented(method: str, path: str) -> tuple[str | None, ...] | None:
    """The documented route `method path` is an instance of, as segments (None for a
    parameter); None when the docs list no such route."""
    parts = path.split("?")[0].strip("/").split("/")
    for known, template in _DOCUMENTED:
        if (
            known == method
            and len(template) == len(parts)
            and all(t is None or t == p for t, p in zip(template, parts, strict=True))
        ):
            return template
    return None


@dataclass(frozen=True)
class _Asker:
    """Who asked, for error messages: the client's base URL, its key's kind and whether it
    has had a successful answer yet."""

    base_url: str
    key_kind: str
    answered: bool


def _base_url_hint(asker: _Asker) -> str:
    url = asker.base_url
    if urlsplit(url).path.rstrip("/").endswith(_MAIN_API):
        return (
            f"; this was the client's first request: check that base_url {url!r} is the "
            "Main API of your server"
        )
    return (
        f"; this was the client's first request: base_url {url!r} does not end in "
        f"{_MAIN_API}, where the Main API lives (e.g. {DEFAULT_BASE_URL})"
    )


def _unenveloped(
    response: httpx.Response, template: tuple[str | None, ...] | None
) -> tuple[str, bool | None]:
    """What an answer that is not the API's error envelope says, and whether it means the
    route is missing (None: go by `route_missing`'s rule)."""
    status = response.status_code
    kind = response.headers.get("content-type", "").split(";")[0] or "untyped"
    body = f"a {kind} answer" if response.content.strip() else "an empty answer"
    answer = f"HTTP {status} {response.reason_phrase}, {body} rather than the API's error envelope"
    if status not in (404, 405):
        return answer, None
    if status == 404 and template is not None and None in template:
        # A path that names an object: Parcelvoy answers a missing campaign or user so.
        return f"nothing there: {answer}", False
    allow = response.headers.get("allow")
    allowed = f"; it allows {allow} there" if status == 405 and allow else ""
    lack = (
        "the server lacks this documented endpoint" if template else "the server has no such route"
    )
    return f"{lack} ({answer}{allowed})", True


def _error_from_response(
    response: httpx.Response, attempts: int, call: Call, asker: _Asker | None = None
) -> APIError:
    """Turn any error answer, JSON envelope or not, into the matching APIError whose
    message says what happened (and, for a 404 on a client's first request, that base_url
    may be wrong)."""
    status = response.status_code
    retry_after = _parse_retry_after(response.headers.get("retry-after"))
    request_id = response.headers.get("x-request-id")
    body: Any = None
    try:
        body = orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        body = None
    code = _CODE_BY_STATUS.get(status, "server_error" if status >= 500 else "http_error")
    param = None
    errors = None
    message = None
    if isinstance(body, dict):
        if isinstance(body.get("code"), str) and body["code"]:
            code = body["code"]
        # The first of the message fields that really is text (`error` is the legacy mirror).
        message = next(
            (body[k] for k in ("message", "error", "title") if isinstance(body.get(k), str)), None
        )
        param = body.get("param") if isinstance(body.get("param"), str) else None
        if isinstance(body.get("errors"), list):
            errors = [e for e in body["errors"] if isinstance(e, dict)] or None
        if isinstance(body.get("request_id"), str) and body["request_id"]:
            request_id = body["request_id"]
    # The API's envelope (or Parcelvoy's `{"error", "code"}`), not a framework's or proxy's page.
    enveloped = isinstance(body, dict) and (
        bool(message) or isinstance(body.get("code"), str | int)
    )
    cls = error_class_for(status)
    missing_route: bool | None = None
    template = _documented(call.method, call.path)
    if not isinstance(message, str) or not message:
        message, missing_route = _unenveloped(response, template)
    elif status == 404 and isinstance(body, dict) and body.get("code") == _PROJECT_MISSING:
        cls, code = AuthenticationError, "authentication_required"
        kind = f" ({asker.key_kind}…)" if asker is not None else ""
        message = (
            f"the server knows no project for this API key{kind}: it is most likely "
            "mistyped, revoked or meant for another server; check api_key= or "
            f"SPOTZEE_API_KEY (the server said {message!r}, code {_PROJECT_MISSING}: a "
            "self-hosted Parcelvoy refuses an unknown key so, where Spotzee answers 401)"
        )
    if (
        status == 404
        and asker is not None
        and not asker.answered
        and cls is not AuthenticationError
        and not (isinstance(body, dict) and isinstance(body.get("code"), str))
    ):
        message += _base_url_hint(asker)
    return cls(
        message,
        status_code=status,
        code=code,
        param=param,
        errors=errors,
        request_id=request_id,
        retry_after=retry_after,
        attempts=attempts,
        enveloped=enveloped,
        method=call.method,
        path=call.path,
        missing_route=missing_route,
    )


def _kind(call: Call) -> tuple[str, str, int]:
    """Requests that take alike long: one method on one family of routes (`/users/batch`
    and `/users/{id}` differ by depth, every `/campaigns/{id}/trigger` is one kind)."""
    segments = call.path.strip("/").split("/")
    return call.method, segments[0], len(segments)


def _budget_key(base_url: str, transport: httpx.AsyncBaseTransport | None) -> object:
    """Whose rate budget the requests spend. Over the network it is the host's (per
    source address, so every client of the process to that host shares it); an
    in-process server (a sandbox's transport names it as `budget_key`) or any other
    transport given stands for a server of its own."""
    if transport is None or isinstance(transport, httpx.AsyncHTTPTransport):
        parts = urlsplit(base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"
    return getattr(transport, "budget_key", transport)


# Connections per pool. httpcore's pool looks at each of its connections, twice over,
# whenever a request starts or ends, so its cost per request grows with the square of
# the pool's size. `python -m benchmarks.bench_transport` (100 GETs/s, 1 s round trips,
# about 100 connections): one pool 2.2 ms of CPU per request, pools of 16 1.8 ms (and
# 13 ms against 5 ms under a profiler); HTTP/2 on one connection (h2, served by
# hypercorn) 1.5 ms but at 0.66-0.70 of the pace, so not chosen: it also needs an extra
# dependency, and a server the sandbox's uvicorn cannot be.
_POOL_SIZE = 16


class _ShardedTransport(httpx.AsyncBaseTransport):
    """Keep-alive HTTP/1.1 connections in pools of at most `_POOL_SIZE`, opened as the
    load needs them; a request goes to the first pool with a connection to spare."""

    def __init__(self, connections: int) -> None:
        self._size = min(connections, _POOL_SIZE)
        self._most = math.ceil(connections / self._size)
        self._pools: list[httpx.AsyncHTTPTransport] = []
        self._busy: list[int] = []
        self._ssl: Any = None

    def _pick(self) -> int:
        # The first pool with a free connection: pools fill in order, so the same
        # connections serve the same load again instead of new ones being opened.
        for index, busy in enumerate(self._busy):
            if busy < self._size:
                return index
        if len(self._pools) == self._most:  # all full: httpcore queues it in the emptiest
            return min(range(len(self._pools)), key=self._busy.__getitem__)
        if self._ssl is None:  # one context for all pools: loading CAs takes ~20 ms
            self._ssl = httpx.create_ssl_context()
        limits = httpx.Limits(max_connections=self._size, max_keepalive_connections=self._size)
        self._pools.append(httpx.AsyncHTTPTransport(verify=self._ssl, limits=limits))
        self._busy.append(0)
        return len(self._pools) - 1

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = self._pick()
        self._busy[index] += 1

        def done() -> None:
            self._busy[index] -= 1

        try:
            response = await self._pools[index].handle_async_request(request)
        except BaseException:
            done()
            raise
        # The connection stays busy until the body is read: count it as busy until then.
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Counted(response.stream, done)
        return response

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


class _Counted(httpx.AsyncByteStream):
    """A response body that calls `done` once, when it is closed."""

    def __init__(self, stream: httpx.AsyncByteStream, done: Callable[[], None]) -> None:
        self._stream = stream
        self._done: Callable[[], None] | None = done

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            done, self._done = self._done, None
            if done is not None:
                done()


class _LoopThread:
    """An event loop running forever on a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="spotzee-frames-loop", daemon=True
        )
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        if self.loop.is_running():
            # Cancel what is left (an abandoned call) before stopping, so no task is
            # destroyed while pending.
            with contextlib.suppress(Exception):
                self.submit(_cancel_all()).result(timeout=5)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self.loop.is_running():
            self.loop.close()


async def _cancel_all() -> None:
    me = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not me]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class Client:
    """A connection to Spotzee's Main API.

    Parameters default to the environment: `SPOTZEE_API_KEY` and `SPOTZEE_BASE_URL`
    (default `https://apix.spotzee.com/api/client`). `Client.sandbox()` gives a client
    bound to an in-process sandbox, for notebooks and tests with no key.

    Retries follow the contract: 429, 5xx and `idempotency_in_progress` are retried with
    exponential backoff and jitter, honouring `Retry-After` (which pauses every worker of
    this client); other 4xx never; network errors only for requests that carry an
    idempotency key or are idempotent by definition (GET, DELETE).

    Pace: request starts follow the host's budget of 100 requests/s, shared by every
    client of the process that talks to the same host, and never exceed the contract's
    windows (100 in any second; 1,000 in any 10 s and 8,000 in any minute, less 10 spare
    for arrival jitter); `rate_limit` caps this client's own pace below that (None: no
    pacing at all, for tests). In flight: as many requests as the pace needs at the
    observed round trip (pace x round trip, with headroom), not more when answers slow
    down because the server queues them, halved on 429/503/timeouts and won back on
    success, and never more than `max_concurrency`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 30.0,
        max_concurrency: int = 256,
        rate_limit: float | None = 100.0,
        max_attempts: int = 6,
        max_retry_time: float = 300.0,
        backoff_base: float = 0.5,
        backoff_max: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("SPOTZEE_API_KEY")
        if not key:
            raise ConfigurationError(
                "no API key: pass api_key= or set SPOTZEE_API_KEY "
                "(or use spotzee_frames.Client.sandbox() to try things offline)"
            )
        key = key.strip()
        if key.startswith("ok_"):
            raise ConfigurationError(
                "an organisation key (ok_…) is for the admin API; the toolkit needs a "
                "project secret key (sk_…)"
            )
        self._key = _Secret(key)
        url = (base_url or os.environ.get("SPOTZEE_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"base_url must be an http(s) URL, not {url!r}")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise InsecureTransportError(
                f"refusing to send a {self._key.kind} key over plain http to {parts.hostname}: "
                "use https (plain http is allowed only for loopback hosts)"
            )
        if max_concurrency < 1:
            raise ConfigurationError(f"max_concurrency must be at least 1, not {max_concurrency}")
        if max_attempts < 1:
            raise ConfigurationError(f"max_attempts must be at least 1, not {max_attempts}")
        self.base_url = url
        self.timeout = timeout
        self.max_concurrency = max_concurrency
        self.rate_limit = rate_limit
        self.max_attempts = max_attempts
        self.max_retry_time = max_retry_time
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._transport = transport
        limiters = []
        if rate_limit is not None:
            if (
                isinstance(rate_limit, bool)
                or not isinstance(rate_limit, int | float)
                or not 0 < rate_limit < math.inf
            ):
                raise ConfigurationError(
                    f"rate_limit must be a positive number of requests/s or None, not "
                    f"{rate_limit!r}"
                )
            limiters = [Limiter(rate_limit), host_limiter(_budget_key(url, transport))]
        self._pacer = Pacer(limiters)
        self._gate = Gate()
        self._in_flight: InFlight | None = None
        self._on_wire = 0
        self._http: httpx.AsyncClient | None = None
        self._loop_thread: _LoopThread | None = None
        self._lock = threading.Lock()
        self.stats: Counter[str] = Counter()
        self.sandbox_instance: Any = None
        # What the server's answers have shown: one success (a later 404 no longer hints
        # at base_url), and no Spotzee-Version echo (it may ignore idempotency keys).
        self._answered = False
        self._unversioned = False
        self._sent_keyed = False
        self._warned_unversioned = False
        self._finalizer: weakref.finalize[Any, Client] | None = None

    # -- construction helpers -------------------------------------------------------

    @classmethod
    def sandbox(cls, sandbox: Any = None, **kwargs: Any) -> Client:
        """A client bound to an in-process sandbox (a new one unless given); no key needed."""
        from .sandbox import Sandbox

        sb = sandbox if sandbox is not None else Sandbox()
        client = cls(
            api_key=SANDBOX_KEY,
            base_url="http://localhost/api/client",
            transport=sb.transport(),
            **kwargs,
        )
        client.sandbox_instance = sb
        return client

    @property
    def keys_honoured(self) -> bool | None:
        """Whether the server's answers so far show it honours `Idempotency-Key` (it
        echoes `Spotzee-Version`); None before its first successful answer."""
        if not self._answered:
            return None
        return not self._unversioned

    def key_fingerprint(self, salt: bytes) -> str:
        """A keyed hash (HMAC-SHA256 under `salt`) of the API key, never the key itself:
        what tells one project's rows in a ledger from another's."""
        digest = hmac.new(salt, self._key.reveal().encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def __repr__(self) -> str:
        where = "sandbox" if self.sandbox_instance is not None else self.base_url
        return f"<spotzee_frames.Client {where} key={self._key!r}>"

    # -- lifecycle -------------------------------------------------------------------

    def _loop(self) -> _LoopThread:
        with self._lock:
            if self._loop_thread is None:
                self._loop_thread = _LoopThread()
                self._finalizer = weakref.finalize(self, _shutdown, self._loop_thread)
            return self._loop_thread

    def _ensure_http(self) -> httpx.AsyncClient:
        # Runs on the loop thread: httpx clients and semaphores belong to one loop.
        if self._http is None:
            transport = self._transport or _ShardedTransport(self.max_concurrency)
            self._http = httpx.AsyncClient(
                base_url=self.base_url + "/",
                transport=transport,
                timeout=httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)),
                headers={
                    "Spotzee-Version": API_VERSION,
                    "User-Agent": (
                        f"spotzee-frames/{__version__} (python {platform.python_version()}; "
                        f"httpx {httpx.__version__})"
                    ),
                    "Accept": "application/json",
                },
                follow_redirects=False,
            )
            self._in_flight = InFlight(self.max_concurrency, lambda: self._pacer.pace)
        return self._http

    def close(self) -> None:
        """Close connections and stop the background loop. The client can't be used after."""
        with self._lock:
            lt, self._loop_thread = self._loop_thread, None
        if lt is None:
            return
        http = self._http
        if http is not None:
            try:
                lt.submit(http.aclose()).result(timeout=5)
            except Exception:
                logger.debug("closing the HTTP client failed", exc_info=True)
        self._http = None
        if self._finalizer is not None:
            self._finalizer.detach()
        lt.stop()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the request path ------------------------------------------------------------

    def _check_scope(self, method: str, path: str) -> None:
        if self._key.kind == "pk_" and (method, path) not in _PK_ALLOWED:
            raise KeyScopeError(
                f"a publishable key (pk_…) may only call POST /events, not {method} {path}: "
                "use a project secret key (sk_…)"
            )

    def _retryable(self, exc: BaseException, call: Call, keyed: bool) -> bool:
        if isinstance(exc, TransportError):
            # A lost answer may hide applied work: only a keyed or idempotent request goes
            # again, and a key counts only on a server that may honour it.
            return (keyed and not self._unversioned) or call.method in _IDEMPOTENT_METHODS
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None and retry_after > self.max_retry_time and is_transient(exc):
            # The server's wait is longer than this call may take: stop now, and say why.
            if isinstance(exc, APIError) and "max_retry_time" not in exc.message:
                exc.message += (
                    f" (the server asked to wait {retry_after:,.0f} s, longer than "
                    f"max_retry_time={self.max_retry_time:g} s: not retried; try again later)"
                )
            return False
        return is_transient(exc)

    def _wait_seconds(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        n = state.attempt_number
        backoff = min(self.backoff_max, self.backoff_base * 2 ** (n - 1))
        backoff *= random.uniform(0.5, 1.0)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            # Honour the server's word; on repeated 429s double it, and add jitter so a
            # fan-out does not come back as one burst.
            doubling = 2 ** (n - 1) if getattr(exc, "status_code", None) == 429 else 1
            wait = max(retry_after, min(self.backoff_max, max(retry_after * doubling, backoff)))
            return float(wait + random.uniform(0.0, 0.5))
        return float(backoff)

    def _check_gate(self, call: Call, attempt: int) -> None:
        """Fail at once, unsent, while the server's last Retry-After has longer to run
        than a call may take (`max_retry_time`): waiting it out would only hang the run,
        and sending anyway would only collect more 429s."""
        wait = self._gate.paused_for
        if wait > self.max_retry_time:
            raise RateLimitError(
                f"{call.method} {call.path} not sent: the server asked for a pause of "
                f"{wait:,.0f} s more (Retry-After), longer than max_retry_time="
                f"{self.max_retry_time:g} s; nothing was applied, try again later",
                status_code=429,
                code="rate_limited",
                retry_after=wait,
                attempts=attempt - 1,
            )

    async def _attempt(self, call: Call, key: str | None, attempt: int) -> Response:
        http = self._ensure_http()
        in_flight = self._in_flight
        assert in_flight is not None
        headers = {"Authorization": f"Bearer {self._key.reveal()}"}
        content = call.content
        if content is None and call.json is not None:
            content = orjson.dumps(call.json)
        if content is not None:
            headers["Content-Type"] = "application/json"
        if key is not None:
            headers["Idempotency-Key"] = key
        await in_flight.acquire()
        try:
            self._check_gate(call, attempt)
            while True:
                await self._gate.wait()
                await self._pacer.wait()
                # A pause that began while this waited for its turn: wait it out and take
                # a new turn, so that the start happens right after the turn it counts as.
                if self._gate.paused_for == 0:
                    break
            self.stats["requests"] += 1
            self._on_wire += 1
            if self._on_wire > self.stats["peak_in_flight"]:
                self.stats["peak_in_flight"] = self._on_wire
            loop = asyncio.get_running_loop()
            sent_at = loop.time()
            try:
                response = await http.request(
                    call.method,
                    call.path.lstrip("/"),
                    params=call.params,
                    content=content,
                    headers=headers,
                )
            except (httpx.TransportError, httpx.DecodingError) as exc:
                self.stats["network_errors"] += 1
                if isinstance(exc, httpx.TransportError):
                    in_flight.troubled()
                raise _lost_answer(call, exc, attempt) from exc
            finally:
                self._on_wire -= 1
            if response.status_code == 429 or 502 <= response.status_code <= 504:
                in_flight.troubled()
            else:
                in_flight.answered(loop.time() - sent_at, _kind(call))
        finally:
            in_flight.release()
        self._note_rate_headers(response)
        request_id = response.headers.get("x-request-id")
        logger.debug(
            "%s %s -> %s (attempt %d, request %s)",
            call.method,
            call.path,
            response.status_code,
            attempt,
            request_id,
        )
        if not 200 <= response.status_code < 300:  # a redirect is not a success either
            asker = _Asker(self.base_url, self._key.kind, self._answered)
            error = _error_from_response(response, attempt, call, asker)
            if error.status_code == 429:
                self.stats["rate_limited"] += 1
                if self._gate.paused_for == 0:  # the first 429 of a burst slows the pace once
                    self._pacer.slow_down()
            if error.status_code in (429, 503):
                # Every worker backs off, not only this one; a 429 that names no wait still
                # means the host's budget is spent.
                pause = error.retry_after
                if pause is None and error.status_code == 429:
                    pause = _DEFAULT_RATE_LIMIT_PAUSE
                if pause is not None:
                    self._gate.pause(pause)
            raise error
        data: Any = None
        if response.content:
            try:
                data = orjson.loads(response.content)
            except orjson.JSONDecodeError as exc:
                # As good as a lost answer: the work may have been done. Retried like one
                # (keyed and safe requests only), then the caller reports it as unknown.
                unreadable = TransportError(
                    f"{call.method} {call.path} answered {response.status_code} with a body "
                    "that is not JSON",
                    code="invalid_response",
                    attempts=attempt,
                )
                unreadable.request_id = request_id
                raise unreadable from exc
        self._pacer.recover()
        self._answered = True
        if "spotzee-version" not in response.headers:
            self._unversioned = True
        replayed = response.headers.get("idempotent-replayed", "").lower() == "true"
        if replayed:
            self.stats["replayed"] += 1
        return Response(
            status_code=response.status_code,
            data=data,
            headers=response.headers,
            request_id=request_id,
            replayed=replayed,
            attempts=attempt,
        )

    def _note_rate_headers(self, response: httpx.Response) -> None:
        # Not active in production per the docs: use them when present, never rely on them.
        remaining = response.headers.get("x-ratelimit-remaining")
        reset = response.headers.get("x-ratelimit-reset")
        if remaining is None or reset is None:
            return
        try:
            if int(remaining) > 0:
                return
            value = float(reset)
        except ValueError:
            return
        wait = value - time.time() if value > 1e9 else value
        if 0 < wait <= self.backoff_max:
            self._gate.pause(wait)

    async def _execute(self, call: Call) -> Response:
        method = call.method.upper()
        if method != call.method:
            call = Call(
                method, call.path, call.params, call.json, call.content, call.idempotency_key
            )
        self._check_scope(method, call.path)
        key = call.idempotency_key
        if key is None and method in _KEYED_METHODS:
            key = f"sfr_{uuid.uuid4().hex}"
        keyed = key is not None
        if keyed:
            self._sent_keyed = True
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts) | stop_after_delay(self.max_retry_time),
            wait=self._wait_seconds,
            retry=retry_if_exception(lambda exc: self._retryable(exc, call, keyed)),
            reraise=True,
        )
        attempt = 0
        async for trying in retrying:
            with trying:
                attempt = trying.retry_state.attempt_number
                if attempt > 1:
                    self.stats["retries"] += 1
                return await self._attempt(call, key, attempt)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    # -- public, synchronous API --------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = self._loop().submit(coro)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        content: bytes | None = None,
        idempotency_key: str | None = None,
    ) -> Response:
        """Make one request (with retries); raise the matching SpotzeeError on failure."""
        call = Call(method, path, params, json, content, idempotency_key)
        self._check_scope(call.method.upper(), path)
        response = self._run(self._execute(call))
        self._warn_if_unversioned()
        return response

    def _warn_if_unversioned(self) -> None:
        """Once per client, in the caller's thread (not the loop's, where a warning turned
        error would fail the request): writes went to a server that may ignore their keys."""
        if self._unversioned and self._sent_keyed and not self._warned_unversioned:
            self._warned_unversioned = True
            warn(
                IDEMPOTENCY_NOT_HONOURED.format(base_url=self.base_url),
                IdempotencyNotHonouredWarning,
            )

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a path and return its parsed JSON body."""
        return self.request("GET", path, params=params).data

    def paginate(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        limit: int = 100,
        on_page: Callable[[int, int | None], Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every result of a list endpoint, walking `nextCursor` pages of `limit` items.

        `on_page(n, total)` is told the number of results of each page as it arrives,
        and the listing's total when the server says it (`X-Total-Count`), else None.
        """
        query: dict[str, Any] = dict(params or {})
        query["limit"] = limit
        seen: set[str] = set()
        while True:
            response = self.request("GET", path, params=query)
            data = response.data
            if isinstance(data, list):  # lenient: a bare list is one whole page
                results, cursor = data, None
            elif isinstance(data, dict):
                results = data.get("results") or []
                cursor = data.get("nextCursor")
            else:
                raise APIError(
                    f"GET {path} did not answer with a list envelope",
                    status_code=200,
                    code="invalid_response",
                )
            if on_page is not None:
                on_page(len(results), _total_count(response.headers))
            yield from results
            if not cursor or not results or cursor in seen:
                return
            seen.add(cursor)
            query["cursor"] = cursor

    def stream(
        self,
        calls: Iterable[Call],
        *,
        stop_on: tuple[type[BaseException], ...] = (AuthenticationError, PermissionDeniedError),
        window: int | None = None,
    ) -> Iterator[tuple[int, Response | SpotzeeError]]:
        """Run many calls concurrently; yield `(position, outcome)` as each one ends.

        An outcome is a Response or the SpotzeeError the call ended with after retries.
        Errors of the `stop_on` types are raised instead and cancel what is pending; so
        does leaving the loop early (break, KeyboardInterrupt). A call already in flight
        when that happens may still complete on the server: send it again with the same
        idempotency key and it replays instead of applying twice.

        `calls` is consumed lazily, at most `window` ahead of the outcomes (default: what
        may be in flight now plus 32), so a generator of a million bodies never has them
        all in memory and building the next bodies overlaps the sending of the last ones.
        """
        if window is not None and window < 1:
            raise ValueError(f"window must be at least 1, not {window}")
        source = iter(calls)
        results: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        in_flight: dict[int, concurrent.futures.Future[None]] = {}
        exhausted = False
        position = 0
        loop = self._loop()
        try:
            while True:
                ahead = window if window is not None else self._window()
                while not exhausted and len(in_flight) < ahead:
                    call = next(source, None)
                    if call is None:
                        exhausted = True
                        break
                    self._check_scope(call.method.upper(), call.path)
                    in_flight[position] = loop.submit(self._settle(position, call, results))
                    position += 1
                if not in_flight:
                    return
                try:
                    done, outcome = results.get(timeout=0.2)
                except queue.Empty:
                    continue
                in_flight.pop(done).result()  # already settled: returns at once
                if isinstance(outcome, stop_on):
                    raise outcome
                if not isinstance(outcome, (Response, SpotzeeError)):
                    raise outcome
                self._warn_if_unversioned()
                yield done, outcome
        finally:
            for future in in_flight.values():
                future.cancel()
            for future in in_flight.values():
                with contextlib.suppress(BaseException):  # cancelled on purpose
                    future.result(timeout=10)

    def _window(self) -> int:
        """How many calls a stream keeps submitted: enough for every slot that may be in
        flight, and some ready behind them while the caller's thread is busy."""
        in_flight = self._in_flight
        return (in_flight.limit if in_flight is not None else 0) + 32

    async def _settle(
        self, position: int, call: Call, results: queue.SimpleQueue[tuple[int, Any]]
    ) -> None:
        """Run one call and hand its outcome, whatever it is, to the consuming thread."""
        try:
            outcome: Any = await self._execute(call)
        except SpotzeeError as exc:
            outcome = exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            outcome = exc
        results.put((position, outcome))


def _shutdown(loop_thread: _LoopThread) -> None:
    loop_thread.stop()


_default: dict[tuple[str | None, str | None], Client] = {}
_default_lock = threading.Lock()


def resolve_client(client: Client | None) -> Client:
    """The client to use: the one given, or a shared one built from the environment."""
    if client is not None:
        if not isinstance(client, Client):
            raise TypeError(f"client must be a spotzee_frames.Client, not {type(client).__name__}")
        return client
    env = (os.environ.get("SPOTZEE_API_KEY"), os.environ.get("SPOTZEE_BASE_URL"))
    with _default_lock:
        if env not in _default:
            _default[env] = Client()
        return _default[env]
