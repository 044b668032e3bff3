"""Listings as typed frames, single look-ups and schedule_campaign, against the sandbox
playing each server: the contract's Spotzee and a self-hosted Parcelvoy."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs

import httpx
import pandas as pd
import pytest

from spotzee_frames import APIError, Client, NotFoundError, ProgressEvent, ValidationError
from spotzee_frames._listing import (
    CAMPAIGN_STATES,
    _campaign_frame,
    campaign,
    campaigns,
    events,
    journey,
    journeys,
    schedule_campaign,
    to_rfc3339,
    users,
)
from spotzee_frames.sandbox import Sandbox

from .conftest import FAST

UTC_NS = "datetime64[ns, UTC]"


@pytest.fixture
def sandbox(profiled_sandbox: Sandbox) -> Sandbox:
    return profiled_sandbox


def _shown_status(sb: Sandbox, jid: int) -> str:
    """A journey's status as a listing gives it: Parcelvoy's `published` only tells live
    from not, and not-live reads as draft."""
    status: str = sb.journeys[jid]["status"]
    return status if sb.profile == "spotzee" or status == "live" else "draft"


CAMPAIGN_DTYPES = {
    "id": "Int64",
    "project_id": "Int64",
    "name": "string",
    "type": "category",
    "channel": "category",
    "state": "category",
    "list_ids": "object",
    "subscription_id": "Int64",
    "delivery_sent": "Int64",
    "delivery_total": "Int64",
    "delivery_opens": "Int64",
    "delivery_clicks": "Int64",
    "tags": "object",
    "send_in_user_timezone": "boolean",
    "send_at": UTC_NS,
    "created_at": UTC_NS,
    "updated_at": UTC_NS,
}


def _gets(sb: Sandbox, path: str) -> list[dict[str, list[str]]]:
    return [parse_qs(r.query) for r in sb.requests if r.method == "GET" and r.path == path]


def test_users_walks_every_page_with_typed_columns(sandbox: Sandbox, client: Client) -> None:
    sandbox.add_users(250)
    frame = users(client=client)
    assert len(frame) == 250
    assert sorted(frame["external_id"]) == sorted(f"u{k}" for k in range(1, 251))
    assert frame["id"].is_unique
    assert isinstance(frame.index, pd.RangeIndex)
    dtypes = frame.dtypes.astype(str).to_dict()
    assert dtypes["id"] == "Int64"
    assert dtypes["external_id"] == "string"
    assert dtypes["email"] == "string"
    assert dtypes["created_at"] == UTC_NS
    assert dtypes["has_push_device"] == "boolean"
    row = frame.set_index("external_id").loc["u7"]
    assert row["email"] == "u7@example.com"
    assert row["data"] == {"n": 7}
    assert row["devices"] == []
    pages = _gets(sandbox, "/users")
    assert len(pages) == 3
    assert all(q["limit"] == ["100"] for q in pages)


def test_a_listing_of_many_pages_shows_progress(sandbox: Sandbox, client: Client) -> None:
    sandbox.add_users(250)
    seen: list[ProgressEvent] = []
    frame = users(client=client, progress=seen.append)
    assert len(frame) == 250
    # Shown from the first page on (then throttled), closed when the last page is in.
    assert seen[0].done == 100 and seen[-1].done == 250 and seen[-1].finished
    assert all(e.total == 250 for e in seen)  # from X-Total-Count
    assert {e.desc for e in seen} == {"users"}
    quiet: list[ProgressEvent] = []
    campaigns(client=client, progress=quiet.append)  # one page: nothing to show
    assert quiet == []
    with pytest.raises(ValidationError, match="progress must be"):
        users(client=client, progress="yes")


def test_a_listing_without_a_total_still_counts_its_pages(sandbox: Sandbox, tampered: Any) -> None:
    def no_total(request: httpx.Request, response: httpx.Response, body: bytes) -> httpx.Response:
        headers = {k: v for k, v in response.headers.items() if k != "x-total-count"}
        return httpx.Response(response.status_code, headers=headers, content=body)

    client = tampered(no_total)
    sandbox.add_users(150)
    seen: list[ProgressEvent] = []
    assert len(users(client=client, progress=seen.append)) == 150
    assert [e.done for e in seen][-1] == 150 and seen[-1].total == 150


def test_users_expand_data(sandbox: Sandbox, client: Client) -> None:
    sandbox.add_users(3)
    frame = users(client=client, expand_data=True)
    assert str(frame["data_n"].dtype) == "Int64"
    assert sorted(frame["data_n"].tolist()) == [1, 2, 3]


def test_campaigns_dtypes_and_flattened_delivery(sandbox: Sandbox, client: Client) -> None:
    frame = campaigns(client=client)
    raw = sandbox.campaigns
    assert sorted(frame["id"]) == sorted(raw)
    for column, dtype in CAMPAIGN_DTYPES.items():
        assert str(frame[column].dtype) == dtype, column
    assert list(frame["state"].cat.categories) == list(CAMPAIGN_STATES)
    assert list(frame["type"].cat.categories) == ["blast", "trigger"]
    by_id = frame.set_index("id")
    for cid, c in raw.items():
        assert by_id.loc[cid, "delivery_sent"] == c["delivery"]["sent"]
        assert by_id.loc[cid, "delivery_total"] == c["delivery"]["total"]
        assert by_id.loc[cid, "state"] == c["state"]
        assert by_id.loc[cid, "tags"] == c["tags"]
        assert by_id.loc[cid, "created_at"] == pd.Timestamp(c["created_at"])
    assert "delivery" not in frame.columns


def test_campaign_filters_are_query_parameters(sandbox: Sandbox, client: Client) -> None:
    frame = campaigns(client=client, type="trigger", state=["running", "scheduled"])
    assert set(frame["type"]) == {"trigger"}
    assert set(frame["state"]) <= {"running", "scheduled"}
    assert len(frame) == sum(
        1
        for c in sandbox.campaigns.values()
        if c["type"] == "trigger" and c["state"] in ("running", "scheduled")
    )
    with pytest.raises(ValidationError, match="every page"):
        campaigns(client=client, limit=5)


def test_journeys_dtypes_and_stats(sandbox: Sandbox, client: Client) -> None:
    frame = journeys(client=client)
    raw = sandbox.journeys
    assert sorted(frame["id"]) == sorted(raw)
    assert str(frame["status"].dtype) == "category"
    assert list(frame["status"].cat.categories) == ["draft", "live", "off"]
    assert str(frame["stats_at"].dtype) == UTC_NS
    by_id = frame.set_index("id")
    for jid, j in raw.items():
        assert by_id.loc[jid, "status"] == _shown_status(sandbox, jid)
        for step, count in j["stats"].items():
            assert str(frame[f"stats_{step}"].dtype) == "Int64"
            assert by_id.loc[jid, f"stats_{step}"] == count


def test_empty_project_frames_have_the_same_columns_and_dtypes(
    sandbox: Sandbox, client: Client
) -> None:
    empty = Client.sandbox(Sandbox(demo=False, profile=sandbox.profile), **FAST)
    try:
        pairs = [
            (campaigns(client=empty), campaigns(client=client)),
            (journeys(client=empty), journeys(client=client)),
            (users(client=empty), _with_users(client)),
        ]
        if sandbox.profile == "spotzee":  # Parcelvoy has no GET /events
            pairs.append((events("2000-01-01", "2100-01-01", client=empty), _with_events(client)))
    finally:
        empty.close()
    for blank, full in pairs:
        assert len(blank) == 0
        assert len(full) > 0
        assert list(blank.columns) == list(full.columns)
        assert blank.dtypes.astype(str).to_dict() == full.dtypes.astype(str).to_dict()
        for column in blank.columns:
            if isinstance(blank[column].dtype, pd.CategoricalDtype):
                assert list(blank[column].cat.categories) == list(full[column].cat.categories)


def _with_users(client: Client) -> pd.DataFrame:
    client.sandbox_instance.add_users(2)
    return users(client=client)


def _with_events(client: Client) -> pd.DataFrame:
    client.sandbox_instance.add_events(name="opened", external_id="x1", campaign_id=1)
    return events("2000-01-01", "2100-01-01", client=client)


def test_unknown_fields_and_missing_optional_fields() -> None:
    frame = _campaign_frame(
        [
            {"id": 1, "type": "trigger", "state": "paused", "channel": "email", "new": {"a": 1}},
            {"id": 2, "delivery": {"sent": 3, "total": 4, "unsubscribed": 1}},
        ]
    )
    assert frame["id"].tolist() == [1, 2]
    assert frame["name"].isna().all()
    # a state the contract does not list yet is kept, not turned into NaN
    assert frame["state"][0] == "paused"
    assert frame["new"][0] == {"a": 1}
    assert str(frame["delivery_unsubscribed"].dtype) == "Int64"
    assert frame["delivery_sent"].tolist()[1] == 3


def test_events_filters_range_and_pages(sandbox: Sandbox, client: Client) -> None:
    base = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    sandbox.add_events(
        [
            {
                "name": "opened" if k % 2 else "clicked",
                "external_id": f"u{k % 7}",
                "campaign_id": 1 if k < 200 else 2,
                "created_at": base + dt.timedelta(minutes=k),
                "data": {"k": k},
            }
            for k in range(250)
        ]
    )
    if sandbox.profile == "parcelvoy":
        with pytest.raises(APIError, match="lacks this documented endpoint") as missing:
            events(base, base + dt.timedelta(minutes=250), client=client)
        assert (missing.value.method, missing.value.path) == ("GET", "/events")
        return
    frame = events(base, base + dt.timedelta(minutes=250), client=client)
    assert len(frame) == 250
    assert frame.dtypes.astype(str).to_dict() == {
        "id": "string",
        "name": "string",
        "created_at": UTC_NS,
        "external_id": "string",
        "anonymous_id": "string",
        "campaign_id": "Int64",
        "data": "object",
    }
    assert frame["data"].isna().all()  # payloads only on request
    # naive bounds are UTC; `end` is exclusive
    window = events("2026-03-01 12:10", dt.datetime(2026, 3, 1, 12, 20), client=client)
    assert len(window) == 10
    assert window["created_at"].min() == pd.Timestamp("2026-03-01T12:10Z")
    only = events(
        base, base + dt.timedelta(days=1), campaign_id=2, include_payload=True, client=client
    )
    assert len(only) == 50
    assert set(only["campaign_id"]) == {2}
    assert only["data"].map(lambda d: d["k"]).min() == 200
    several = events(base, base + dt.timedelta(days=1), campaign_id=[1, 2], client=client)
    assert len(several) == 250
    named = events(
        base,
        base + dt.timedelta(days=1),
        external_id="u3",
        event_name="opened",
        client=client,
    )
    assert set(named["external_id"]) == {"u3"} and set(named["name"]) == {"opened"}
    sent = [q["from"] + q["to"] for q in _gets(sandbox, "/events")]
    assert ["2026-03-01T12:10:00Z", "2026-03-01T12:20:00Z"] in sent


def test_events_rejects_bad_ranges(client: Client) -> None:
    with pytest.raises(ValidationError, match="before"):
        events("2026-03-02", "2026-03-01", client=client)
    with pytest.raises(ValidationError):
        events("not a date", "2026-03-01", client=client)


def test_to_rfc3339() -> None:
    assert to_rfc3339("2026-03-01", name="x") == "2026-03-01T00:00:00Z"
    assert to_rfc3339(pd.Timestamp("2026-03-01T10:00+10:00"), name="x") == "2026-03-01T00:00:00Z"
    assert to_rfc3339(dt.datetime(2026, 3, 1, 0, 0, 0, 5), name="x") == (
        "2026-03-01T00:00:00.000005Z"
    )


def test_single_look_ups(sandbox: Sandbox, client: Client) -> None:
    one = campaign(1, client=client)
    assert isinstance(one, pd.Series)
    assert one["id"] == 1 and one.name == 1
    assert one["delivery_sent"] == sandbox.campaigns[1]["delivery"]["sent"]
    j = journey(2, client=client)
    assert j["status"] == _shown_status(sandbox, 2)
    assert j["stats_entrance"] == sandbox.journeys[2]["stats"]["entrance"]
    with pytest.raises(NotFoundError, match="campaign 9999 not found in this project"):
        campaign(9999, client=client)
    with pytest.raises(NotFoundError, match="journey 9999 not found in this project"):
        journey(9999, client=client)
    with pytest.raises(ValidationError):
        campaign(True, client=client)  # type: ignore[arg-type]


def _draft_trigger_campaign(sb: Sandbox) -> int:
    return next(
        cid for cid, c in sb.campaigns.items() if c["state"] == "draft" and c["type"] == "trigger"
    )


def test_schedule_campaign_promotes_a_draft(sandbox: Sandbox, client: Client) -> None:
    cid = _draft_trigger_campaign(sandbox)
    result = schedule_campaign(cid, client=client)
    # Parcelvoy builds the send list first: the campaign comes back `loading`
    promoted = "scheduled" if sandbox.profile == "spotzee" else "loading"
    assert result["state"] == promoted
    assert sandbox.campaigns[cid]["state"] == promoted
    patches = [r for r in sandbox.requests if r.method == "PATCH"]
    assert len(patches) == 1 and patches[0].path == f"/campaigns/{cid}"
    # no longer a draft: nothing to do, nothing sent
    again = schedule_campaign(cid, client=client)
    assert again["state"] == promoted
    assert len([r for r in sandbox.requests if r.method == "PATCH"]) == 1


def test_odd_field_values_never_break_a_listing() -> None:
    """Placeholder dates, ids past 2**53 and stray non-objects from a server."""
    records = [
        {"id": 9007199254740993, "created_at": "9999-12-31T00:00:00Z"},
        {"name": "no id", "created_at": "0001-01-01T00:00:00Z"},
        {"name": "epoch", "created_at": 1700000000},
        "not a campaign",
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"results": records, "nextCursor": None})

    transport = httpx.MockTransport(handler)
    with Client("sk_test_odd", "https://api.example.test/api/client", transport=transport) as c:
        frame = campaigns(client=c)
    assert len(frame) == 3
    assert frame["id"].dtype == "Int64" and frame["id"][0] == 9007199254740993
    assert frame["created_at"].dtype == UTC_NS and frame["created_at"].isna().all()
    with pytest.raises(ValidationError, match="integer id"):
        events("2026-01-01", "2026-02-01", campaign_id=1.5, client=c)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="64-bit"):
        campaign(10**30, client=c)


def test_read_back_phones_in_e164_and_odd_ones_kept() -> None:
    """A server may show phones formatted (Parcelvoy: `+61 412 345 000`): users() gives
    E.164, so the frame joins to what was sent; what cannot be read stays as it came."""
    shown = ["+61 412 345 000", "+1 (202) 555-0123", "0412 345 001", "call me", None]
    records = [{"id": k + 1, "external_id": f"u{k}", "phone": p} for k, p in enumerate(shown)]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"results": records})

    transport = httpx.MockTransport(handler)
    with Client("sk_test_phones", "https://api.example.test/api/client", transport=transport) as c:
        frame = users(client=c)
    assert str(frame["phone"].dtype) == "string"
    assert frame["phone"].tolist() == [
        "+61412345000",
        "+12025550123",
        "0412 345 001",  # national: which country is not known here
        "call me",
        pd.NA,
    ]
