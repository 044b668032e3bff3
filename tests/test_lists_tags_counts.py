"""Listings of lists and tags, and server-side event counts, as typed frames walking every
page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

import spotzee_frames as sf
from spotzee_frames import Client, ValidationError
from spotzee_frames.sandbox import Sandbox

T = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_lists_are_typed_and_every_page_is_read(client: Client, sandbox: Sandbox) -> None:
    frame = sf.lists(client=client)
    assert sorted(frame["id"]) == [1, 2, 3, 4]
    assert list(frame["type"].cat.categories) == ["static", "dynamic"]
    assert list(frame["state"].cat.categories) == ["draft", "ready", "loading"]
    assert str(frame["users_count"].dtype) == "Int64"
    assert frame.set_index("id").sort_index()["users_count"].isna().tolist() == [
        False,
        False,
        True,
        False,
    ]
    assert isinstance(frame.set_index("id")["rule"][2], dict)
    assert str(frame["refreshed_at"].dtype) == "datetime64[ns, UTC]"
    assert sf.lists(client=client, type="static")["id"].tolist() == [4, 1]  # updated_at desc
    gets = [r for r in sandbox.requests if r.path == "/lists"]
    assert all("limit=100" in r.query for r in gets)


def test_tags(client: Client) -> None:
    frame = sf.tags(client=client)
    assert len(frame) == 7 and frame["name"].dtype == "string"
    assert list(frame.columns[:5]) == ["id", "project_id", "name", "created_at", "updated_at"]


def test_event_counts_by_name_day_and_user(client: Client, sandbox: Sandbox) -> None:
    sandbox.add_events(name="order_placed", external_id="a", created_at=T, count=3)
    sandbox.add_events(name="order_placed", external_id="b", created_at=T + timedelta(days=1))
    sandbox.add_events(name="page_viewed", anonymous_id="x", created_at=T)
    by_name = sf.event_counts("2026-05-01", "2026-06-01", client=client)
    assert list(by_name.columns) == [
        "event_name",
        "count",
        "unique_user_count",
        "first_seen_at",
        "last_seen_at",
    ]
    counts = by_name.set_index("event_name")["count"]
    assert counts["order_placed"] == 4 and counts["page_viewed"] == 1
    assert str(by_name["count"].dtype) == "Int64"
    daily = sf.event_counts(
        "2026-05-01", "2026-06-01", group_by=["event_name", "day"], client=client
    )
    assert str(daily["day"].dtype) == "datetime64[ns, UTC]"
    assert set(zip(daily.event_name, daily.day.dt.day, daily["count"], strict=True)) == {
        ("order_placed", 1, 3),
        ("order_placed", 2, 1),
        ("page_viewed", 1, 1),
    }
    users = sf.event_counts(
        "2026-05-01", "2026-06-01", group_by="user", event_name="order_placed", client=client
    )
    assert sorted(users.external_id) == ["a", "b"] and "anonymous_id" in users.columns
    empty = sf.event_counts("2020-01-01", "2020-01-02", group_by="campaign", client=client)
    assert empty.columns[0] == "campaign_id" and len(empty) == 0


def test_event_counts_refuses_bad_groupings_and_windows(client: Client) -> None:
    with pytest.raises(ValidationError, match="group_by must be one of"):
        sf.event_counts("2026-05-01", "2026-06-01", group_by="week", client=client)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="at least one"):
        sf.event_counts("2026-05-01", "2026-06-01", group_by=[], client=client)
    with pytest.raises(ValidationError, match="before end"):
        sf.event_counts("2026-06-01", "2026-05-01", client=client)
    assert isinstance(sf.event_counts(pd.Timestamp("2026-05-01"), T, client=client), pd.DataFrame)
