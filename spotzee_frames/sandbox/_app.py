"""The request pipeline shared by every transport.

Per request, in this order: rate limit -> scripted or random failure before any work
(503, 500, 429, HTML 502, plain 404) -> path, auth, version, route and Idempotency-Key
checks and the key's claim -> latency (the key is held "in progress") -> the work (and
its per-item CPU cost) -> cache the answer -> scripted or random drop (committed, then
lost).

`begin` and `finish` run under one lock and never wait; the transports sleep the latency
between them (time.sleep or asyncio.sleep), so one pipeline serves sync, async and
served callers alike.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs

import orjson

from ._faults import FaultPlan, Faults
from ._idempotency import (
    Claimed,
    IdempotencyCache,
    InProgress,
    Mismatch,
    fingerprint,
    scope_of,
)
from ._problems import ApiError
from ._profiles import Profile, Refusal
from ._ratelimit import RateLimiter
from ._routes import ROUTES, Call, Route, find_route
from ._store import Store
from ._time import iso_z, now_micros
from ._wire import RequestRecord, SandboxRequest, SandboxResponse

__all__ = ["API_VERSION", "BASE_PATH", "STAT_KEYS", "App", "Pending"]

API_VERSION: Final = "2026-04-28"
BASE_PATH: Final = "/api/client"
STAT_KEYS: Final = (
    "requests",
    "ok",
    "client_errors",
    "server_errors",
    "rate_limited",
    "failures",
    "drops",
    "replays",
    "in_progress",
    "mismatches",
    "bugs",
)

_BEARER: Final = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +((?:sk|pk)_[!-~]+)")
_DATE: Final = re.compile(r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])")
_HTML_502: Final = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_log = logging.getLogger("spotzee_frames.sandbox")


def _check_version(requested: str | None) -> None:
    if requested is None:
        raise ApiError(
            "version_required", f"send the Spotzee-Version header (current: {API_VERSION})"
        )
    if requested != API_VERSION:
        if _DATE.fullmatch(requested) is None:
            raise ApiError(
                "parameter_invalid_format",
                "Spotzee-Version must be a date, YYYY-MM-DD",
                param="Spotzee-Version",
            )
        raise ApiError(
            "version_unsupported",
            f"unknown API version {requested}; the current one is {API_VERSION}",
            param="Spotzee-Version",
        )


def _whole_seconds(seconds: float) -> int:
    """Retry-After is an integer number of seconds in HTTP."""
    return max(0, math.ceil(seconds))


def _busy(seconds: float) -> None:
    """Compute for `seconds` of this thread's CPU time (the per-item work cost)."""
    if seconds <= 0:
        return
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


@dataclass(slots=True)
class Pending:
    """A request past the faults, waiting out its latency before `finish`."""

    request: SandboxRequest
    path: str
    request_id: str
    version: str
    idempotency_key: str | None
    delay: float
    drop: bool
    at: float
    #: Decided before the work (a refusal or a replay); None = run the route.
    response: SandboxResponse | None = None
    route: Route | None = None
    params: dict[str, str] | None = None
    claim: tuple[bytes, str] | None = None
    replayed: bool = False


class App:
    """One sandboxed project behind the Main API: state, faults and the pipeline."""

    def __init__(
        self,
        faults: Faults,
        *,
        demo: bool,
        seed: int,
        max_records: int,
        profile: Profile,
        api_keys: frozenset[str] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.faults = faults
        #: Which server the sandbox plays (the contract's Spotzee, or a Parcelvoy).
        self.profile = profile
        #: The keys that belong to the project; None: any well-formed key does.
        self.api_keys = api_keys
        self.demo = demo
        self.seed = seed
        self.store = Store(demo=demo, seed=seed)
        self.plan = FaultPlan()
        self.limiter = RateLimiter()
        self.idempotency = IdempotencyCache()
        self.records: deque[RequestRecord] = deque(maxlen=max_records)
        self.stats: Counter[str] = Counter()
        #: Monotonic seconds, for rate limits and idempotency TTLs (tests may replace it).
        self.clock: Callable[[], float] = time.monotonic

    def reset(self) -> None:
        with self.lock:
            self.store = Store(demo=self.demo, seed=self.seed)
            self.plan.clear()
            self.limiter.clear()
            self.idempotency.clear()
            self.records.clear()
            self.stats.clear()

    # entry points of the transports

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """The whole pipeline, sleeping the latency with time.sleep."""
        step = self.begin(request)
        if isinstance(step, SandboxResponse):
            return step
        if step.delay > 0:
            try:
                time.sleep(step.delay)
            except BaseException:
                self.finish(step)  # the server goes on even if its caller gave up
                raise
        return self.finish(step)

    async def handle_async(self, request: SandboxRequest) -> SandboxResponse:
        """The whole pipeline, sleeping the latency with asyncio.sleep."""
        step = self.begin(request)
        if isinstance(step, SandboxResponse):
            return step
        if step.delay > 0:
            try:
                await asyncio.sleep(step.delay)
            except BaseException:
                self.finish(step)  # the server goes on even if its caller gave up
                raise
        return self.finish(step)

    # the pipeline

    def begin(self, request: SandboxRequest) -> SandboxResponse | Pending:
        """Everything before the latency: a final response, or a Pending to finish."""
        at = time.time()
        now = self.clock()
        raw_path = request.path
        under_base = raw_path == BASE_PATH or raw_path.startswith(BASE_PATH + "/")
        path = raw_path[len(BASE_PATH) :] if under_base else raw_path
        request_id = "req_" + secrets.token_hex(12)
        key = (
            request.headers.get("idempotency-key") if request.method in ("POST", "PATCH") else None
        )
        requested = request.headers.get("spotzee-version")
        version = requested if requested == API_VERSION else API_VERSION
        with self.lock:
            self.stats["requests"] += 1
            faults = self.faults
            wait = self.limiter.admit(request.client, now, faults.rate_limit)
            if wait is not None:
                retry_after = _whole_seconds(faults.retry_after)
                if faults.rate_limit is None:
                    retry_after = max(retry_after, math.ceil(wait))
                limit = (
                    "1000 requests per 10 s and 8000 per minute"
                    if faults.rate_limit is None
                    else f"{faults.rate_limit:g} requests per second"
                )
                response = self._problem(
                    path,
                    request_id,
                    version,
                    "rate_limited",
                    f"too many requests from {request.client} (limit {limit}); "
                    f"retry after {retry_after} s",
                    retry_after=retry_after,
                )
                self.stats["rate_limited"] += 1
                self._record(request, path, response, request_id, key, False, "rate_limited", at)
                return response
            fault = self.plan.take(request.method, path)
            if fault is None and self.plan.chance(faults, faults.failure_rate):
                fault = "503"
            if fault is not None and fault != "drop":
                response, rid = self._fault_response(fault, path, request_id, version, faults)
                self.stats["rate_limited" if fault == "429" else "failures"] += 1
                self._record(request, path, response, rid, key, False, fault, at)
                return response
            pending = Pending(
                request=request,
                path=path,
                request_id=request_id,
                version=version,
                idempotency_key=key,
                delay=max(0.0, float(faults.latency)),
                drop=fault == "drop",
                at=at,
            )
            try:
                self._admit(pending, under_base, now)
            except ApiError as error:
                pending.response = self._problem(
                    path,
                    request_id,
                    version,
                    error.code,
                    error.message,
                    param=error.param,
                    retry_after=error.retry_after,
                )
            return pending

    def _admit(self, pending: Pending, under_base: bool, now: float) -> None:
        """Path, auth, version, route and idempotency checks; claims the key if any.

        A refusal is raised as ApiError, or set as `pending.response` when the profile
        answers in a form of its own (a plain-text 405, Parcelvoy's 404 for a foreign key).
        """
        request = pending.request
        profile = self.profile
        if not under_base:
            raise ApiError(
                "resource_missing",
                f"no route {request.method} {request.path}; the Main API lives under {BASE_PATH}",
            )
        lacking = profile.lacks(request.method, pending.path) is not None
        found = None if lacking else find_route(request.method, pending.path)
        if found is None and profile.routes_first:
            pending.response = self._no_route(pending)
            return
        match = _BEARER.fullmatch(request.headers.get("authorization", ""))
        if match is None:
            raise ApiError(
                "authentication_required",
                "send Authorization: Bearer <key> with a project key (sk_...)",
            )
        api_key = match.group(1)
        if self.api_keys is not None and api_key not in self.api_keys:
            pending.response = profile.unknown_key(
                path=pending.path, request_id=pending.request_id, version=pending.version
            )
            return
        if profile.versioned:
            _check_version(request.headers.get("spotzee-version"))
        if found is None:
            pending.response = self._no_route(pending)
            return
        route, params = found
        if api_key.startswith("pk_") and not route.publishable:
            raise ApiError(
                "permission_denied",
                "a publishable key (pk_) may only call POST /events; use a secret key (sk_)",
            )
        pending.route, pending.params = route, params
        key = pending.idempotency_key
        if key is None or not profile.honours_idempotency:
            return
        if not 1 <= len(key) <= 255:
            raise ApiError(
                "idempotency_key_invalid",
                f"Idempotency-Key must be 1 to 255 characters, got {len(key)}",
                param="Idempotency-Key",
            )
        scope = scope_of(api_key)
        print_ = fingerprint(request.method, pending.path, request.query, request.body)
        outcome = self.idempotency.claim(scope, key, print_, now, now + pending.delay)
        if isinstance(outcome, Claimed):
            pending.claim = (scope, key)
        elif isinstance(outcome, Mismatch):
            self.stats["mismatches"] += 1
            raise ApiError(
                "idempotency_key_mismatch",
                "this Idempotency-Key was used with another request body; "
                "use a new key for a new request",
                param="Idempotency-Key",
            )
        elif isinstance(outcome, InProgress):
            self.stats["in_progress"] += 1
            raise ApiError(
                "idempotency_in_progress",
                "a request with this Idempotency-Key is still running; "
                f"retry after {outcome.retry_after} s",
                param="Idempotency-Key",
                retry_after=outcome.retry_after,
            )
        else:
            self.stats["replays"] += 1
            pending.replayed = True
            pending.request_id = outcome.request_id
            pending.response = SandboxResponse(
                outcome.status,
                [
                    *outcome.headers,
                    *profile.echo(outcome.request_id, pending.version),
                    ("idempotent-replayed", "true"),
                ],
                outcome.body,
            )

    def finish(self, pending: Pending) -> SandboxResponse:
        """The work (unless decided already), its caching, and the drop decision."""
        with self.lock:
            response = pending.response
            if response is None:
                response = self._work(pending)
                if pending.claim is not None:
                    scope, key = pending.claim
                    kept = tuple(
                        (name, value)
                        for name, value in response.headers
                        if name not in ("x-request-id", "spotzee-version")
                    )
                    self.idempotency.complete(
                        scope, key, response.status, kept, response.body, pending.request_id
                    )
            faults = self.faults
            fault: str | None = None
            if pending.drop or self.plan.chance(faults, faults.drop_rate):
                response.drop = True
                fault = "drop"
                self.stats["drops"] += 1
            self._record(
                pending.request,
                pending.path,
                response,
                pending.request_id,
                pending.idempotency_key,
                pending.replayed,
                fault,
                pending.at,
            )
            return response

    def _work(self, pending: Pending) -> SandboxResponse:
        request, route = pending.request, pending.route
        assert route is not None and pending.params is not None
        micros = now_micros()
        profile = self.profile
        call = Call(
            params=pending.params,
            query=parse_qs(request.query, keep_blank_values=True),
            body=profile.read_body(request.body) if request.body else request.body,
            content_type=request.headers.get("content-type"),
            now=micros,
            now_iso=iso_z(micros),
            request_id=pending.request_id,
            idempotency_key=pending.idempotency_key,
            profile=profile,
        )
        try:
            reply = route.handler(self.store, call)
            payload = profile.present(pending.path, reply.payload)
            body = b"" if payload is None else orjson.dumps(payload)
            _busy(self.faults.item_cost * call.items)
        except ApiError as error:
            return self._problem(
                pending.path,
                pending.request_id,
                pending.version,
                error.code,
                error.message,
                param=error.param,
                errors=error.errors,
                retry_after=error.retry_after,
            )
        except Exception:
            _log.exception("sandbox bug in %s %s", request.method, pending.path)
            self.stats["bugs"] += 1
            return self._problem(
                pending.path,
                pending.request_id,
                pending.version,
                "internal_error",
                "the sandbox failed on this request (a bug: see its log)",
            )
        headers = [("content-type", "application/json")] if reply.payload is not None else []
        headers += reply.headers
        headers += profile.echo(pending.request_id, pending.version)
        return SandboxResponse(reply.status, headers, body)

    # responses

    def _problem(
        self,
        path: str,
        request_id: str,
        version: str,
        code: str,
        message: str,
        *,
        param: str | None = None,
        errors: list[dict[str, object]] | None = None,
        retry_after: int | None = None,
    ) -> SandboxResponse:
        return self.profile.error(
            Refusal(code, message, path, request_id, version, param, errors, retry_after)
        )

    def _no_route(self, pending: Pending) -> SandboxResponse:
        """The profile's answer for a route it lacks or nobody has; `allowed` tells it
        which other methods serve the path (koa-router, which Parcelvoy uses, answers 405)."""
        method, path = pending.request.method, pending.path
        absent = self.profile.lacks(method, path)
        if absent is not None:
            return absent
        allowed = [r.method for r in ROUTES if r.pattern.fullmatch(path)]
        return self.profile.no_route(
            method, path, allowed, request_id=pending.request_id, version=pending.version
        )

    def _fault_response(
        self, fault: str, path: str, request_id: str, version: str, faults: Faults
    ) -> tuple[SandboxResponse, str | None]:
        if fault == "html502":  # a proxy's page: it never reached the API
            return SandboxResponse(502, [("content-type", "text/html")], _HTML_502), None
        if fault == "plain404":
            return SandboxResponse(404, [("content-type", "text/plain")], b"404 Not Found"), None
        if fault == "429":
            return self._problem(
                path,
                request_id,
                version,
                "rate_limited",
                f"too many requests (injected); retry after {_whole_seconds(faults.retry_after)} s",
                retry_after=_whole_seconds(faults.retry_after),
            ), request_id
        code = "service_unavailable" if fault == "503" else "internal_error"
        message = (
            "the service is temporarily unavailable"
            if fault == "503"
            else "an internal error occurred"
        )
        return self._problem(
            path, request_id, version, code, f"{message} (injected); nothing was done"
        ), request_id

    def _record(
        self,
        request: SandboxRequest,
        path: str,
        response: SandboxResponse,
        request_id: str | None,
        key: str | None,
        replayed: bool,
        fault: str | None,
        at: float,
    ) -> None:
        status = response.status
        if fault != "drop":
            if status < 400:
                self.stats["ok"] += 1
            elif status < 500:
                self.stats["client_errors"] += 1
            else:
                self.stats["server_errors"] += 1
        self.records.append(
            RequestRecord(
                method=request.method,
                path=path,
                query=request.query,
                status=status,
                idempotency_key=key,
                replayed=replayed,
                request_id=request_id,
                fault=fault,
                body=request.body,
                client=request.client,
                at=at,
            )
        )
