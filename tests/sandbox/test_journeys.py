"""Journeys: demo data, listing and entrances."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from spotzee_frames.sandbox import DEMO_ENTRANCES, Sandbox

from ._support import assert_problem

JOURNEY_KEYS = {
    "id",
    "project_id",
    "name",
    "description",
    "status",
    "tags",
    "stats",
    "stats_at",
    "created_at",
    "updated_at",
}


def journeys(api: httpx.Client) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = api.get("/journeys").json()["results"]
    return results


def by_status(api: httpx.Client, status: str) -> list[dict[str, Any]]:
    return [j for j in journeys(api) if j["status"] == status]


def test_demo_journeys(api: httpx.Client) -> None:
    listed = journeys(api)
    assert all(set(j) == JOURNEY_KEYS for j in listed)
    assert len(by_status(api, "live")) >= 2
    assert by_status(api, "draft") and by_status(api, "off")
    assert {j["id"] for j in listed} == set(DEMO_ENTRANCES) == set(Sandbox.DEMO_ENTRANCES)
    assert all(isinstance(j["stats"], dict) for j in listed)
    assert api.get(f"/journeys/{listed[0]['id']}").json() == listed[0]
    assert_problem(api.get("/journeys/999"), 404, "resource_missing")
    live = api.get("/journeys", params={"status": "live"}).json()["results"]
    assert {j["status"] for j in live} == {"live"}


def test_trigger_a_live_journey(api: httpx.Client, sb: Sandbox) -> None:
    journey = by_status(api, "live")[0]
    entrance = DEMO_ENTRANCES[journey["id"]][-1]
    body = {"entrance_id": entrance, "user": {"external_id": "cust_9"}, "event": {"id": "e1"}}
    response = api.post(
        f"/journeys/{journey['id']}/trigger", json=body, headers={"Idempotency-Key": "j-1"}
    )
    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert sb.journey_entrances == [
        {
            "journey_id": journey["id"],
            "entrance_id": entrance,
            "external_id": "cust_9",
            "user": {"external_id": "cust_9"},
            "event": {"id": "e1"},
            "request_id": response.headers["x-request-id"],
            "idempotency_key": "j-1",
        }
    ]
    assert sb.get_user("cust_9") is not None  # external_id alone creates the user
    after = api.get(f"/journeys/{journey['id']}").json()
    assert after["stats"]["entrance"] == journey["stats"]["entrance"] + 1
    assert after["stats_at"] is not None


def test_null_or_absent_event_is_fine(api: httpx.Client, sb: Sandbox) -> None:
    jid = by_status(api, "live")[0]["id"]
    entrance = DEMO_ENTRANCES[jid][0]
    for extra in ({}, {"event": None}):
        body = {"entrance_id": entrance, "user": {"external_id": "a"}, **extra}
        assert api.post(f"/journeys/{jid}/trigger", json=body).status_code == 200
    assert [e["event"] for e in sb.journey_entrances] == [None, None]


@pytest.mark.parametrize("status", ["draft", "off"])
def test_only_live_journeys_take_entrances(api: httpx.Client, sb: Sandbox, status: str) -> None:
    jid = by_status(api, status)[0]["id"]
    body = {"entrance_id": DEMO_ENTRANCES[jid][0], "user": {"external_id": "a"}}
    assert_problem(api.post(f"/journeys/{jid}/trigger", json=body), 409, "state_conflict")
    assert sb.journey_entrances == []


def test_unknown_journey(api: httpx.Client) -> None:
    body = {"entrance_id": 1, "user": {"external_id": "a"}}
    assert_problem(api.post("/journeys/999/trigger", json=body), 404, "resource_missing")


@pytest.mark.parametrize(
    ("change", "status", "code", "param"),
    [
        ({"entrance_id": None}, 400, "parameter_invalid_format", "entrance_id"),
        ({"entrance_id": "101"}, 400, "parameter_invalid_format", "entrance_id"),
        ({"entrance_id": 0}, 400, "parameter_invalid_format", "entrance_id"),
        ({"entrance_id": 1.5}, 400, "parameter_invalid_format", "entrance_id"),
        ({"entrance_id": True}, 400, "parameter_invalid_format", "entrance_id"),
        ({"entrance_id": 999}, 422, "validation_failed", "entrance_id"),
        ({"user": {"email": "a@example.com"}}, 400, "parameter_missing", "user.external_id"),
        (
            {"user": {"external_id": "a", "email": "x"}},
            400,
            "parameter_invalid_format",
            "user.email",
        ),
        ({"event": "signup"}, 400, "parameter_invalid_format", "event"),
        ({"users": [{"external_id": "a"}]}, 400, "parameter_unknown", "users"),
    ],
)
def test_trigger_validation(
    api: httpx.Client, sb: Sandbox, change: dict[str, Any], status: int, code: str, param: str
) -> None:
    jid = by_status(api, "live")[0]["id"]
    body = {"entrance_id": DEMO_ENTRANCES[jid][0], "user": {"external_id": "a"}, **change}
    assert_problem(api.post(f"/journeys/{jid}/trigger", json=body), status, code, param=param)
    assert sb.journey_entrances == []


def test_missing_entrance_or_user(api: httpx.Client) -> None:
    jid = by_status(api, "live")[0]["id"]
    assert_problem(
        api.post(f"/journeys/{jid}/trigger", json={"user": {"external_id": "a"}}),
        400,
        "parameter_missing",
        param="entrance_id",
    )
    assert_problem(
        api.post(f"/journeys/{jid}/trigger", json={"entrance_id": DEMO_ENTRANCES[jid][0]}),
        400,
        "parameter_missing",
        param="user",
    )


def test_entrance_of_another_journey_is_422(api: httpx.Client) -> None:
    one, two = (j["id"] for j in by_status(api, "live")[:2])
    body = {"entrance_id": DEMO_ENTRANCES[two][0], "user": {"external_id": "a"}}
    assert_problem(
        api.post(f"/journeys/{one}/trigger", json=body),
        422,
        "validation_failed",
        param="entrance_id",
    )
