"""The Parcelvoy profile: the sandbox answers as a self-hosted Parcelvoy (its `main`
branch, run locally per shared/parcelvoy/RECIPE.md) does, where that differs from the
contract; raw HTTP, no toolkit."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from spotzee_frames.sandbox import PROFILES, Sandbox

from ._support import BASE_URL, HEADERS, VERSION

KEY = "sk_test_parcelvoy"
AUTH = {"Authorization": f"Bearer {KEY}"}  # Parcelvoy clients send no Spotzee-Version


@pytest.fixture
def pv() -> Sandbox:
    return Sandbox(profile="parcelvoy", api_keys=[KEY, "pk_test_parcelvoy"])


@pytest.fixture
def api(pv: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(transport=pv.sync_transport(), base_url=BASE_URL, headers=AUTH) as c:
        yield c


def _plain(response: httpx.Response, status: int, text: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == text


def _parcelvoy_error(response: httpx.Response, status: int) -> dict[str, object]:
    """Parcelvoy's envelope: status "error", the message in `error`, at most a numeric code."""
    assert response.status_code == status, response.text
    body: dict[str, object] = response.json()
    assert body["status"] == "error" and isinstance(body["error"], str) and body["error"]
    assert set(body) <= {"status", "error", "code"}
    assert "code" not in body or isinstance(body["code"], int)
    return body


def test_the_profiles() -> None:
    assert PROFILES == ("spotzee", "parcelvoy")
    assert Sandbox().profile == "spotzee"
    assert "profile=parcelvoy" in repr(Sandbox(profile="parcelvoy"))
    with pytest.raises(ValueError, match="spotzee, parcelvoy"):
        Sandbox(profile="mailchimp")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list of keys"):
        Sandbox(api_keys="sk_test_one")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/users/batch", "HEAD, GET, DELETE"),
        ("POST", "/subscriptions/batch", "HEAD, GET, PATCH"),
        ("GET", "/events", "POST"),
        ("PUT", "/campaigns/1", "HEAD, GET, PATCH"),
    ],
)
def test_routes_it_lacks_are_koa_405s_before_any_auth(
    pv: Sandbox, api: httpx.Client, method: str, path: str, allow: str
) -> None:
    for headers in (AUTH, {"Authorization": ""}):
        response = api.request(method, path, json=[], headers=headers)
        _plain(response, 405, "Method Not Allowed")
        assert response.headers["allow"] == allow
    assert pv.write_counts == {}


def test_unknown_paths_and_missing_objects_are_plain_404s(api: httpx.Client) -> None:
    _plain(api.get("/events/aggregations"), 404, "Not Found")
    _plain(api.get("/nowhere", headers={"Authorization": ""}), 404, "Not Found")
    _plain(api.get("/campaigns/999999"), 404, "Not Found")
    _plain(api.get("/users/nobody"), 404, "Not Found")
    _plain(api.post("/campaigns/999999/trigger", json={"user": {}, "event": {}}), 404, "Not Found")
    # journeys, though, answer in the envelope, with no code
    assert _parcelvoy_error(api.get("/journeys/999999"), 404) == {
        "status": "error",
        "error": "Journey not found",
    }


def test_keys_it_refuses(api: httpx.Client) -> None:
    foreign = api.get("/campaigns", headers={"Authorization": "Bearer sk_test_other_project"})
    assert _parcelvoy_error(foreign, 404) == {
        "status": "error",
        "error": "The requested project does not exist.",
        "code": 6000,
    }
    assert _parcelvoy_error(api.get("/campaigns", headers={"Authorization": ""}), 401) == {
        "status": "error",
        "error": "Authorization error.",
        "code": 1000,
    }
    public = api.get("/campaigns", headers={"Authorization": "Bearer pk_test_parcelvoy"})
    assert _parcelvoy_error(public, 403)["code"] == 1007


def test_no_version_needed_and_nothing_echoed(api: httpx.Client) -> None:
    for headers in ({}, {"Spotzee-Version": "1999-01-01"}, {"Spotzee-Version": VERSION}):
        response = api.get("/campaigns", headers=headers)
        assert response.status_code == 200
        assert "spotzee-version" not in response.headers
        assert "x-request-id" not in response.headers


def test_idempotency_keys_are_ignored(pv: Sandbox, api: httpx.Client) -> None:
    cid = next(c for c, v in pv.campaigns.items() if v["state"] == "running")
    body = {"user": {"external_id": "c1"}, "event": {}}
    for event in ({}, {}, {"other": "body"}):
        response = api.post(
            f"/campaigns/{cid}/trigger",
            json={**body, "event": event},
            headers={"Idempotency-Key": "same-key"},
        )
        assert response.status_code == 200 and "idempotent-replayed" not in response.headers
    assert len(pv.campaign_sends) == 3  # no replay, no mismatch: sent three times
    assert pv.stats["replays"] == pv.stats["mismatches"] == 0


def test_triggers_are_taken_whatever_the_state(pv: Sandbox, api: httpx.Client) -> None:
    draft = next(c for c, v in pv.campaigns.items() if v["state"] == "draft")
    blast = next(c for c, v in pv.campaigns.items() if v["type"] == "blast")
    off = next(j for j, v in pv.journeys.items() if v["status"] != "live")
    user = {"user": {"external_id": "c1"}, "event": {}}
    assert api.post(f"/campaigns/{draft}/trigger", json=user).status_code == 200
    assert api.post(f"/campaigns/{blast}/trigger", json=user).status_code == 200
    entrance = pv.DEMO_ENTRANCES[off][0]
    entered = api.post(f"/journeys/{off}/trigger", json={**user, "entrance_id": entrance})
    assert entered.status_code == 200
    assert len(pv.campaign_sends) == 2 and len(pv.journey_entrances) == 1


def test_journeys_carry_published_not_status(pv: Sandbox, api: httpx.Client) -> None:
    listed = api.get("/journeys").json()["results"]
    assert listed and all("status" not in j for j in listed)
    for j in listed:
        assert j["published"] is (pv.journeys[j["id"]]["status"] == "live")
    one = api.get("/journeys/1").json()
    assert "status" not in one and isinstance(one["published"], bool)


def test_lists_leave_out_null_cursors(pv: Sandbox, api: httpx.Client) -> None:
    pv.add_users(3)
    first = api.get("/users", params={"limit": 2}).json()
    assert first["nextCursor"] and "prevCursor" not in first
    last = api.get("/users", params={"limit": 2, "cursor": first["nextCursor"]}).json()
    assert len(last["results"]) == 1 and "nextCursor" not in last and last["prevCursor"]


def test_phones_read_back_in_international_format(pv: Sandbox, api: httpx.Client) -> None:
    items = [
        {"external_id": "au", "phone": "+61412345000"},
        {"external_id": "us", "phone": "+12025550123"},
    ]
    assert api.patch("/users", json=items).status_code == 204
    assert pv.users["au"]["phone"] == "+61412345000"  # stored as sent
    assert api.get("/users/au").json()["phone"] == "+61 412 345 000"
    listed = {u["external_id"]: u for u in api.get("/users").json()["results"]}
    assert {k: u["phone"] for k, u in listed.items()} == {
        "au": "+61 412 345 000",
        "us": "+1 202-555-0123",
    }
    # what it read from the number joins the user's data
    assert listed["au"]["data"] == {"phone_country": "AU", "phone_is_valid": True}
    assert listed["us"]["data"]["phone_country"] == "US"


def test_json_numbers_are_read_as_doubles(pv: Sandbox, api: httpx.Client) -> None:
    item = {"external_id": "c1", "data": {"big": 9007199254740993, "text": "9007199254740993"}}
    assert api.patch("/users", json=[item]).status_code == 204
    assert pv.users["c1"]["data"] == {"big": 9007199254740992, "text": "9007199254740993"}


def test_validation_errors_are_code_less_422s(api: httpx.Client) -> None:
    body = _parcelvoy_error(api.patch("/users", json={"external_id": "c1"}), 422)
    assert "code" not in body


def test_scheduling_a_draft_leaves_it_loading(pv: Sandbox, api: httpx.Client) -> None:
    draft = next(c for c, v in pv.campaigns.items() if v["state"] == "draft")
    response = api.patch(f"/campaigns/{draft}", json={"state": "scheduled"})
    assert response.status_code == 200 and response.json()["state"] == "loading"


def test_the_spotzee_profile_still_keeps_the_contract() -> None:
    sb = Sandbox(api_keys=["sk_test_known"])
    with httpx.Client(transport=sb.sync_transport(), base_url=BASE_URL, headers=HEADERS) as c:
        refused = c.get("/campaigns")  # HEADERS carries another key
        assert refused.status_code == 401
        assert refused.json()["code"] == "authentication_required"
        known = c.get("/campaigns", headers={"Authorization": "Bearer sk_test_known"})
        assert known.status_code == 200 and known.headers["spotzee-version"] == VERSION
