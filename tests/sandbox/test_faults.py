"""Scripted and random faults, latency and rate limits."""

from __future__ import annotations

import time

import httpx
import pytest

from spotzee_frames.sandbox import FAULT_KINDS, Faults, Sandbox

from ._support import BASE_URL, HEADERS, assert_problem

ITEMS = [{"external_id": "a"}]


def test_scripted_503_does_nothing(api: httpx.Client, sb: Sandbox) -> None:
    sb.inject("503")
    response = api.post("/users/batch", json=ITEMS)
    assert_problem(response, 503, "service_unavailable")
    assert sb.users == {}
    assert sb.requests[-1].fault == "503"
    assert api.post("/users/batch", json=ITEMS).status_code == 200
    assert sb.stats["failures"] == 1


def test_scripted_500(api: httpx.Client, sb: Sandbox) -> None:
    sb.inject("500")
    assert_problem(
        api.post("/campaigns/1/trigger", json={"user": {"external_id": "a"}, "event": {}}),
        500,
        "internal_error",
    )
    assert sb.campaign_sends == []


def test_scripted_429(api: httpx.Client, sb: Sandbox) -> None:
    sb.faults.retry_after = 7
    sb.inject("429")
    response = api.post("/users/batch", json=ITEMS)
    assert_problem(response, 429, "rate_limited")
    assert response.headers["retry-after"] == "7"
    assert sb.users == {}


def test_html_502(api: httpx.Client, sb: Sandbox) -> None:
    sb.inject("html502")
    response = api.post("/users/batch", json=ITEMS)
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "502 Bad Gateway" in response.text
    assert sb.users == {}


def test_plain_404(api: httpx.Client, sb: Sandbox) -> None:
    sb.inject("plain404")
    response = api.get("/campaigns")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "404 Not Found"


def test_times_method_and_path(api: httpx.Client, sb: Sandbox) -> None:
    sb.inject("503", times=2, method="post", path="/users")
    assert api.get("/campaigns").status_code == 200  # another method
    assert (
        api.post(
            "/campaigns/1/trigger", json={"user": {"external_id": "a"}, "event": {}}
        ).status_code
        == 200
    )
    assert api.post("/users/batch", json=ITEMS).status_code == 503  # prefix match
    assert api.patch("/users", json=ITEMS).status_code == 204  # PATCH is not POST
    assert api.post("/users/batch", json=ITEMS).status_code == 503
    assert api.post("/users/batch", json=ITEMS).status_code == 200


def test_scripted_faults_are_consumed_in_order(api: httpx.Client, sb: Sandbox) -> None:
    sb.inject("drop")
    sb.inject("503")
    sb.inject("html502")
    with pytest.raises(httpx.ReadError):
        api.get("/campaigns")
    assert api.get("/campaigns").status_code == 503
    assert api.get("/campaigns").status_code == 502
    assert api.get("/campaigns").status_code == 200
    assert [r.fault for r in sb.requests] == ["drop", "503", "html502", None]


def test_unknown_fault_kind() -> None:
    sb = Sandbox()
    with pytest.raises(ValueError, match="503"):
        sb.inject("timeout")
    with pytest.raises(ValueError):
        sb.inject("503", times=0)
    assert set(FAULT_KINDS) == {"503", "500", "429", "drop", "html502", "plain404"}


def _statuses(sb: Sandbox, n: int) -> list[int | str]:
    out: list[int | str] = []
    with httpx.Client(transport=sb.sync_transport(), base_url=BASE_URL, headers=HEADERS) as c:
        for _ in range(n):
            try:
                out.append(c.get("/campaigns", params={"limit": 1}).status_code)
            except httpx.ReadError:
                out.append("drop")
    return out


def test_random_faults_are_reproducible() -> None:
    faults = {"failure_rate": 0.3, "drop_rate": 0.2, "seed": 7}
    first = _statuses(Sandbox(Faults(**faults)), 200)  # type: ignore[arg-type]
    second = _statuses(Sandbox(Faults(**faults)), 200)  # type: ignore[arg-type]
    assert first == second
    assert 30 < first.count(503) < 90
    assert 15 < first.count("drop") < 70
    other = _statuses(Sandbox(Faults(failure_rate=0.3, drop_rate=0.2, seed=8)), 200)
    assert other != first


def test_faults_can_change_mid_run(api: httpx.Client, sb: Sandbox) -> None:
    sb.faults.failure_rate = 1.0
    assert api.get("/campaigns").status_code == 503
    sb.faults.failure_rate = 0.0
    assert api.get("/campaigns").status_code == 200
    sb.faults = Faults(drop_rate=1.0)
    with pytest.raises(httpx.ReadError):
        api.post("/users/batch", json=ITEMS)
    assert sb.write_counts["a"] == 1


def test_latency(api: httpx.Client, sb: Sandbox) -> None:
    sb.faults.latency = 0.15
    started = time.perf_counter()
    assert api.get("/campaigns").status_code == 200
    assert time.perf_counter() - started >= 0.15


def test_item_cost_is_cpu_work_per_item(api: httpx.Client, sb: Sandbox) -> None:
    sb.faults.item_cost = 0.004
    spent = time.thread_time()  # in process, the work runs on this thread
    assert api.post("/users/batch", json=[{"external_id": f"w{k}"} for k in range(5)]).is_success
    assert time.thread_time() - spent >= 5 * 0.004
    spent = time.thread_time()
    assert api.get("/campaigns/1").status_code == 200  # one item of work
    assert time.thread_time() - spent >= 0.004


def test_token_bucket_over_a_socket() -> None:
    sb = Sandbox(Faults(rate_limit=2, retry_after=3))
    with sb.serve() as server, httpx.Client(base_url=server.base_url, headers=HEADERS) as client:
        assert client.post("/users/batch", json=ITEMS).status_code == 200
        limited = client.post("/users/batch", json=[{"external_id": "b"}])
        assert_problem(limited, 429, "rate_limited")
        assert limited.headers["retry-after"] == "3"
        assert "b" not in sb.users
        time.sleep(0.55)  # one token back at 2/s
        assert client.post("/users/batch", json=[{"external_id": "b"}]).status_code == 200
    assert sb.stats["rate_limited"] == 1
    assert [r.fault for r in sb.requests] == [None, "rate_limited", None]


def test_token_bucket_burst_is_a_tenth_of_the_rate(api: httpx.Client, sb: Sandbox) -> None:
    now = [50.0]
    sb._app.clock = lambda: now[0]
    sb.faults.rate_limit = 100
    codes = [api.get("/campaigns").status_code for _ in range(12)]
    assert codes == [200] * 10 + [429] * 2
    now[0] += 0.0501  # five tokens (and a hair, for float rounding)
    codes = [api.get("/campaigns").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]


def test_edge_limits_by_default(api: httpx.Client, sb: Sandbox) -> None:
    now = [100.0]
    sb._app.clock = lambda: now[0]
    for _ in range(1000):
        response = api.get("/campaigns", params={"limit": 1})
    assert response.status_code == 200
    limited = api.get("/campaigns")
    assert_problem(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) == 10
    now[0] += 10.0
    assert api.get("/campaigns").status_code == 200
    assert sb.stats["rate_limited"] == 1


def test_rate_limits_are_per_client_ip(sb: Sandbox) -> None:
    sb.faults.rate_limit = 1
    one = httpx.Client(
        transport=sb.sync_transport(client="10.0.0.1"), base_url=BASE_URL, headers=HEADERS
    )
    two = httpx.Client(
        transport=sb.sync_transport(client="10.0.0.2"), base_url=BASE_URL, headers=HEADERS
    )
    with one, two:
        assert one.get("/campaigns").status_code == 200
        assert one.get("/campaigns").status_code == 429
        assert two.get("/campaigns").status_code == 200


def test_stats_keys(sb: Sandbox) -> None:
    assert set(sb.stats) >= {"requests", "rate_limited", "failures", "drops", "replays"}
    assert all(value == 0 for value in sb.stats.values())
