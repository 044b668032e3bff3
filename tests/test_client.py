"""The client against the sandbox, in process and over a real socket: headers, errors,
retries, idempotent replay, Retry-After across workers, pacing, pagination, secrecy."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

import spotzee_frames as sf
from spotzee_frames import API_VERSION, Client
from spotzee_frames import _errors as sf_errors
from spotzee_frames._client import Call, _parse_retry_after
from spotzee_frames._pacing import TOLERANCE
from spotzee_frames.sandbox import Faults, Sandbox

from .conftest import FAST, Served, problem

SECRET = "sk_test_DoNotLeakMe0123456789"
ITEM = [{"external_id": "c1", "email": "ada@example.com"}]


@dataclass
class Seen:
    method: str
    path: str
    headers: httpx.Headers
    started: float
    ended: float = 0.0
    status: int | None = None


@dataclass
class Recording(httpx.AsyncBaseTransport):
    """Wraps a transport and notes what went through it and when."""

    inner: httpx.AsyncBaseTransport
    seen: list[Seen] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        entry = Seen(request.method, request.url.path, request.headers, time.monotonic())
        self.seen.append(entry)
        try:
            response = await self.inner.handle_async_request(request)
        finally:
            entry.ended = time.monotonic()
        entry.status = response.status_code
        return response


def recorded_client(sb: Sandbox, **kwargs: object) -> tuple[Client, Recording]:
    rec = Recording(sb.transport())
    options = {**FAST, **kwargs}
    return Client(SECRET, "http://localhost/api/client", transport=rec, **options), rec  # type: ignore[arg-type]


def test_sends_contract_headers_and_a_key_on_every_write(sandbox: Sandbox) -> None:
    client, rec = recorded_client(sandbox)
    with client:
        client.get("/campaigns")
        client.request("POST", "/users/batch", json=ITEM)
        client.request("PATCH", "/users", json=ITEM)
    get, post, patch = rec.seen
    for seen in rec.seen:
        assert seen.headers["authorization"] == f"Bearer {SECRET}"
        assert seen.headers["spotzee-version"] == "2026-04-28"
        assert seen.headers["user-agent"].startswith(f"spotzee-frames/{sf.__version__}")
    assert "idempotency-key" not in get.headers
    assert post.headers["content-type"] == "application/json"
    assert 1 <= len(post.headers["idempotency-key"]) <= 255
    assert post.headers["idempotency-key"] != patch.headers["idempotency-key"]


def test_error_envelope_becomes_a_typed_exception(client: Client) -> None:
    with pytest.raises(sf.NotFoundError) as info:
        client.get("/campaigns/987654")
    err = info.value
    assert err.status_code == 404
    assert err.code == "resource_missing"
    assert err.request_id and err.request_id.startswith("req_")
    assert err.attempts == 1
    assert isinstance(err, sf.APIError) and isinstance(err, sf.SpotzeeError)


def test_validation_error_carries_param_and_is_not_retried(sandbox: Sandbox) -> None:
    client, rec = recorded_client(sandbox)
    with client, pytest.raises(sf.InvalidRequestError) as info:
        client.request("POST", "/users/batch", json={"not": "an array"})
    assert info.value.status_code == 400
    assert info.value.attempts == 1
    assert len(rec.seen) == 1


@pytest.mark.parametrize("kind", ["html502", "plain404"])
def test_non_json_error_bodies_still_become_clear_errors(sandbox: Sandbox, kind: str) -> None:
    sandbox.inject(kind, times=1, path="/campaigns")
    with (
        Client.sandbox(sandbox, **{**FAST, "max_attempts": 1}) as client,
        pytest.raises(sf.APIError) as info,
    ):
        client.get("/campaigns")
    err = info.value
    assert err.status_code in (502, 404)
    assert "HTTP" in err.message and err.code in ("server_error", "resource_missing")


def test_5xx_is_retried_until_it_succeeds(client: Client, sandbox: Sandbox) -> None:
    sandbox.inject("503", times=2, path="/users/batch")
    response = client.request("POST", "/users/batch", json=ITEM)
    assert response.status_code == 200
    assert response.attempts == 3
    assert sandbox.write_counts["c1"] == 1


def test_gives_up_after_max_attempts(sandbox: Sandbox) -> None:
    sandbox.inject("503", times=10, path="/users/batch")
    with (
        Client.sandbox(sandbox, **{**FAST, "max_attempts": 3}) as client,
        pytest.raises(sf.ServerError) as info,
    ):
        client.request("POST", "/users/batch", json=ITEM)
    assert info.value.attempts == 3
    assert sandbox.write_counts["c1"] == 0


def test_lost_response_after_commit_is_replayed_not_reapplied(
    client: Client, sandbox: Sandbox
) -> None:
    sandbox.inject("drop", times=1, path="/users/batch")
    response = client.request("POST", "/users/batch", json=ITEM, idempotency_key="batch-1")
    assert response.replayed is True
    assert response.attempts == 2
    assert sandbox.write_counts["c1"] == 1
    assert response.data["results"][0]["user"]["email"] == "ada@example.com"


def test_lost_response_over_a_real_socket_is_replayed(served: Served) -> None:
    served.sandbox.inject("drop", times=2, path="/users/batch")
    response = served.client.request("POST", "/users/batch", json=ITEM)
    assert response.replayed is True
    assert response.attempts == 3
    assert served.sandbox.write_counts["c1"] == 1


def test_a_lost_delete_is_retried_though_it_carries_no_key(served: Served) -> None:
    # DELETE is idempotent by definition: deleting twice is deleting once.
    served.sandbox.add_users(2)
    served.sandbox.inject("drop", times=1, path="/users")
    response = served.client.request("DELETE", "/users", params={"user_id": "u1"})
    assert response.status_code == 204 and response.attempts == 2
    deletes = [r for r in served.sandbox.requests if r.method == "DELETE"]
    assert len(deletes) == 2 and all(r.idempotency_key is None for r in deletes)
    assert list(served.sandbox.users) == ["u2"]


def test_timeouts_become_transport_errors(served: Served) -> None:
    served.sandbox.faults.latency = 0.5
    with (
        Client("sk_test_t", served.base_url, **{**FAST, "timeout": 0.1, "max_attempts": 2}) as c,
        pytest.raises(sf.TransportError) as info,
    ):
        c.get("/campaigns")
    assert info.value.code == "timeout"
    assert info.value.attempts == 2


def test_retry_after_pauses_every_worker(sandbox: Sandbox) -> None:
    sandbox.faults.retry_after = 1
    sandbox.inject("429", times=1, path="/users/batch")
    client, rec = recorded_client(sandbox, max_concurrency=4)
    calls = [
        Call("POST", "/users/batch", json=[{"external_id": f"u{i}"}], idempotency_key=f"k{i}")
        for i in range(12)
    ]
    with client:
        outcomes = dict(client.stream(calls))
    assert all(isinstance(o, sf._client.Response) for o in outcomes.values())
    limited = [s for s in rec.seen if s.status == 429]
    assert len(limited) == 1
    told_at = limited[0].ended
    later = [s for s in rec.seen if s.started > told_at]
    assert later, "work continued after the 429"
    # No worker, not only the one that was told, starts before Retry-After has passed.
    assert min(s.started for s in later) >= told_at + 0.99
    assert client.stats["rate_limited"] == 1
    assert sum(sandbox.write_counts.values()) == 12


def test_rate_limit_over_a_real_socket_is_survived(served: Served) -> None:
    served.sandbox.faults.rate_limit = 20
    served.sandbox.faults.retry_after = 1
    calls = [Call("GET", "/campaigns") for _ in range(20)]
    outcomes = dict(served.client.stream(calls))
    assert len(outcomes) == 20
    assert all(isinstance(o, sf._client.Response) for o in outcomes.values())


def test_pacer_spaces_request_starts(sandbox: Sandbox) -> None:
    client, rec = recorded_client(sandbox, rate_limit=50, max_concurrency=8)
    with client:
        list(client.stream([Call("GET", "/campaigns") for _ in range(15)]))
    starts = sorted(s.started for s in rec.seen)
    # Slots are 20 ms apart; the first 1 + 50 x 0.05 may go at once (the schedule's
    # tolerance for late wake-ups), the rest wait for their slots.
    burst = 1 + int(50 * TOLERANCE)
    assert starts[-1] - starts[0] >= (15 - burst) * 0.02 * 0.95


def test_a_paced_client_provokes_no_429(sandbox: Sandbox) -> None:
    sandbox.faults.rate_limit = 100
    client, rec = recorded_client(sandbox, rate_limit=100, max_concurrency=8)
    with client:
        list(client.stream([Call("GET", "/campaigns") for _ in range(150)]))
    assert [s for s in rec.seen if s.status == 429] == []
    assert client.stats["rate_limited"] == 0


def test_stream_raises_auth_errors_and_stops(sandbox: Sandbox) -> None:
    with (
        Client("sk_live_wrong", "http://localhost/api/client", transport=_Unauthorised()) as c,
        pytest.raises(sf.AuthenticationError),
    ):
        list(c.stream([Call("GET", "/campaigns") for _ in range(5)]))


class _Unauthorised(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return problem(401, "authentication_required", "bad key")


def test_stream_reports_per_call_failures_without_stopping(
    client: Client, sandbox: Sandbox
) -> None:
    calls = [
        Call("GET", "/campaigns/1"),
        Call("GET", "/campaigns/999999"),
        Call("GET", "/campaigns/2"),
    ]
    outcomes = dict(client.stream(calls))
    assert isinstance(outcomes[1], sf.NotFoundError)
    assert outcomes[0].data["id"] == 1 and outcomes[2].data["id"] == 2  # type: ignore[union-attr]


def test_paginate_walks_every_page(client: Client, sandbox: Sandbox) -> None:
    sandbox.add_users(250)
    users = list(client.paginate("/users"))
    ids = [u["id"] for u in users]
    assert len(ids) == len(set(ids)) >= 250


def test_paginate_is_lenient_about_absent_cursors() -> None:
    pages = {None: {"results": [{"id": 1}], "nextCursor": "b"}, "b": {"results": [{"id": 2}]}}

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["limit"] == "100"
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    with Client(
        SECRET, "https://api.example.test/api/client", transport=httpx.MockTransport(handler)
    ) as c:
        assert [r["id"] for r in c.paginate("/users")] == [1, 2]


def test_publishable_key_is_refused_before_sending(sandbox: Sandbox) -> None:
    rec = Recording(sandbox.transport())
    with Client("pk_test_abc", "http://localhost/api/client", transport=rec, **FAST) as c:
        with pytest.raises(sf.KeyScopeError, match="POST /events"):
            c.get("/campaigns")
        with pytest.raises(sf.KeyScopeError):
            list(c.stream([Call("POST", "/users/batch", json=ITEM)]))
        assert rec.seen == []
        c.request("POST", "/events", json=[{"name": "signup", "external_id": "c1"}])
    assert len(rec.seen) == 1


@pytest.mark.parametrize("url", ["http://api.example.com/api/client", "http://10.0.0.5/api/client"])
def test_secret_key_never_goes_over_plain_http(url: str) -> None:
    with pytest.raises(sf.InsecureTransportError):
        Client(SECRET, url)


def test_plain_http_is_fine_on_loopback() -> None:
    Client(SECRET, "http://127.0.0.1:8765/api/client").close()
    Client(SECRET, "http://[::1]:8765/api/client").close()


@pytest.mark.parametrize("bad", [0, -5, float("inf"), float("nan"), True, "100"])
def test_a_bad_rate_limit_is_a_clear_configuration_error(bad: Any) -> None:
    with pytest.raises(sf.ConfigurationError, match="rate_limit must be a positive number"):
        Client(SECRET, "https://api.example.test/api/client", rate_limit=bad)


def test_missing_key_is_a_clear_configuration_error() -> None:
    with pytest.raises(sf.ConfigurationError, match="SPOTZEE_API_KEY"):
        Client()


def test_environment_supplies_key_and_base_url(
    monkeypatch: pytest.MonkeyPatch, served: Served
) -> None:
    monkeypatch.setenv("SPOTZEE_API_KEY", SECRET)
    monkeypatch.setenv("SPOTZEE_BASE_URL", served.base_url)
    with Client(**FAST) as c:  # type: ignore[arg-type]
        assert c.base_url == served.base_url
        assert c.get("/campaigns")["results"]


def test_key_never_leaks(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client, _ = recorded_client(sandbox, max_attempts=2)
    texts = [repr(client), str(client), repr(vars(client))]
    with client:
        client.get("/campaigns/1")
        sandbox.inject("503", times=5, path="/campaigns")
        for path in ("/campaigns/424242", "/campaigns"):
            try:
                client.get(path)
            except sf.SpotzeeError as exc:
                texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    texts.append(caplog.text)
    assert caplog.records, "DEBUG logging captured nothing; the check would be empty"
    for text in texts:
        assert SECRET not in text
        assert SECRET[8:] not in text


def test_works_inside_a_running_event_loop(client: Client) -> None:
    async def cell() -> int:
        # What a Jupyter cell does: call the synchronous API while a loop is running.
        return len(client.get("/campaigns")["results"])

    assert asyncio.run(cell()) > 0


def test_retry_after_parsing() -> None:
    assert _parse_retry_after("10") == 10.0
    assert _parse_retry_after("0.5") == 0.5
    assert _parse_retry_after(None) is None
    assert _parse_retry_after("soon") is None
    assert _parse_retry_after("inf") is None and _parse_retry_after("nan") is None
    assert _parse_retry_after("Mon, 99 Zzz 99999999 99:99:99 GMT") is None  # no OverflowError
    assert _parse_retry_after("-5") == 0.0
    http_date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= (_parse_retry_after(http_date) or 0) <= 31


def test_sandbox_client_needs_no_key() -> None:
    with Client.sandbox(Sandbox(faults=Faults())) as c:
        assert "sandbox" in repr(c)
        assert c.get("/journeys")["results"]


def test_stream_takes_calls_lazily_within_its_window(client: Client) -> None:
    pulled = 0

    def calls():  # type: ignore[no-untyped-def]
        nonlocal pulled
        for _ in range(40):
            pulled += 1
            yield Call("GET", "/campaigns")

    outcomes = client.stream(calls(), window=4)
    next(outcomes)
    assert pulled <= 5  # four in flight, plus the one that ended
    assert len(list(outcomes)) == 39
    assert pulled == 40


def test_leaving_a_stream_early_cancels_the_rest(sandbox: Sandbox) -> None:
    sandbox.faults.latency = 0.05
    client, rec = recorded_client(sandbox, max_concurrency=2)
    with client:
        outcomes = client.stream([Call("GET", "/campaigns") for _ in range(50)], window=4)
        next(outcomes)
        outcomes.close()
        time.sleep(0.2)
        assert len(rec.seen) <= 6


def test_a_429_without_retry_after_still_pauses_every_worker() -> None:
    state = {"limited": False}
    starts: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        starts.append(time.monotonic())
        if not state["limited"]:
            state["limited"] = True
            return problem(429, "rate_limited", "slow down")
        return httpx.Response(200, json={"ok": True})

    transport = httpx.MockTransport(handler)
    with Client(SECRET, "https://api.example.test/api/client", transport=transport, **FAST) as c:
        outcomes = dict(c.stream([Call("GET", "/campaigns") for _ in range(6)]))
    assert all(isinstance(o, sf._client.Response) for o in outcomes.values())
    # The first answer was a 429 with no Retry-After: what started after it waited ~1 s.
    assert max(starts) - starts[0] >= 0.9


def test_a_retry_after_longer_than_a_call_may_take_fails_fast_and_sends_no_more() -> None:
    starts: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        starts.append(time.monotonic())
        answer = problem(429, "rate_limited", "come back in an hour")
        answer.headers["Retry-After"] = "3600"
        return answer

    transport = httpx.MockTransport(handler)
    began = time.monotonic()
    options = {**FAST, "max_concurrency": 2}
    with Client(SECRET, "https://api.example.test/api/client", transport=transport, **options) as c:  # type: ignore[arg-type]
        outcomes = dict(c.stream([Call("GET", "/campaigns") for _ in range(20)]))
    assert time.monotonic() - began < 5
    assert all(isinstance(o, sf.RateLimitError) for o in outcomes.values())
    assert len(starts) <= 2  # only what was already on its way went out
    assert all("longer than max_retry_time" in str(o) for o in outcomes.values())


@pytest.mark.parametrize(
    ("status", "code", "retried"),
    [
        (400, "rate_limited", False),
        (422, "rate_limited", False),
        (409, "idempotency_in_progress", True),
    ],
)
def test_retries_go_by_status_first(status: int, code: str, retried: bool) -> None:
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(1)
        if len(seen) == 1:
            return problem(status, code, "no")
        return httpx.Response(200, json={"ok": True}, headers={"Spotzee-Version": API_VERSION})

    transport = httpx.MockTransport(handler)
    with Client(SECRET, "https://api.example.test/api/client", transport=transport, **FAST) as c:
        outcome = dict(
            c.stream([Call("POST", "/users/batch", content=b"[]", idempotency_key="k")])
        )[0]
    assert len(seen) == (2 if retried else 1)
    assert isinstance(outcome, sf._client.Response) == retried


def test_an_undecodable_answer_is_a_lost_answer() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=b"not gzip")

    transport = httpx.MockTransport(handler)
    options = {**FAST, "max_attempts": 3}
    with Client(SECRET, "https://api.example.test/api/client", transport=transport, **options) as c:  # type: ignore[arg-type]
        outcome = dict(c.stream([Call("GET", "/campaigns")]))[0]
    assert isinstance(outcome, sf.TransportError) and outcome.code == "invalid_response"
    assert outcome.attempts == 3  # a safe GET: retried like a lost answer


def test_timeout_then_in_progress_then_replay_applies_once(served: Served) -> None:
    # The first attempt times out while the server is still working; the retry (same key)
    # is told `idempotency_in_progress` and waits; a later one gets the replayed answer.
    served.sandbox.faults.latency = 0.6
    # Only the first request is slow: once it is under way, answers come at once.
    speed_up = threading.Timer(0.1, lambda: setattr(served.sandbox.faults, "latency", 0.0))
    options = {**FAST, "timeout": 0.3, "max_attempts": 8}
    with Client("sk_test_slow", served.base_url, **options) as c:  # type: ignore[arg-type]
        speed_up.start()
        response = c.request("POST", "/users/batch", json=ITEM, idempotency_key="slow-1")
    assert response.data["results"][0]["external_id"] == "c1"
    assert served.sandbox.write_counts["c1"] == 1
    statuses = [r.status for r in served.sandbox.requests if r.path.endswith("/users/batch")]
    assert 409 in statuses


def test_a_plain_text_404_or_405_reads_as_a_missing_route(tampered: Any) -> None:
    def edit(request: httpx.Request, response: httpx.Response, body: bytes) -> httpx.Response:
        if request.url.path.endswith("/users/batch"):
            return httpx.Response(405, text="Method Not Allowed")
        if request.url.path.endswith("/lists"):
            return httpx.Response(404, text="Not Found")
        return httpx.Response(response.status_code, headers=response.headers, content=body)

    client = tampered(edit)
    with pytest.raises(sf.APIError) as info:
        client.request("POST", "/users/batch", json=[ITEM])
    assert (info.value.method, info.value.path) == ("POST", "/users/batch")
    assert not info.value.enveloped and sf_errors.route_missing(info.value)
    with pytest.raises(sf.NotFoundError) as missing_route:
        client.get("/lists")
    assert sf_errors.route_missing(missing_route.value)
    # a 404 in the envelope is a missing resource, not a missing route
    with pytest.raises(sf.NotFoundError) as missing_thing:
        client.get("/campaigns/987654")
    assert missing_thing.value.enveloped and not sf_errors.route_missing(missing_thing.value)
