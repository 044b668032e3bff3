"""Idempotency-Key: replay, mismatch, in progress, what is cached, scope, TTL, drops."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from spotzee_frames.sandbox import Faults, Sandbox

from ._support import HEADERS, assert_problem

ITEMS = [{"external_id": "a", "email": "a@example.com"}, {"external_id": "b", "email": "bad"}]
TRIGGER = {"user": {"external_id": "cust_1"}, "event": {"order": 1}}


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


def test_same_key_and_body_replays(api: httpx.Client, sb: Sandbox) -> None:
    first = api.post("/users/batch", json=ITEMS, headers=key("k1"))
    second = api.post("/users/batch", json=ITEMS, headers=key("k1"))
    assert first.status_code == second.status_code == 200
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert second.content == first.content
    assert second.headers["x-request-id"] == first.headers["x-request-id"]
    assert second.headers["spotzee-version"] == first.headers["spotzee-version"]
    assert sb.write_counts["a"] == 1
    assert [r.replayed for r in sb.requests] == [False, True]
    assert sb.requests[1].request_id == first.headers["x-request-id"]
    assert sb.stats["replays"] == 1


def test_same_key_other_body_is_409_mismatch(api: httpx.Client, sb: Sandbox) -> None:
    api.post("/users/batch", json=ITEMS, headers=key("k1"))
    response = api.post("/users/batch", json=ITEMS[:1], headers=key("k1"))
    assert_problem(response, 409, "idempotency_key_mismatch")
    other_path = api.patch("/users", json=ITEMS, headers=key("k1"))
    assert_problem(other_path, 409, "idempotency_key_mismatch")
    assert sb.write_counts["a"] == 1


def test_keys_are_scoped_per_api_key(api: httpx.Client, sb: Sandbox) -> None:
    api.post("/users/batch", json=ITEMS, headers=key("k1"))
    other = {**HEADERS, "Authorization": "Bearer sk_other_project_key", **key("k1")}
    response = api.post("/users/batch", json=ITEMS, headers=other)
    assert response.status_code == 200
    assert "idempotent-replayed" not in response.headers
    assert sb.write_counts["a"] == 2


def test_without_a_key_nothing_is_deduplicated(api: httpx.Client, sb: Sandbox) -> None:
    for _ in range(3):
        assert api.post("/campaigns/1/trigger", json=TRIGGER).status_code == 200
    assert len(sb.campaign_sends) == 3


def test_trigger_with_key_sends_once(api: httpx.Client, sb: Sandbox) -> None:
    responses = [
        api.post("/campaigns/1/trigger", json=TRIGGER, headers=key("t1")) for _ in range(3)
    ]
    assert [r.json() for r in responses] == [{"success": True}] * 3
    assert len(sb.campaign_sends) == 1
    assert sb.campaign_sends[0]["idempotency_key"] == "t1"
    assert sb.campaign_sends[0]["request_id"] == responses[0].headers["x-request-id"]


def test_4xx_answers_are_cached(api: httpx.Client, sb: Sandbox) -> None:
    draft = api.post("/campaigns/5/trigger", json=TRIGGER, headers=key("d1"))
    assert_problem(draft, 409, "state_conflict")
    assert api.patch("/campaigns/5", json={"state": "scheduled"}).status_code == 200
    again = api.post("/campaigns/5/trigger", json=TRIGGER, headers=key("d1"))
    assert again.status_code == 409
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["request_id"] == draft.json()["request_id"]
    fresh = api.post("/campaigns/5/trigger", json=TRIGGER, headers=key("d2"))
    assert fresh.status_code == 200
    assert len(sb.campaign_sends) == 1


@pytest.mark.parametrize(("kind", "status"), [("503", 503), ("500", 500), ("429", 429)])
def test_5xx_and_429_are_not_cached(api: httpx.Client, sb: Sandbox, kind: str, status: int) -> None:
    sb.inject(kind)
    failed = api.post("/users/batch", json=ITEMS, headers=key("k1"))
    assert failed.status_code == status
    assert sb.users == {}
    retried = api.post("/users/batch", json=ITEMS, headers=key("k1"))
    assert retried.status_code == 200
    assert "idempotent-replayed" not in retried.headers
    assert sb.write_counts["a"] == 1


@pytest.mark.parametrize("value", ["", "x" * 256])
def test_invalid_key_is_400(api: httpx.Client, sb: Sandbox, value: str) -> None:
    response = api.post("/users/batch", json=ITEMS, headers=key(value))
    assert_problem(response, 400, "idempotency_key_invalid")
    assert sb.users == {}


def test_longest_key_is_fine(api: httpx.Client) -> None:
    assert api.post("/users/batch", json=ITEMS, headers=key("x" * 255)).status_code == 200


def test_key_is_ignored_on_get_and_delete(api: httpx.Client, sb: Sandbox) -> None:
    first = api.get("/campaigns", headers=key("g1"))
    second = api.get("/campaigns", params={"limit": 1}, headers=key("g1"))
    assert second.status_code == 200 and "idempotent-replayed" not in second.headers
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert api.get("/campaigns", headers=key("")).status_code == 200
    api.post("/users/batch", json=ITEMS)
    assert api.delete("/users", params={"user_id": "a"}, headers=key("k")).status_code == 204
    assert api.delete("/users", params={"user_id": "zz"}, headers=key("k")).status_code == 204


def test_cached_answers_expire_after_24_hours(api: httpx.Client, sb: Sandbox) -> None:
    now = [1000.0]
    sb._app.clock = lambda: now[0]
    api.post("/users/batch", json=ITEMS, headers=key("k1"))
    now[0] += 24 * 3600 - 1
    assert (
        api.post("/users/batch", json=ITEMS, headers=key("k1")).headers.get("idempotent-replayed")
        == "true"
    )
    now[0] += 2
    late = api.post("/users/batch", json=ITEMS, headers=key("k1"))
    assert "idempotent-replayed" not in late.headers
    assert sb.write_counts["a"] == 2


def test_drop_commits_then_the_retry_replays(api: httpx.Client, sb: Sandbox) -> None:
    sb.inject("drop", path="/users/batch")
    with pytest.raises(httpx.ReadError):
        api.post("/users/batch", json=ITEMS, headers=key("k1"))
    assert sb.write_counts["a"] == 1
    assert sb.requests[-1].fault == "drop"
    retried = api.post("/users/batch", json=ITEMS, headers=key("k1"))
    assert retried.status_code == 200
    assert retried.headers["idempotent-replayed"] == "true"
    assert retried.headers["x-request-id"] == sb.requests[0].request_id
    assert retried.json()["succeeded"] == 1
    assert sb.write_counts["a"] == 1
    assert sb.stats["drops"] == 1


def test_drop_without_a_key_applies_twice_on_retry(api: httpx.Client, sb: Sandbox) -> None:
    sb.inject("drop")
    with pytest.raises(httpx.ReadError):
        api.post("/campaigns/1/trigger", json=TRIGGER)
    assert api.post("/campaigns/1/trigger", json=TRIGGER).status_code == 200
    assert len(sb.campaign_sends) == 2


def test_in_progress_over_a_socket() -> None:
    sb = Sandbox(Faults(latency=0.4))
    with sb.serve() as server:

        async def race() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
            async with httpx.AsyncClient(base_url=server.base_url, headers=HEADERS) as client:

                async def send(delay: float) -> httpx.Response:
                    await asyncio.sleep(delay)
                    return await client.post("/users/batch", json=ITEMS, headers=key("k1"))

                first, second = await asyncio.gather(send(0), send(0.1))
                third = await send(0)
                return first, second, third

        first, second, third = asyncio.run(race())
    assert first.status_code == 200
    assert_problem(second, 409, "idempotency_in_progress")
    assert int(second.headers["retry-after"]) >= 1
    assert third.headers["idempotent-replayed"] == "true"
    assert third.content == first.content
    assert sb.write_counts["a"] == 1
    assert sb.stats["in_progress"] == 1


def test_in_progress_is_not_cached(api: httpx.Client, sb: Sandbox) -> None:
    """A 409 in progress must not become the cached answer of the key."""
    sb.faults.latency = 0.3

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            transport=sb.transport(), base_url="http://sb/api/client", headers=HEADERS
        ) as client:

            async def send(delay: float) -> httpx.Response:
                await asyncio.sleep(delay)
                return await client.post("/users/batch", json=ITEMS, headers=key("k1"))

            return list(await asyncio.gather(send(0), send(0.05)))

    first, second = asyncio.run(race())
    assert (first.status_code, second.status_code) == (200, 409)
    sb.faults.latency = 0
    assert api.post("/users/batch", json=ITEMS, headers=key("k1")).content == first.content
