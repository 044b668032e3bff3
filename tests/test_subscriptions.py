"""Subscriptions: the listings, and `set_subscription` from a frame — per-row results from
`POST /subscriptions/batch`, every state spelling, bad rows, and the per-user `PATCH`
fallback on a server without the bulk route — asserted on the sandbox's stored states."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pandas as pd
import pytest

import spotzee_frames as sf
from spotzee_frames import Client, MissingRouteError, NotFoundError, ValidationError
from spotzee_frames.sandbox import Sandbox

from .conftest import FAST, Served


class _Without(httpx.AsyncBaseTransport):
    """The sandbox, less some routes: a framework's plain-text 404 for them (Parcelvoy), or
    its 405 where other methods serve the path (koa-router's answer)."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, *suffixes: str, method: str, status: int = 404
    ) -> None:
        self.inner, self.suffixes, self.method, self.status = inner, suffixes, method, status

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == self.method and request.url.path.endswith(self.suffixes):
            text = "Not Found" if self.status == 404 else "Method Not Allowed"
            return httpx.Response(self.status, text=text)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def without(sandbox: Sandbox, *suffixes: str, method: str = "POST") -> Client:
    transport = _Without(sandbox.transport(), *suffixes, method=method)
    return Client("sk_test_pv", "http://localhost/api/client", transport=transport, **FAST)


def posts(sandbox: Sandbox, suffix: str) -> list[Any]:
    return [r for r in sandbox.requests if r.method != "GET" and r.path.endswith(suffix)]


def test_subscriptions_listing_is_typed(client: Client) -> None:
    frame = sf.subscriptions(client=client)
    assert frame["id"].tolist() == [1, 2, 3, 4, 5]
    assert str(frame["id"].dtype) == "Int64" and str(frame["is_public"].dtype) == "boolean"
    assert isinstance(frame["channel"].dtype, pd.CategoricalDtype)
    assert "in_app" in frame["channel"].cat.categories
    assert str(frame["created_at"].dtype) == "datetime64[ns, UTC]"
    assert sf.subscriptions(client=client, channel="email")["id"].tolist() == [1, 2]


def test_an_unsubscribe_list(client: Client, sandbox: Sandbox) -> None:
    sandbox.add_users(250)
    frame = pd.DataFrame({"external_id": [f"u{k}" for k in range(1, 251)]}, index=range(1000, 1250))
    result = frame.spotzee.set_subscription(1, state="unsubscribed", client=client, progress=False)
    assert result.index.equals(frame.index)
    assert result.status.eq("updated").all()
    assert result.state.eq("unsubscribed").all() and result.batch.max() == 2
    assert all(sandbox.subscription_states(f"u{k}")[1] == 0 for k in range(1, 251))
    assert sandbox.subscription_states("u1")[2] == 1  # the others untouched
    assert len(posts(sandbox, "/subscriptions/batch")) == 3
    assert str(sf.summary(result)).startswith("Subscriptions: 250 rows — 250 updated")
    again = sf.set_subscription(frame, 1, state=0, client=client, progress=False)
    assert again.replayed.all()
    assert set(sandbox.subscription_writes.values()) == {1}  # replayed, not applied again


def test_every_state_spelling_per_row(client: Client, sandbox: Sandbox) -> None:
    sandbox.add_users(8)
    frame = pd.DataFrame(
        {
            "external_id": [f"u{k}" for k in range(1, 9)],
            "wants": ["unsubscribed", "Subscribed", "opted-in", 0, 1, 2, True, False],
        }
    )
    result = sf.set_subscription(frame, 3, state_column="wants", client=client, progress=False)
    assert result.status.eq("updated").all()
    stored = [sandbox.subscription_states(f"u{k}")[3] for k in range(1, 9)]
    assert stored == [0, 1, 2, 0, 1, 2, 1, 0]
    assert result.state.tolist()[-2:] == ["subscribed", "unsubscribed"]  # True subscribes


def test_bad_rows_and_server_refusals_are_rows(client: Client, sandbox: Sandbox) -> None:
    sandbox.add_users(3)
    frame = pd.DataFrame(
        {
            "CustomerID": ["u1", None, "ghost", "u2", "u3", "u3", "u2", 4.5],
            "state": [0, 0, 0, "maybe", 1, 1, None, 0],
        }
    )
    result = sf.set_subscription(
        frame,
        1,
        state_column="state",
        mapping={"CustomerID": "external_id"},
        client=client,
        progress=False,
    )
    assert result.status.astype(str).tolist() == [
        "updated",  # u1
        "invalid",  # no id
        "rejected",  # the server knows no 'ghost'
        "invalid",  # 'maybe'
        "updated",  # u3
        "skipped",  # u3 again, the same state
        "invalid",  # no state
        "invalid",  # 4.5 is no id
    ]
    assert result.error_code[2] == "resource_missing" and "ghost" in result.error_message[2]
    assert result.error_field[3] == "state" and "opted_in" in result.error_message[3]
    assert sandbox.subscription_writes == Counter({("u1", 1): 1, ("u3", 1): 1})


def test_conflicting_rows_for_one_user_are_all_held_back(client: Client, sandbox: Sandbox) -> None:
    sandbox.add_users(1)
    frame = pd.DataFrame({"external_id": ["u1", "u1"], "s": ["subscribed", "unsubscribed"]})
    result = sf.set_subscription(frame, 1, state_column="s", client=client, progress=False)
    assert result.status.eq("invalid").all()
    last = sf.set_subscription(frame, 1, state_column="s", duplicates="last", client=client)
    assert last.status.astype(str).tolist() == ["skipped", "updated"]
    assert sandbox.subscription_states("u1")[1] == 0


def test_caller_mistakes_raise_before_sending(client: Client, sandbox: Sandbox) -> None:
    frame = pd.DataFrame({"external_id": ["u1"], "s": [1]})
    for options, message in [
        ({}, "one of the two"),
        ({"state": 1, "state_column": "s"}, "one of the two"),
        ({"state": "maybe"}, "not a subscription state"),
        ({"state": 3}, "not a subscription state"),
        ({"state_column": "nope"}, "not a column"),
        ({"state": 1, "batch_size": 0}, "batch_size"),
    ]:
        with pytest.raises(ValidationError, match=message):
            sf.set_subscription(frame, 1, client=client, **options)
    with pytest.raises(ValidationError, match="subscription_id"):
        sf.set_subscription(frame, 0, state=1, client=client)
    with pytest.raises(ValidationError, match="external_id"):
        sf.set_subscription(frame.rename(columns={"external_id": "who"}), 1, state=1, client=client)
    assert sandbox.requests == []
    with pytest.raises(NotFoundError, match="subscription 99 does not exist"):
        sf.set_subscription(frame, 99, state=1, client=client)
    assert posts(sandbox, "/subscriptions/batch") == []


def test_a_dry_run_sends_and_looks_up_nothing(sandbox: Sandbox) -> None:
    frame = pd.DataFrame({"external_id": ["u1", None]})
    result = sf.set_subscription(frame, 99, state=False, dry_run=True)
    assert result.status.astype(str).tolist() == ["valid", "invalid"]
    assert result.state.tolist() == ["unsubscribed", "unsubscribed"]
    assert sandbox.requests == []


def test_without_the_bulk_route_one_patch_per_user_gives_the_same_result(
    sandbox: Sandbox,
) -> None:
    sandbox.add_users(3)
    frame = pd.DataFrame({"external_id": ["u1", "u2", "ghost", "u3"], "s": [0, 2, 0, True]})
    with without(sandbox, "/subscriptions/batch") as api:
        result = sf.set_subscription(frame, 4, state_column="s", client=api, progress=False)
    assert result.status.astype(str).tolist() == ["updated", "updated", "rejected", "updated"]
    assert result.error_code[2] == "resource_missing"
    assert result.batch.isna().all()
    patches = posts(sandbox, "/subscriptions")
    assert sorted(r.path for r in patches) == sorted(
        f"/users/{u}/subscriptions" for u in ("u1", "u2", "ghost", "u3")
    )
    assert all(r.idempotency_key for r in patches)
    assert [sandbox.subscription_states(u)[4] for u in ("u1", "u2", "u3")] == [0, 2, 1]


def test_the_fallback_survives_faults_and_replays_on_a_rerun(served: Served) -> None:
    sb = served.sandbox
    sb.add_users(40)
    sb.inject("503", times=3, method="PATCH")
    sb.inject("drop", times=3, method="PATCH")
    transport = _Without(httpx.AsyncHTTPTransport(), "/subscriptions/batch", method="POST")
    frame = pd.DataFrame({"external_id": [f"u{k}" for k in range(1, 41)]})
    with Client("sk_test_pv", served.base_url, transport=transport, **FAST) as api:
        result = sf.set_subscription(frame, 1, state="unsubscribed", client=api, progress=False)
        assert result.status.eq("updated").all()
        assert set(sb.subscription_writes.values()) == {1}
        again = sf.set_subscription(frame, 1, state="unsubscribed", client=api, progress=False)
    assert again.status.eq("updated").all() and again.replayed.all()
    assert set(sb.subscription_writes.values()) == {1}


def test_ids_that_need_encoding_in_the_path(sandbox: Sandbox) -> None:
    odd = "a/b c?d%"
    with Client.sandbox(sandbox, **FAST) as api:
        api.request("POST", "/users/batch", json=[{"external_id": odd}])
    with without(sandbox, "/subscriptions/batch") as api:
        result = sf.set_subscription(pd.DataFrame({"external_id": [odd]}), 2, state=0, client=api)
    assert result.status.eq("updated").all()
    assert sandbox.subscription_states(odd)[2] == 0


def test_when_neither_route_exists_one_error_says_so(sandbox: Sandbox) -> None:
    sandbox.add_users(2)
    # GET /users/{id}/subscriptions is there, so a server without the PATCH answers 405 (a
    # plain 404 on that path is how Parcelvoy says the user does not exist)
    neither = _Without(
        _Without(sandbox.transport(), "/subscriptions/batch", method="POST"),
        "/subscriptions",
        method="PATCH",
        status=405,
    )
    with (
        Client("sk_test_pv", "http://localhost/api/client", transport=neither, **FAST) as api,
        pytest.raises(MissingRouteError, match=r"PATCH /users/u[12]/subscriptions") as caught,
    ):
        sf.set_subscription(pd.DataFrame({"external_id": ["u1", "u2"]}), 1, state=0, client=api)
    assert not caught.value.result.status.isin(["failed", "updated"]).any()
    assert sandbox.subscription_writes == Counter()


def test_user_subscriptions_one_row_per_user_and_subscription(
    client: Client, sandbox: Sandbox
) -> None:
    sandbox.add_users(3)
    sf.set_subscription(
        pd.DataFrame({"external_id": ["u2"]}), 1, state="opted_in", client=client, progress=False
    )
    frame = sf.user_subscriptions(pd.DataFrame({"external_id": ["u1", "u2", "u2"]}), client=client)
    assert len(frame) == 10
    assert list(frame.columns[:5]) == ["external_id", "subscription_id", "name", "channel", "state"]
    assert list(frame["state"].cat.categories) == ["unsubscribed", "subscribed", "opted_in"]
    states = frame.set_index(["external_id", "subscription_id"])["state"]
    assert states[("u2", 1)] == "opted_in" and states[("u1", 1)] == "subscribed"
    with pytest.raises(NotFoundError, match="'ghost'"):
        sf.user_subscriptions(["u1", "ghost"], client=client)
    kept = sf.user_subscriptions(["u1", "ghost", "u3"], errors="ignore", client=client)
    assert set(kept.external_id) == {"u1", "u3"}
    empty = sf.user_subscriptions([], client=client)
    assert len(empty) == 0 and isinstance(empty["state"].dtype, pd.CategoricalDtype)
