"""Batching: full batches of sendable rows, exact bodies, stable and distinct keys; and the
preparation that feeds it (every row accounted for, duplicates by policy)."""

from __future__ import annotations

from typing import Any

import blake3
import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotzee_frames._batching import (
    MAX_BATCH_SIZE,
    batch_bounds,
    check_batch_size,
    encode_body,
    idempotency_key,
    iter_batches,
)
from spotzee_frames._encoding import MISSING, encode_value
from spotzee_frames._errors import ValidationError
from spotzee_frames._prepare import prepare


def test_batch_bounds_are_full_except_the_last() -> None:
    assert batch_bounds(0, 100) == []
    assert batch_bounds(250, 100) == [(0, 100), (100, 200), (200, 250)]
    assert batch_bounds(3, 1) == [(0, 1), (1, 2), (2, 3)]


@pytest.mark.parametrize("bad", [0, -1, 101, 1000, 2.5, "100", True, None])
def test_batch_size_out_of_range(bad: Any) -> None:
    with pytest.raises(ValidationError, match=f"from 1 to {MAX_BATCH_SIZE}"):
        check_batch_size(bad)


def test_key_is_a_prefixed_blake3_of_method_path_and_body() -> None:
    body = encode_body([{"external_id": "1"}])
    assert body == b'[{"external_id":"1"}]'
    key = idempotency_key("post", "/users/batch", body)
    want = blake3.blake3(b"POST /users/batch\n" + body).hexdigest()
    assert key == f"sfu_{want}"
    assert 1 <= len(key) <= 255
    assert idempotency_key("POST", "/users/batch", body) == key  # stable
    assert idempotency_key("PATCH", "/users", body) != key  # sync and async never collide
    assert idempotency_key("POST", "/users/batch", body + b" ") != key


def test_iter_batches_builds_each_body_from_its_slice() -> None:
    items = [{"external_id": str(i)} for i in range(7)]
    seen: list[tuple[int, int]] = []

    def build(a: int, b: int) -> bytes:
        seen.append((a, b))
        return encode_body(items[a:b])

    batches = list(iter_batches(7, build, method="POST", path="/users/batch", batch_size=3))
    assert [(b.number, b.start, b.stop, len(b)) for b in batches] == [
        (0, 0, 3, 3),
        (1, 3, 6, 3),
        (2, 6, 7, 1),
    ]
    assert seen == [(0, 3), (3, 6), (6, 7)]
    assert [orjson.loads(b.body) for b in batches] == [items[0:3], items[3:6], items[6:7]]
    assert len({b.key for b in batches}) == 3
    call = batches[0].call()
    assert call.content == batches[0].body and call.idempotency_key == batches[0].key


def _frame(n_good: int, bad_every: int) -> pd.DataFrame:
    ids = [f"c{i}" for i in range(n_good)]
    emails = [
        "not-an-email" if bad_every and i % bad_every == 0 else f"u{i}@x.com" for i in range(n_good)
    ]
    return pd.DataFrame({"external_id": ids, "email": emails, "n": range(n_good)})


def test_invalid_rows_leave_no_holes_in_batches() -> None:
    df = _frame(50, bad_every=3)  # 17 invalid, 33 valid
    prepared = prepare(df)
    assert prepared.n_sendable == 33
    batches = list(
        iter_batches(
            prepared.n_sendable,
            prepared.body,
            method="POST",
            path="/users/batch",
            batch_size=10,
        )
    )
    assert [len(b) for b in batches] == [10, 10, 10, 3]
    sent = [item["external_id"] for b in batches for item in orjson.loads(b.body)]
    assert sent == [f"c{i}" for i in range(50) if i % 3]


def test_keys_are_stable_across_runs_and_distinct_across_batches() -> None:
    df = _frame(250, bad_every=0)

    def keys() -> list[str]:
        p = prepare(df)
        return [
            b.key for b in iter_batches(p.n_sendable, p.body, method="POST", path="/users/batch")
        ]

    first, second = keys(), keys()
    assert first == second
    assert len(set(first)) == len(first) == 3


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 120),
    batch_size=st.integers(1, 100),
    bad=st.sets(st.integers(0, 119)),
    dupes=st.sets(st.integers(1, 119)),
    policy=st.sampled_from(["reject", "first", "last"]),
)
def test_property_every_row_accounted_for_and_batches_full(
    n: int, batch_size: int, bad: set[int], dupes: set[int], policy: str
) -> None:
    ids = [f"c{i}" for i in range(n)]
    for i in dupes:
        if i < n:
            ids[i] = ids[i - 1]  # share an id with the row before
    emails = ["nope" if i in bad else f"u{i}@x.com" for i in range(n)]
    df = pd.DataFrame(
        {"external_id": ids, "email": emails, "v": np.arange(n, dtype=float)},
        index=pd.Index(np.arange(n) % 7, name="dup-labels"),
    )
    p = prepare(df, duplicates=policy)  # type: ignore[arg-type]
    frame = p.result_builder().to_frame()
    assert len(frame) == n and frame.index.equals(df.index)
    held = set()
    for problem in p.problems:
        held.update(problem.positions.tolist())
    assert held.isdisjoint(p.sendable.tolist())
    assert held | set(p.sendable.tolist()) == set(range(n))  # every row accounted for once
    assert (frame.status.iloc[p.sendable] == "interrupted").all()
    assert frame.status.iloc[sorted(held)].isin(["invalid", "skipped"]).all()
    batches = list(
        iter_batches(
            p.n_sendable, p.body, method="POST", path="/users/batch", batch_size=batch_size
        )
    )
    sizes = [len(b) for b in batches]
    assert all(s == batch_size for s in sizes[:-1]) and sum(sizes) == p.n_sendable
    sent_ids = [item["external_id"] for b in batches for item in orjson.loads(b.body)]
    assert len(sent_ids) == len(set(sent_ids))  # never two rows for one user in a call
    assert len({b.key for b in batches}) == len(batches)
    for b in batches:
        assert b"NaN" not in b.body and b"nan" not in b.body


_cell = st.one_of(
    st.none(),
    st.text(max_size=6),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=False),
    st.booleans(),
)


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(st.none(), st.text("abcXYZ019", min_size=1, max_size=4)), _cell, _cell, _cell
        ),
        max_size=40,
    ),
    anonymous=st.booleans(),
    nulls=st.sampled_from(["omit", "clear"]),
    start=st.integers(0, 40),
    width=st.integers(0, 40),
)
def test_property_bodies_hold_each_sendable_row_with_missing_keys_left_out(
    rows: list[tuple[Any, Any, Any, Any]], anonymous: bool, nulls: str, start: int, width: int
) -> None:
    """Each item of `Prepared.body` is its row: every value encoded by the column rules,
    a left-out value's key absent, `data` absent when it would be empty; any slice of the
    rows gives the same items."""
    data_columns = ["a b", "ü", "data"]
    df = pd.DataFrame(
        {
            "external_id": pd.Series([r[0] for r in rows], dtype=object),
            **{
                c: pd.Series([r[i + 1] for r in rows], dtype=object)
                for i, c in enumerate(data_columns)
            },
        }
    )
    if anonymous:
        df["anonymous_id"] = "anon"
    p = prepare(df, nulls=nulls, duplicates="first")  # type: ignore[arg-type]
    items = orjson.loads(p.body())
    assert len(items) == p.n_sendable
    for position, item in zip(p.sendable.tolist(), items, strict=True):
        want: dict[str, Any] = {}
        if rows[position][0] is not None:
            want["external_id"] = rows[position][0]
        if anonymous:
            want["anonymous_id"] = "anon"
        data = {}
        for i, column in enumerate(data_columns):
            value = encode_value(rows[position][i + 1], nulls=nulls)  # type: ignore[arg-type]
            if value is not MISSING:
                data[column] = value
        if data:
            want["data"] = data
        assert item == want
    stop = min(start + width, p.n_sendable)
    start = min(start, stop)
    assert orjson.loads(p.body(start, stop)) == items[start:stop]
    assert p.payloads(start, stop) == items[start:stop]
