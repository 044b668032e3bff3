"""Subscriptions (listing, per-user, the synchronous bulk route), lists, tags and event
aggregations, as the contract describes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from spotzee_frames.sandbox import Sandbox

from ._support import WIDE, assert_problem

T = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def test_subscriptions_are_listed_and_looked_up(api: httpx.Client) -> None:
    listed = api.get("/subscriptions", params={"limit": 2})
    body = listed.json()
    assert [s["id"] for s in body["results"]] == [1, 2] and body["nextCursor"]
    first = body["results"][0]
    assert set(first) == {
        "id",
        "project_id",
        "name",
        "channel",
        "is_public",
        "created_at",
        "updated_at",
    }
    rest = api.get("/subscriptions", params={"cursor": body["nextCursor"], "limit": 100})
    assert [s["id"] for s in rest.json()["results"]] == [3, 4, 5]
    assert api.get("/subscriptions/3").json()["channel"] == "text"
    assert_problem(api.get("/subscriptions/99"), 404, "resource_missing")
    texts = api.get("/subscriptions", params={"channel": "email"}).json()["results"]
    assert {s["id"] for s in texts} == {1, 2}


def test_bulk_changes_report_per_item_in_request_order(api: httpx.Client, sb: Sandbox) -> None:
    sb.add_users(2)
    api.post("/users/batch", json=[{"anonymous_id": "anon-9"}])
    response = api.post(
        "/subscriptions/batch",
        json=[
            {"external_id": "u1", "subscription_id": 1, "state": 0},
            {"external_id": "ghost", "subscription_id": 1, "state": 0},
            {"anonymous_id": "anon-9", "subscription_id": 3, "state": 2},
            {"external_id": "u2", "subscription_id": 99, "state": 0},
            {"external_id": "u2", "subscription_id": 1, "state": 7},
        ],
    )
    assert response.status_code == 200
    body = response.json()
    assert body["succeeded"] == 2 and body["failed"] == 3
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert results[0] == {"index": 0, "external_id": "u1", "subscription_id": 1, "state": 0}
    assert results[1]["error"]["code"] == "resource_missing"
    assert results[3]["error"]["param"] == "subscription_id"
    assert results[4]["error"]["param"] == "state"
    states = {
        r["subscription_id"]: r["state"]
        for r in api.get("/users/u1/subscriptions").json()["results"]
    }
    assert states[1] == 0 and states[2] == 1
    assert sb.subscription_writes == {("u1", 1): 1, ("anon-9", 3): 1}
    assert_problem(api.post("/subscriptions/batch", json=[]), 400, "parameter_invalid_empty")
    too_many = [{"external_id": "u1", "subscription_id": 1, "state": 1}] * 101
    assert_problem(api.post("/subscriptions/batch", json=too_many), 400, "parameter_invalid_format")


def test_lists_and_tags(api: httpx.Client) -> None:
    lists = api.get("/lists", params={"limit": 100}).json()["results"]
    assert {x["type"] for x in lists} == {"static", "dynamic"}
    assert [x["updated_at"] for x in lists] == sorted(
        (x["updated_at"] for x in lists), reverse=True
    )
    assert api.get("/lists/2").json()["name"] == "Enterprise customers"
    assert_problem(api.get("/lists/77"), 404, "resource_missing")
    assert api.get("/lists", params={"type": "static"}).json()["results"][0]["type"] == "static"
    tags = api.get("/tags", params={"limit": 3}).json()
    assert len(tags["results"]) == 3 and tags["nextCursor"]


def test_event_aggregations_group_and_count(api: httpx.Client, sb: Sandbox) -> None:
    sb.add_events(name="order_placed", external_id="a", created_at=T, count=3)
    sb.add_events(name="order_placed", external_id="b", created_at=T + timedelta(days=1))
    sb.add_events(name="page_viewed", anonymous_id="x", created_at=T)
    by_name = api.get("/events/aggregations", params={**WIDE, "group_by": "event_name"}).json()
    rows = {r["event_name"]: r for r in by_name["results"]}
    assert rows["order_placed"]["count"] == 4 and rows["order_placed"]["unique_user_count"] == 2
    assert rows["order_placed"]["first_seen_at"] == "2026-05-01T12:00:00.000Z"
    assert rows["order_placed"]["last_seen_at"] == "2026-05-02T12:00:00.000Z"
    both = api.get(
        "/events/aggregations",
        params=[*WIDE.items(), ("group_by", "event_name"), ("group_by", "day")],
    ).json()["results"]
    assert {(r["event_name"], r["day"], r["count"]) for r in both} == {
        ("order_placed", "2026-05-01", 3),
        ("order_placed", "2026-05-02", 1),
        ("page_viewed", "2026-05-01", 1),
    }
    users = api.get("/events/aggregations", params={**WIDE, "group_by": "user"}).json()
    assert {r["user"]["external_id"] for r in users["results"]} == {"a", "b", None}
    assert_problem(
        api.get("/events/aggregations", params={**WIDE, "group_by": "week"}),
        400,
        "parameter_invalid_format",
        param="group_by",
    )
    assert_problem(api.get("/events/aggregations"), 400, "parameter_missing", param="from")
