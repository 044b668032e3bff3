"""Pace and in-flight requests as the server sees them: more in flight when the server is
far away, fewer when it answers 503, one budget for every client of a host, no burst
after a stalled loop, and keep-alive connections in small pools."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from spotzee_frames import Client
from spotzee_frames._client import Call, Response, _ShardedTransport
from spotzee_frames._pacing import host_limiter, set_process_budget
from spotzee_frames.sandbox import Sandbox

from .conftest import FAST

SECRET = "sk_test_pace"


@dataclass
class Concurrency(httpx.AsyncBaseTransport):
    """Wraps the sandbox's transport and notes how many requests were under way when each
    one started (what the server had in flight)."""

    inner: httpx.AsyncBaseTransport
    at_start: list[int] = field(default_factory=list)
    now: int = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.now += 1
        self.at_start.append(self.now)
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.now -= 1


def paced_client(sb: Sandbox, **options: object) -> tuple[Client, Concurrency]:
    seen = Concurrency(sb.transport())
    settings = {**FAST, "rate_limit": 100.0, "max_attempts": 12, **options}
    client = Client(SECRET, "http://localhost/api/client", transport=seen, **settings)  # type: ignore[arg-type]
    return client, seen


def gets(n: int) -> list[Call]:
    return [Call("GET", "/campaigns/1") for _ in range(n)]


def test_more_requests_are_in_flight_when_the_server_is_far_away(sandbox: Sandbox) -> None:
    near, near_seen = paced_client(sandbox)
    with near:
        assert all(isinstance(o, Response) for _, o in near.stream(gets(60)))
    sandbox.faults.latency = 0.25
    far, far_seen = paced_client(sandbox)
    with far:
        assert all(isinstance(o, Response) for _, o in far.stream(gets(100)))
    # 100/s x 0.25 s needs 25 in flight; a fixed 8 would cap the pace at 32/s.
    assert max(far_seen.at_start) >= 20
    assert max(near_seen.at_start) <= 8


def test_fewer_requests_are_in_flight_while_the_server_answers_503(sandbox: Sandbox) -> None:
    sandbox.faults.latency = 0.1
    client, seen = paced_client(sandbox)
    with client:
        assert all(isinstance(o, Response) for _, o in client.stream(gets(60)))
        healthy = max(seen.at_start)
        seen.at_start.clear()
        sandbox.faults.failure_rate = 0.5  # half the requests: 503, before any work
        outcomes = dict(client.stream(gets(30)))
    assert all(isinstance(o, Response) for o in outcomes.values())  # retried through
    assert healthy >= 10
    assert sandbox.stats["failures"] >= 10
    # Once the 503s have been seen, the server is met with at most half as many.
    assert max(seen.at_start[-20:]) <= healthy // 2


@pytest.fixture
def budget_of_400() -> Iterator[None]:
    previous = set_process_budget(400)
    yield
    set_process_budget(previous)


def test_clients_of_one_server_share_its_budget(budget_of_400: None) -> None:
    # The server refuses more than 400/s from this address (bursts of 40); each client
    # alone may go at 400/s: only together, sharing the process's budget, do they fit.
    sb = Sandbox()
    sb.faults.rate_limit = 400
    one, two = (Client.sandbox(sb, **{**FAST, "rate_limit": 400.0}) for _ in range(2))
    with one, two, concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(lambda c=c: dict(c.stream(gets(300)))) for c in (one, two)]
        outcomes = [run.result() for run in runs]
    assert all(isinstance(o, Response) for run in outcomes for o in run.values())
    assert sb.stats["rate_limited"] == 0
    assert sb.stats["requests"] == 600


def test_clients_of_two_servers_have_a_budget_each(budget_of_400: None) -> None:
    first, second = Sandbox(), Sandbox()
    one = Client.sandbox(first, **{**FAST, "rate_limit": 400.0})
    two = Client.sandbox(second, **{**FAST, "rate_limit": 400.0})
    with one, two:
        for client in (one, two, one):
            for _ in client.stream(gets(100)):
                pass
    # Each server's budget counted its own client's starts, and only those.
    assert len(host_limiter(first.transport().budget_key).starts()) == 200
    assert len(host_limiter(second.transport().budget_key).starts()) == 100
    assert first.stats["requests"] == 200 and second.stats["requests"] == 100


def test_a_stalled_loop_releases_no_burst_the_server_refuses(sandbox: Sandbox) -> None:
    # 100/s in bursts of at most 10: a client that caught up on a stall all at once, or
    # went over 100 in a second, would be told 429.
    sandbox.faults.rate_limit = 100
    client, _ = paced_client(sandbox, max_attempts=1)
    with client:
        outcomes = []
        for position, outcome in client.stream(gets(200)):
            outcomes.append(outcome)
            if position in (70, 140):  # the client's loop blocks for half a second
                client._loop().loop.call_soon_threadsafe(time.sleep, 0.5)
    assert all(isinstance(o, Response) for o in outcomes)
    assert sandbox.stats["rate_limited"] == 0
    assert client.stats["requests"] == 200


def test_connections_are_kept_alive_in_pools_of_16() -> None:
    sb = Sandbox()
    sb.faults.latency = 0.2
    headers = {"Authorization": f"Bearer {SECRET}", "Spotzee-Version": "2026-04-28"}

    async def twice(base_url: str) -> tuple[list[int], list[int]]:
        transport = _ShardedTransport(256)
        async with httpx.AsyncClient(
            transport=transport, base_url=base_url + "/", headers=headers
        ) as http:
            sizes = []
            for _ in range(2):  # 40 at once, then 40 more on the same connections
                answers = await asyncio.gather(*(http.get("campaigns/1") for _ in range(40)))
                assert {a.status_code for a in answers} == {200}
                sizes.append([len(pool._pool.connections) for pool in transport._pools])
            return sizes[0], sizes[1]

    with sb.serve() as server:
        first, second = asyncio.run(twice(server.base_url))
    assert first == second  # no new connection for the second round
    assert sum(first) == 40 and max(first) <= 16 and len(first) == 3
