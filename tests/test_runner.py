"""The one runner under every sending operation: a route the server lacks stops the run
with one MissingRouteError (never rows promised a resend that cannot succeed), and the
seams later work builds on (sending a subset of the rows, hearing which rows the server
confirmed) behave as documented."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from spotzee_frames import Client, MissingRouteError, PermissionDeniedError, upsert
from spotzee_frames._cli import cli
from spotzee_frames._prepare import prepare
from spotzee_frames._runner import Planned, run
from spotzee_frames._upsert import _operation
from spotzee_frames.sandbox import Sandbox

from .conftest import FAST, Served


def contacts(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "external_id": [f"c{k}" for k in range(n)],
            "email": [f"c{k}@example.com" for k in range(n)],
            "plan": ["pro" if k % 3 else None for k in range(n)],
        }
    )


class _WithoutBatchRoute(httpx.AsyncBaseTransport):
    """The sandbox, less `POST /users/batch`: a framework's plain-text 405 instead."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/users/batch"):
            return httpx.Response(405, text="Method Not Allowed")
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _without_batch_route(sandbox: Sandbox) -> Client:
    return Client(
        "sk_test_no_batch",
        "http://localhost/api/client",
        transport=_WithoutBatchRoute(sandbox.transport()),
        **FAST,
    )


@pytest.mark.parametrize("answer", ["plain 404", "plain 405"])
def test_upsert_to_a_server_without_the_batch_route_stops_with_one_error(
    client: Client, sandbox: Sandbox, answer: str
) -> None:
    df = contacts(250)
    if answer == "plain 404":
        sandbox.inject("plain404", times=100, path="/users/batch")
        api = client
    else:
        api = _without_batch_route(sandbox)
    with pytest.raises(MissingRouteError) as caught:
        upsert(df, client=api, progress=False)
    api.close()
    error = caught.value
    assert "POST /users/batch" in str(error)
    assert 'mode="async"' in str(error) and "PATCH /users" in str(error)
    assert error.method == "POST" and error.path == "/users/batch"
    partial = error.result
    assert partial.index.equals(df.index)
    assert not partial.status.isin(["failed", "upserted"]).any()  # nothing promised a resend
    assert partial.status.eq("interrupted").all()
    assert partial.error_code.dropna().eq("route_missing").all()
    assert sandbox.users == {}


def test_async_mode_goes_through_where_the_batch_route_is_missing(sandbox: Sandbox) -> None:
    with _without_batch_route(sandbox) as api:
        result = upsert(contacts(120), mode="async", client=api, progress=False)
    assert result.status.eq("queued").all()
    assert len(sandbox.users) == 120


def test_a_missing_resource_is_no_missing_route(tampered: Any) -> None:
    # A 404 in the API's envelope names a resource, not a route: the rows fail as usual.
    def enveloped(request: httpx.Request, response: httpx.Response, body: bytes) -> httpx.Response:
        message = "no such thing"
        return httpx.Response(
            404,
            json={
                "status": "error",
                "code": "resource_missing",
                "message": message,
                "error": message,
            },
        )

    result = upsert(contacts(3), client=tampered(enveloped), progress=False)
    assert result.status.eq("failed").all()


def test_cli_exits_2_naming_the_route_and_the_way_out(tmp_path: Path, served: Served) -> None:
    path = tmp_path / "contacts.csv"
    contacts(5).to_csv(path, index=False)
    served.sandbox.inject("plain404", times=10, path="/users/batch")
    env = {"SPOTZEE_API_KEY": "sk_test_cli", "SPOTZEE_BASE_URL": served.base_url}
    result = CliRunner().invoke(cli, ["upsert", str(path)], env=env, catch_exceptions=False)
    assert result.exit_code == 2
    assert "POST /users/batch" in result.stderr and "--mode async" in result.stderr
    assert served.sandbox.users == {}


def test_run_sends_a_subset_in_full_batches_and_says_what_was_confirmed(
    sandbox: Sandbox, client: Client
) -> None:
    df = contacts(500)
    prepared = prepare(df)
    op = _operation(prepared, mode="sync", batch_size=100)
    subset = prepared.sendable[np.r_[0:50, 120:300, 400:420]]
    heard: list[tuple[Planned, np.ndarray]] = []
    builder = prepared.result_builder(extra={"user_id": "Int64", "replayed": "boolean"})
    result = run(
        op,
        builder,
        client,
        progress=False,
        rows=subset,
        on_settled=lambda one, confirmed: heard.append((one, confirmed)),
    )
    assert set(sandbox.users) == {f"c{k}" for k in subset.tolist()}
    bodies = [r for r in sandbox.requests if r.path.endswith("/users/batch")]
    assert [len(one.rows) for one, _ in sorted(heard, key=lambda h: h[0].number or 0)] == [
        100,
        100,
        50,
    ]
    assert len(bodies) == 3
    confirmed = np.sort(np.concatenate([c for _, c in heard]))
    assert np.array_equal(confirmed, subset)
    assert result.status.iloc[subset].eq("upserted").all()
    others = np.setdiff1d(np.arange(len(df)), subset)
    assert result.status.iloc[others].eq("interrupted").all()


def test_run_with_a_key_that_stops_working_keeps_the_partial_result(tampered: Any) -> None:
    calls = {"n": 0}

    def revoke(request: httpx.Request, response: httpx.Response, body: bytes) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] > 1:
            return httpx.Response(
                403,
                json={
                    "status": "error",
                    "code": "permission_denied",
                    "message": "no",
                    "error": "no",
                },
            )
        return httpx.Response(response.status_code, headers=response.headers, content=body)

    with pytest.raises(PermissionDeniedError) as caught:
        upsert(contacts(300), client=tampered(revoke, max_concurrency=1), progress=False)
    assert caught.value.result.status.astype(str).iloc[:100].eq("upserted").all()


frames = st.lists(
    st.tuples(
        st.one_of(st.none(), st.text(min_size=1, max_size=6)),
        st.one_of(st.none(), st.integers(-5, 5)),
        st.one_of(st.none(), st.sampled_from(["x", "y", ""])),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(frames, st.data())
def test_the_body_of_any_subset_is_the_body_of_a_frame_of_just_those_rows(
    rows: list[tuple[Any, Any, Any]], data: st.DataObject
) -> None:
    df = pd.DataFrame(
        {
            "external_id": [f"id{k}" for k in range(len(rows))],
            "anonymous_id": pd.array([r[0] for r in rows], dtype="string"),
            "n": pd.array([r[1] for r in rows], dtype="Int64"),
            "tag": [r[2] for r in rows],
        }
    )
    prepared = prepare(df)
    if not prepared.n_sendable:
        return
    chosen = data.draw(
        st.lists(st.integers(0, prepared.n_sendable - 1), min_size=1, unique=True).map(sorted)
    )
    items = np.asarray(chosen, dtype=np.int64)
    alone = prepare(df.iloc[prepared.sendable[items]])
    assert prepared.body_at(items) == alone.body()
