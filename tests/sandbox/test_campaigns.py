"""Campaigns: demo data, listing, state changes and triggers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from spotzee_frames.sandbox import Sandbox

from ._support import TIMESTAMP, WIDE, assert_problem

CAMPAIGN_KEYS = {
    "id",
    "project_id",
    "type",
    "name",
    "channel",
    "state",
    "list_ids",
    "exclusion_list_ids",
    "subscription_id",
    "provider_id",
    "delivery",
    "tags",
    "send_in_user_timezone",
    "send_at",
    "description",
    "created_at",
    "updated_at",
}
STATES = {"draft", "scheduled", "loading", "running", "finished", "aborting", "aborted"}
RUNNING_TRIGGER, SCHEDULED_TRIGGER, DRAFT_TRIGGER, FINISHED_BLAST = 1, 4, 5, 6
TRIGGER = {"user": {"external_id": "cust_1"}, "event": {"order_id": "A-1"}}


def all_campaigns(api: httpx.Client) -> list[dict[str, Any]]:
    campaigns: list[dict[str, Any]] = api.get("/campaigns", params={"limit": 100}).json()["results"]
    return campaigns


def test_demo_campaigns_cover_the_contract(api: httpx.Client) -> None:
    campaigns = all_campaigns(api)
    assert len(campaigns) >= 12
    assert sorted(c["id"] for c in campaigns) == list(range(1, len(campaigns) + 1))
    assert all(set(c) == CAMPAIGN_KEYS for c in campaigns)
    assert {c["type"] for c in campaigns} == {"blast", "trigger"}
    assert {c["channel"] for c in campaigns} == {"email", "text", "push", "webhook", "in_app"}
    assert {c["state"] for c in campaigns} == STATES
    kinds = {(c["type"], c["state"]) for c in campaigns}
    assert {("trigger", "running"), ("trigger", "scheduled"), ("trigger", "draft")} <= kinds
    for c in campaigns:
        assert set(c["delivery"]) == {"sent", "total", "opens", "clicks", "bounced"}
        assert c["delivery"]["sent"] <= c["delivery"]["total"]
        assert TIMESTAMP.fullmatch(c["created_at"]) and TIMESTAMP.fullmatch(c["updated_at"])
        assert isinstance(c["tags"], list) and isinstance(c["list_ids"], list)
    finished = next(c for c in campaigns if c["state"] == "finished")
    assert finished["delivery"]["sent"] > 0 and finished["send_at"] is not None


def test_demo_data_is_stable(api: httpx.Client) -> None:
    assert all_campaigns(api) == all_campaigns_of(Sandbox())


def all_campaigns_of(sb: Sandbox) -> list[dict[str, Any]]:
    with httpx.Client(
        transport=sb.sync_transport(),
        base_url="http://x/api/client",
        headers={"Authorization": "Bearer sk_a", "Spotzee-Version": "2026-04-28"},
    ) as client:
        return all_campaigns(client)


def test_no_demo(bare: httpx.Client) -> None:
    sb = Sandbox(demo=False)
    assert all_campaigns_of(sb) == []
    assert sb.journeys == {}


def test_get_campaign(api: httpx.Client) -> None:
    campaign = api.get("/campaigns/1").json()
    assert campaign["id"] == 1 and set(campaign) == CAMPAIGN_KEYS
    assert_problem(api.get("/campaigns/999"), 404, "resource_missing")


def test_filters(api: httpx.Client) -> None:
    running = api.get("/campaigns", params=[("state", "running"), ("state", "draft")]).json()
    assert {c["state"] for c in running["results"]} == {"running", "draft"}
    triggers = api.get("/campaigns", params={"type": "trigger", "channel": "email"}).json()
    assert triggers["results"]
    assert all(c["type"] == "trigger" and c["channel"] == "email" for c in triggers["results"])
    assert_problem(
        api.get("/campaigns", params={"state": "paused"}),
        400,
        "parameter_invalid_format",
        param="state",
    )


def test_promote_a_draft_then_trigger(api: httpx.Client, sb: Sandbox) -> None:
    assert_problem(
        api.post(f"/campaigns/{DRAFT_TRIGGER}/trigger", json=TRIGGER), 409, "state_conflict"
    )
    response = api.patch(f"/campaigns/{DRAFT_TRIGGER}", json={"state": "scheduled"})
    assert response.status_code == 200
    assert response.json()["state"] == "scheduled"
    assert sb.campaigns[DRAFT_TRIGGER]["state"] == "scheduled"
    assert api.post(f"/campaigns/{DRAFT_TRIGGER}/trigger", json=TRIGGER).json() == {"success": True}


@pytest.mark.parametrize(
    ("cid", "state"),
    [(FINISHED_BLAST, "scheduled"), (DRAFT_TRIGGER, "running"), (RUNNING_TRIGGER, "draft")],
)
def test_invalid_transitions(api: httpx.Client, cid: int, state: str) -> None:
    before = api.get(f"/campaigns/{cid}").json()["state"]
    assert_problem(api.patch(f"/campaigns/{cid}", json={"state": state}), 409, "state_conflict")
    assert api.get(f"/campaigns/{cid}").json()["state"] == before


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"type": "blast"}, "parameter_unknown", "type"),
        ({"status": "scheduled"}, "parameter_unknown", "status"),
        ({"state": "paused"}, "parameter_invalid_format", "state"),
        ({"tags": "a,b"}, "parameter_invalid_format", "tags"),
        ({"send_at": "tomorrow"}, "parameter_invalid_format", "send_at"),
    ],
)
def test_patch_validation(api: httpx.Client, body: dict[str, Any], code: str, param: str) -> None:
    assert_problem(api.patch("/campaigns/1", json=body), 400, code, param=param)


def test_patch_other_fields(api: httpx.Client) -> None:
    response = api.patch(
        "/campaigns/5",
        json={"name": "Win-back v2", "tags": ["x"], "send_at": "2026-12-01T09:00:00+10:00"},
    )
    body = response.json()
    assert (body["name"], body["tags"], body["send_at"]) == (
        "Win-back v2",
        ["x"],
        "2026-11-30T23:00:00.000Z",
    )


def test_trigger_records_the_send(api: httpx.Client, sb: Sandbox) -> None:
    before = api.get(f"/campaigns/{RUNNING_TRIGGER}").json()["delivery"]
    body = {
        "user": {
            "external_id": "cust_1",
            "email": "ann@example.com",
            "phone": "+61 2 9374 4000",
            "timezone": "Australia/Sydney",
            "locale": "en-AU",
            "first_name": "Ann",
            "device_token": "tok_1",
        },
        "event": {"order_id": "A-1", "total": 42.5},
    }
    response = api.post(
        f"/campaigns/{RUNNING_TRIGGER}/trigger", json=body, headers={"Idempotency-Key": "t-1"}
    )
    assert response.status_code == 200
    assert response.json() == {"success": True}
    [send] = sb.campaign_sends
    assert send == {
        "campaign_id": RUNNING_TRIGGER,
        "external_id": "cust_1",
        "user": body["user"],
        "event": body["event"],
        "request_id": response.headers["x-request-id"],
        "idempotency_key": "t-1",
    }
    user = sb.get_user("cust_1")
    assert user is not None
    assert (user["email"], user["phone"], user["timezone"], user["locale"]) == (
        "ann@example.com",
        "+61293744000",
        "Australia/Sydney",
        "en-AU",
    )
    assert user["data"] == {"first_name": "Ann"}
    assert user["has_push_device"] is True and user["devices"][0]["token"] == "tok_1"
    after = api.get(f"/campaigns/{RUNNING_TRIGGER}").json()["delivery"]
    assert (after["sent"], after["total"]) == (before["sent"] + 1, before["total"] + 1)
    events = api.get(
        "/events", params={**WIDE, "campaign_id": RUNNING_TRIGGER, "include_payload": "true"}
    ).json()["results"]
    assert [e["name"] for e in events] == ["campaign.sent", "delivery.delivered"]
    assert all(e["user"]["external_id"] == "cust_1" for e in events)
    assert events[0]["data"]["event"] == body["event"]


def test_trigger_scheduled_campaign(api: httpx.Client, sb: Sandbox) -> None:
    assert api.post(f"/campaigns/{SCHEDULED_TRIGGER}/trigger", json=TRIGGER).status_code == 200
    assert sb.campaign_sends[0]["campaign_id"] == SCHEDULED_TRIGGER


def test_trigger_sends_again_without_a_key(api: httpx.Client, sb: Sandbox) -> None:
    for _ in range(2):
        assert api.post(f"/campaigns/{RUNNING_TRIGGER}/trigger", json=TRIGGER).status_code == 200
    assert len(sb.campaign_sends) == 2
    assert sb.campaign_sends[0]["request_id"] != sb.campaign_sends[1]["request_id"]


def test_trigger_refusals_by_state(api: httpx.Client, sb: Sandbox) -> None:
    assert_problem(api.post("/campaigns/999/trigger", json=TRIGGER), 404, "resource_missing")
    for campaign in sb.campaigns.values():
        if campaign["type"] == "blast" or campaign["state"] in (
            "draft",
            "aborting",
            "aborted",
            "finished",
        ):
            response = api.post(f"/campaigns/{campaign['id']}/trigger", json=TRIGGER)
            assert_problem(response, 409, "state_conflict")
    assert sb.campaign_sends == []


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"user": {"external_id": "a"}}, 400, "parameter_missing", "event"),
        ({"user": {"external_id": "a"}, "event": None}, 400, "parameter_invalid_format", "event"),
        ({"user": {"external_id": "a"}, "event": []}, 400, "parameter_invalid_format", "event"),
        ({"event": {}}, 400, "parameter_missing", "user"),
        ({"user": "a", "event": {}}, 400, "parameter_invalid_format", "user"),
        (
            {"user": {"email": "a@example.com"}, "event": {}},
            400,
            "parameter_missing",
            "user.external_id",
        ),
        (
            {"user": {"external_id": 7}, "event": {}},
            400,
            "parameter_invalid_format",
            "user.external_id",
        ),
        (
            {"user": {"external_id": ""}, "event": {}},
            400,
            "parameter_invalid_empty",
            "user.external_id",
        ),
        (
            {"user": {"external_id": "a", "email": "nope"}, "event": {}},
            400,
            "parameter_invalid_format",
            "user.email",
        ),
        (
            {"user": {"external_id": "a", "phone": "0412 345 678"}, "event": {}},
            400,
            "parameter_invalid_format",
            "user.phone",
        ),
        (
            {"user": {"external_id": "a", "timezone": "Sydney"}, "event": {}},
            422,
            "validation_failed",
            "user.timezone",
        ),
        (
            {"user": {"external_id": "a", "locale": "en_AU"}, "event": {}},
            400,
            "parameter_invalid_format",
            "user.locale",
        ),
        ({"users": [{"external_id": "a"}], "event": {}}, 400, "parameter_unknown", "users"),
        ([{"user": {"external_id": "a"}, "event": {}}], 400, "parameter_invalid_format", None),
    ],
)
def test_trigger_validation(
    api: httpx.Client, sb: Sandbox, body: Any, status: int, code: str, param: str | None
) -> None:
    response = api.post(f"/campaigns/{RUNNING_TRIGGER}/trigger", json=body)
    assert_problem(response, status, code, param=param)
    assert sb.campaign_sends == []
    assert sb.users == {}


def test_empty_event_is_fine(api: httpx.Client, sb: Sandbox) -> None:
    response = api.post(
        f"/campaigns/{RUNNING_TRIGGER}/trigger", json={"user": {"external_id": "a"}, "event": {}}
    )
    assert response.status_code == 200
    assert sb.campaign_sends[0]["event"] == {}
