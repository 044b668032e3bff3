"""Events: POST /events and GET /events with its time window and filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from spotzee_frames.sandbox import Sandbox

from ._support import WIDE, assert_problem

T = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def seeded(sb: Sandbox) -> Sandbox:
    sb.add_events(
        name="email.opened",
        external_id="a",
        campaign_id=6,
        created_at=T,
        data={"subject": "Spring"},
    )
    sb.add_events(
        name="email.clicked", external_id="b", campaign_id=7, created_at=T + timedelta(seconds=1)
    )
    sb.add_events(name="page.viewed", anonymous_id="anon-1", created_at=T - timedelta(seconds=1))
    return sb


def names(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [event["name"] for event in response.json()["results"]]


def test_post_events(api: httpx.Client, sb: Sandbox) -> None:
    body = [
        {
            "name": "order.placed",
            "external_id": "cust_1",
            "data": {"total": 42},
            "user": {"email": "a@example.com", "timezone": "Europe/Paris", "data": {"vip": True}},
            "created_at": "2026-05-01T10:00:00+02:00",
        },
        {"name": "app.opened", "anonymous_id": "anon-7"},
    ]
    assert api.post("/events", json=body).status_code == 204
    stored = sb.events
    assert [e["name"] for e in stored] == ["order.placed", "app.opened"]
    first = stored[0]
    assert set(first) == {"id", "name", "created_at", "user", "campaign_id", "data"}
    assert first["id"].startswith("evt_")
    assert first["created_at"] == "2026-05-01T08:00:00.000Z"
    assert first["user"] == {"external_id": "cust_1", "anonymous_id": None}
    assert first["campaign_id"] is None and first["data"] == {"total": 42}
    user = sb.get_user("cust_1")
    assert user is not None
    assert (user["email"], user["timezone"], user["data"]) == (
        "a@example.com",
        "Europe/Paris",
        {"vip": True},
    )


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ([], "parameter_invalid_empty", None),
        ([{"name": "x", "external_id": "a"}] * 101, "parameter_invalid_format", None),
        ({"name": "x"}, "parameter_invalid_format", None),
        ([{"external_id": "a"}], "parameter_missing", "items.0.name"),
        ([{"name": "x"}], "parameter_missing", "items.0.external_id"),
        (
            [{"name": "x", "external_id": "a", "data": []}],
            "parameter_invalid_format",
            "items.0.data",
        ),
        (
            [{"name": "x", "external_id": "a", "created_at": "yesterday"}],
            "parameter_invalid_format",
            "items.0.created_at",
        ),
        (
            [{"name": "x", "external_id": "a", "user": {"email": "bad"}}],
            "parameter_invalid_format",
            "items.0.user.email",
        ),
        (
            [{"name": "x", "external_id": "a", "user": {"first_name": "A"}}],
            "parameter_unknown",
            "items.0.user.first_name",
        ),
        (
            [{"name": "x", "external_id": "a", "campaign_id": 1}],
            "parameter_unknown",
            "items.0.campaign_id",
        ),
    ],
)
def test_post_events_validation(
    api: httpx.Client, sb: Sandbox, body: object, code: str, param: str | None
) -> None:
    assert_problem(api.post("/events", json=body), 400, code, param=param)
    assert sb.events == []


def test_get_events_needs_from_and_to(api: httpx.Client) -> None:
    assert_problem(api.get("/events"), 400, "parameter_missing", param="from")
    assert_problem(
        api.get("/events", params={"from": WIDE["from"]}), 400, "parameter_missing", param="to"
    )
    assert_problem(
        api.get("/events", params={"to": WIDE["to"]}), 400, "parameter_missing", param="from"
    )


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2026-05-01",
        "2026-05-01T12:00:00",
        "2026-13-01T00:00:00Z",
        "1714564800",
        "2026-05-01 12:00:00 00:00",
    ],
)
def test_get_events_needs_rfc3339(api: httpx.Client, value: str) -> None:
    response = api.get("/events", params={"from": value, "to": WIDE["to"]})
    assert_problem(response, 400, "parameter_invalid_format", param="from")


def test_unencoded_plus_in_the_query_is_refused(api: httpx.Client) -> None:
    raw = "/events?from=2026-05-01T00:00:00+00:00&to=2026-06-01T00:00:00Z"
    assert_problem(api.get(raw), 400, "parameter_invalid_format", param="from")
    encoded = api.get(
        "/events", params={"from": "2026-05-01T00:00:00+00:00", "to": "2026-06-01T00:00:00Z"}
    )
    assert encoded.status_code == 200


def test_to_is_exclusive(api: httpx.Client, seeded: Sandbox) -> None:
    window = {"from": iso(T), "to": iso(T + timedelta(seconds=1))}
    assert names(api.get("/events", params=window)) == ["email.opened"]
    wider = {"from": iso(T - timedelta(seconds=1)), "to": iso(T + timedelta(milliseconds=1001))}
    assert names(api.get("/events", params=wider)) == [
        "page.viewed",
        "email.opened",
        "email.clicked",
    ]
    offset = {"from": "2026-05-01T14:00:00+02:00", "to": "2026-05-01T14:00:00.001+02:00"}
    assert names(api.get("/events", params=offset)) == ["email.opened"]


def test_filters(api: httpx.Client, seeded: Sandbox) -> None:
    assert names(api.get("/events", params={**WIDE, "external_id": "b"})) == ["email.clicked"]
    assert names(api.get("/events", params={**WIDE, "anonymous_id": "anon-1"})) == ["page.viewed"]
    assert names(api.get("/events", params={**WIDE, "event_name": "email.opened"})) == [
        "email.opened"
    ]
    both = api.get("/events", params=[*WIDE.items(), ("campaign_id", "6"), ("campaign_id", "7")])
    assert names(both) == ["email.opened", "email.clicked"]
    assert_problem(
        api.get("/events", params={**WIDE, "campaign_id": "six"}),
        400,
        "parameter_invalid_format",
        param="campaign_id",
    )


def test_payload_only_on_request(api: httpx.Client, seeded: Sandbox) -> None:
    plain = api.get("/events", params={**WIDE, "event_name": "email.opened"}).json()["results"]
    assert set(plain[0]) == {"id", "name", "created_at", "user", "campaign_id"}
    full = api.get(
        "/events", params={**WIDE, "event_name": "email.opened", "include_payload": "true"}
    ).json()["results"]
    assert full[0]["data"] == {"subject": "Spring"}
    assert full[0]["campaign_id"] == 6
    assert full[0]["user"] == {"external_id": "a", "anonymous_id": None}


def test_direction_and_paging(api: httpx.Client, sb: Sandbox) -> None:
    sb.add_events(
        [
            {"name": f"e{i}", "external_id": "a", "created_at": T + timedelta(seconds=i)}
            for i in range(30)
        ]
    )
    assert names(api.get("/events", params={**WIDE, "direction": "desc", "limit": 3})) == [
        "e29",
        "e28",
        "e27",
    ]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {**WIDE, "limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/events", params=params).json()
        seen += [e["name"] for e in page["results"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [f"e{i}" for i in range(30)]


def test_add_events_helper(sb: Sandbox) -> None:
    added = sb.add_events(name="x", external_id="a", count=3, created_at="2026-05-01T00:00:00Z")
    assert [e["created_at"] for e in added] == ["2026-05-01T00:00:00.000Z"] * 3
    assert len({e["id"] for e in added}) == 3
    with pytest.raises(TypeError):
        sb.add_events()
