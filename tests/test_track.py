"""`track`: events from a frame, against the sandbox in process and served on 127.0.0.1,
asserting what the sandbox stored — every event exactly once under 503s and answers lost
after the work was committed, on a re-run, and when only the failed or interrupted rows
are sent again; naive times refused before anything is sent; every bad input a row."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pytest

import spotzee_frames as sf
from spotzee_frames import Client, Interrupted, ProgressEvent, ValidationError
from spotzee_frames.sandbox import Faults, Sandbox

from .conftest import FAST, Served


def orders(n: int, *, start: int = 0) -> pd.DataFrame:
    k = np.arange(start, start + n)
    return pd.DataFrame(
        {
            "external_id": [f"cust_{i % 37}" for i in k],
            "order_id": [f"ord_{i}" for i in k],
            "amount": (k % 50) * 1.25,
            "currency": pd.Categorical(np.where(k % 2, "AUD", "NZD")),
            "created_at": pd.Timestamp("2026-03-01 09:00", tz="Australia/Sydney")
            + pd.to_timedelta(k, unit="min"),
        },
        index=pd.Index(k * 10, name="row"),
    )


def stored(sandbox: Sandbox, name: str = "order_placed") -> Counter[str]:
    """How many times the sandbox stored each order's event."""
    return Counter(e["data"]["order_id"] for e in sandbox.events if e["name"] == name)


def once_each(sandbox: Sandbox, frame: pd.DataFrame) -> bool:
    return stored(sandbox) == Counter(frame["order_id"])


def event_posts(sandbox: Sandbox) -> list[Any]:
    return [r for r in sandbox.requests if r.method == "POST" and r.path.endswith("/events")]


# -- what is sent --------------------------------------------------------------------------


def test_an_orders_table_becomes_events_with_their_own_times(
    client: Client, sandbox: Sandbox
) -> None:
    df = orders(250)
    result = df.spotzee.track("order_placed", client=client, progress=False)
    assert result.index.equals(df.index)
    assert result.status.eq("queued").all()
    assert result.batch.tolist() == [0] * 100 + [1] * 100 + [2] * 50
    assert str(result.status.dtype) == "string"
    assert once_each(sandbox, df)
    first = next(e for e in sandbox.events if e["data"]["order_id"] == "ord_0")
    assert first["user"]["external_id"] == "cust_0"
    assert first["created_at"] == "2026-02-28T22:00:00.000Z"  # 09:00 in Sydney (UTC+11)
    assert first["data"] == {"order_id": "ord_0", "amount": 0.0, "currency": "NZD"}
    assert len(event_posts(sandbox)) == 3
    assert sf.summary(result).ok and str(sf.summary(result)).startswith("Track: 250 rows")


def test_the_body_keeps_the_offset_and_profile_fields_ride_along(client: Client) -> None:
    df = pd.DataFrame(
        {
            "CustomerID": [7, 8],
            "Email": [" Ada@Example.COM", None],
            "phone": ["0491 570 156", None],
            "plan": ["pro", "team"],
            "sku": ["A", None],
            "created_at": pd.to_datetime(["2026-05-01T10:00:00+10:00", None], utc=True)
            .tz_convert("Australia/Brisbane")
            .array,
        }
    )
    with pytest.warns(sf.NumericIdWarning, match="CustomerID"):  # integer ids: "7", warned
        result = sf.track(
            df,
            "signed_up",
            mapping={"CustomerID": "external_id"},
            user=["plan"],
            default_region="AU",
            dry_run=True,
            include_payload=True,
        )
    assert result.status.astype(str).tolist() == ["valid", "valid"]
    assert result.payload[0] == {
        "name": "signed_up",
        "external_id": "7",
        "created_at": "2026-05-01T10:00:00+10:00",
        "user": {"email": "Ada@example.com", "phone": "+61491570156", "data": {"plan": "pro"}},
        "data": {"sku": "A"},
    }
    # missing values leave their keys out: no time (the server stamps it), no data
    assert result.payload[1] == {
        "name": "signed_up",
        "external_id": "8",
        "user": {"data": {"plan": "team"}},
    }


def test_names_from_a_column_and_anonymous_users(client: Client, sandbox: Sandbox) -> None:
    df = pd.DataFrame(
        {
            "anonymous_id": ["anon-1", "anon-2", "anon-3"],
            "event": pd.Categorical(["page_viewed", "cart_added", "page_viewed"]),
            "url": ["/a", "/b", "/c"],
        }
    )
    result = sf.track(df, name_column="event", client=client, progress=False)
    assert result.status.eq("queued").all()
    assert sorted((e["name"], e["user"]["anonymous_id"]) for e in sandbox.events) == [
        ("cart_added", "anon-2"),
        ("page_viewed", "anon-1"),
        ("page_viewed", "anon-3"),
    ]
    assert all("event" not in e["data"] for e in sandbox.events)


def test_a_publishable_key_may_track(sandbox: Sandbox) -> None:
    with Client(
        "pk_test_web", "http://localhost/api/client", transport=sandbox.transport(), **FAST
    ) as public:
        result = sf.track(orders(3), "order_placed", client=public, progress=False)
    assert result.status.eq("queued").all()
    assert once_each(sandbox, orders(3))


# -- times ---------------------------------------------------------------------------------


def test_a_naive_time_column_is_refused_before_anything_is_sent(
    client: Client, sandbox: Sandbox
) -> None:
    df = orders(5)
    df["created_at"] = df["created_at"].dt.tz_localize(None)
    with pytest.raises(ValidationError, match=r"naive.*timezone="):
        sf.track(df, "order_placed", client=client, progress=False)
    text = df.assign(created_at=df["created_at"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    with pytest.raises(ValidationError, match="naive"):
        sf.track(text, "order_placed", client=client, progress=False)
    assert sandbox.requests == [] and sandbox.events == []


def test_timezone_names_the_zone_of_naive_times_and_daylight_saving_gaps_are_rows(
    client: Client, sandbox: Sandbox
) -> None:
    df = pd.DataFrame(
        {
            "external_id": ["a", "b", "c", "d"],
            "when": pd.to_datetime(
                ["2026-07-01 12:00", "2026-03-29 01:30", "2026-10-25 01:30", None]
            ),
        }
    )
    result = sf.track(
        df,
        "visit",
        created_at="when",
        timezone="Europe/London",
        include_payload=True,
        client=client,
        progress=False,
    )
    assert result.status.astype(str).tolist() == ["queued", "invalid", "invalid", "queued"]
    assert result.payload[0]["created_at"] == "2026-07-01T12:00:00+01:00"  # BST, not a Z
    assert "created_at" not in result.payload[3]
    assert result.error_field[1] == "created_at" and "daylight-saving" in result.error_message[1]
    assert sorted(e["user"]["external_id"] for e in sandbox.events) == ["a", "d"]
    assert next(e for e in sandbox.events if e["user"]["external_id"] == "a")["created_at"] == (
        "2026-07-01T11:00:00.000Z"
    )


def test_text_times_are_read_only_when_unambiguous(client: Client) -> None:
    df = pd.DataFrame(
        {
            "external_id": list("abcdefg"),
            "created_at": [
                "2026-04-28T09:30:00Z",
                "2026-04-28 09:30:00.250+05:30",
                "05/06/2026 10:00",
                "28 April 2026",
                "2026-02-30T10:00:00+00:00",
                "2026-04-28T09:30:00",
                None,
            ],
        }
    )
    result = sf.track(df, "x", dry_run=True, include_payload=True)
    assert result.status.astype(str).tolist() == ["valid", "valid"] + ["invalid"] * 4 + ["valid"]
    assert result.payload[0]["created_at"] == "2026-04-28T09:30:00+00:00"
    assert result.payload[1]["created_at"] == "2026-04-28T09:30:00.250000+05:30"
    assert "ISO 8601" in result.error_message[2] and "ISO 8601" in result.error_message[3]
    assert "no UTC offset" in result.error_message[5]
    # naive text in a named zone: daylight-saving gaps and folds are rows too
    local = pd.DataFrame(
        {
            "external_id": ["a", "b", "c"],
            "created_at": ["2026-03-29 01:30", "2026-10-25 01:30", "2026-10-25 03:30"],
        }
    )
    london = sf.track(local, "x", timezone="Europe/London", dry_run=True, include_payload=True)
    assert london.status.astype(str).tolist() == ["invalid", "invalid", "valid"]
    assert "never happened" in london.error_message[0]
    assert "happened twice" in london.error_message[1]
    assert london.payload[2]["created_at"] == "2026-10-25T03:30:00+00:00"
    # the same naive text is fine once its zone is named
    named = sf.track(df.iloc[[5]], "x", timezone="Asia/Kolkata", dry_run=True, include_payload=True)
    assert named.payload.iloc[0]["created_at"] == "2026-04-28T09:30:00+05:30"


def test_datetime_objects_dates_and_numbers(client: Client) -> None:
    sydney = dt.timezone(dt.timedelta(hours=10))
    df = pd.DataFrame(
        {
            "external_id": list("abcd"),
            "created_at": [
                dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=sydney),
                pd.Timestamp("2026-01-02 03:04", tz="UTC"),
                dt.date(2026, 1, 2),
                1767225600,
            ],
        }
    )
    result = sf.track(df, "x", dry_run=True, include_payload=True)
    assert result.payload[0]["created_at"] == "2026-01-02T03:04:05+10:00"
    assert result.payload[1]["created_at"] == "2026-01-02T03:04:00+00:00"
    assert result.status.astype(str).tolist() == ["valid", "valid", "invalid", "invalid"]
    assert "no UTC offset" in result.error_message[2]
    assert "unit" in result.error_message[3]
    with pytest.raises(ValidationError, match="holds no times"):
        sf.track(pd.DataFrame({"external_id": ["a"], "created_at": [1.5]}), "x", dry_run=True)


# -- bad input -----------------------------------------------------------------------------


def test_every_bad_input_is_a_row_and_nothing_bad_is_sent(client: Client, sandbox: Sandbox) -> None:
    df = pd.DataFrame(
        {
            "external_id": ["ok", None, "ok2", "ok3", "ok4", 4.5, "ok6"],
            "event": ["a", "a", None, "a", "a", "a", 12],
            "email": [None, None, None, "not-an-email", None, None, None],
            "payload": [1, 2, 3, 4, b"bytes", 6, 7],
        }
    )
    result = sf.track(df, name_column="event", client=client, progress=False)
    assert result.status.astype(str).tolist() == ["queued"] + ["invalid"] * 6
    fields = result.error_field.tolist()
    assert fields[1:] == ["external_id", "name", "email", "data.payload", "external_id", "name"]
    assert result.error_code[1] == "parameter_missing"
    assert [e["user"]["external_id"] for e in sandbox.events] == ["ok"]


def test_caller_mistakes_raise_before_sending(sandbox: Sandbox, client: Client) -> None:
    df = orders(3)
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "one of the two"),
        ({"name": "x", "name_column": "currency"}, "one of the two"),
        ({"name": ""}, "non-empty"),
        ({"name": "x", "created_at": "nope"}, "not a column"),
        ({"name": "x", "timezone": "Mars/Olympus"}, "IANA"),
        ({"name": "x", "user": "plan"}, "list of column"),
        ({"name": "x", "user": {"amount": "external_id"}}, "another name"),
        ({"name": "x", "batch_size": 101}, "batch_size"),
        ({"name": "x", "created_at": "created_at", "mapping": {"created_at": "data.t"}}, "choose"),
    ]
    for options, message in cases:
        with pytest.raises(ValidationError, match=message):
            sf.track(df, client=client, progress=False, **options)
    with pytest.raises(ValidationError, match="external_id or anonymous_id"):
        sf.track(df.drop(columns="external_id"), "x", client=client)
    with pytest.raises(ValidationError, match="no column gives created_at"):
        sf.track(df.drop(columns="created_at"), "x", timezone="UTC", client=client)
    assert sandbox.requests == []


# -- exactly once --------------------------------------------------------------------------


def test_503s_and_answers_lost_after_commit_store_each_event_once(
    client: Client, sandbox: Sandbox
) -> None:
    sandbox.inject("503", times=3, path="/events")
    sandbox.inject("drop", times=3, path="/events")
    sandbox.inject("html502", times=1, path="/events")
    df = orders(700)
    result = sf.track(df, "order_placed", client=client, progress=False)
    assert result.status.eq("queued").all()
    assert once_each(sandbox, df)
    assert sandbox.stats["drops"] == 3 and sandbox.stats["replays"] >= 3
    assert result.attempts.max() > 1


def test_rerunning_the_same_call_applies_nothing(client: Client, sandbox: Sandbox) -> None:
    df = orders(230)
    first = sf.track(df, "order_placed", client=client, progress=False)
    again = sf.track(df, "order_placed", client=client, progress=False)
    assert once_each(sandbox, df)
    assert again.status.eq("queued").all() and again.replayed.all()
    assert not first.replayed.any()
    assert (again.request_id == first.request_id).all()  # the original answers, replayed
    assert "replayed" in str(sf.summary(again))


def test_resending_only_the_failed_rows_replays_what_was_applied(sandbox: Sandbox) -> None:
    # One attempt per call: two batches lose their answer after the server stored them
    # (their rows are `failed`: unknown), two more are refused with a 503 (not stored).
    df = orders(620)
    df.loc[df.index[[3, 250, 517]], "external_id"] = None  # invalid rows punch no holes
    sandbox.inject("drop", times=2, path="/events")
    sandbox.inject("503", times=2, path="/events")
    with Client.sandbox(sandbox, **{**FAST, "max_attempts": 1, "max_concurrency": 1}) as once:
        result = sf.track(df, "order_placed", client=once, progress=False)
    failed = result.status.eq("failed")
    assert failed.sum() == 400 and result.status.eq("invalid").sum() == 3
    assert sorted(result.batch[failed].unique()) == [0, 1, 2, 3]
    # the two dropped batches were stored; the two refused ones were not
    assert sum(stored(sandbox).values()) == 617 - 200
    retry = sf.track(df.loc[failed], "order_placed", client=Client.sandbox(sandbox, **FAST))
    assert retry.status.eq("queued").all()
    assert retry.replayed.sum() == 200  # the two batches stored before: replayed, not re-applied
    assert stored(sandbox) == Counter(df["order_id"].drop(df.index[[3, 250, 517]]))


def test_an_interrupted_run_then_resending_the_rest_stores_each_once(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(latency=0.05)
    df = orders(1000)

    def stop_after_three_batches(event: ProgressEvent) -> None:
        if event.done >= 300 and not event.finished:
            raise KeyboardInterrupt

    with Client.sandbox(sandbox, **{**FAST, "max_concurrency": 4}) as api:
        with pytest.raises(Interrupted) as caught:
            sf.track(df, "order_placed", client=api, progress=stop_after_three_batches)
        partial = caught.value.result
        assert "interrupted" in str(caught.value) and "replays" in str(caught.value)
        assert partial.index.equals(df.index)
        assert partial.status.eq("queued").sum() >= 300
        rest = df.loc[partial.status.isin(["failed", "interrupted"]).to_numpy()]
        sandbox.faults = Faults()
        again = sf.track(rest, "order_placed", client=api, progress=False)
    assert again.status.eq("queued").all()
    assert once_each(sandbox, df)


def test_served_over_http_with_random_faults_every_event_once(served: Served) -> None:
    sb = served.sandbox
    sb.faults = Faults(failure_rate=0.15, drop_rate=0.15, seed=7)
    df = orders(1500)
    result = sf.track(df, "order_placed", client=served.client, progress=False)
    assert result.status.eq("queued").all(), result.status.value_counts()
    assert sb.stats["drops"] > 0 and sb.stats["failures"] > 0
    sb.faults = Faults()
    again = sf.track(df, "order_placed", client=served.client, progress=False)
    assert again.replayed.all()
    assert once_each(sb, df)


def test_progress_counts_rows(client: Client) -> None:
    seen: list[ProgressEvent] = []
    sf.track(orders(150), "order_placed", client=client, progress=seen.append)
    assert seen[-1].finished and seen[-1].done == 150 and seen[-1].failed == 0
    assert seen[-1].desc == "track"


def test_a_batch_the_server_refuses_names_the_bad_item(client: Client, sandbox: Sandbox) -> None:
    # A name longer than the server accepts: the server refuses the whole batch, naming it.
    df = orders(3)
    df["event"] = ["order_placed", "x" * 300, "order_placed"]
    result = sf.track(df, name_column="event", client=client, progress=False)
    assert result.status.astype(str).tolist() == ["failed", "rejected", "failed"]
    assert result.error_field[10] == "name"
    assert sandbox.events == []
