"""upsert end to end against the sandbox: what Spotzee stored, field by field; null
policies; duplicates; async mode; dry runs; faults; replays; interruption; alignment."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest

import spotzee_frames  # noqa: F401  (registers df.spotzee)
from spotzee_frames import (
    API_VERSION,
    AuthenticationError,
    Client,
    Interrupted,
    NumericIdWarning,
    ProgressEvent,
    ValidationError,
)
from spotzee_frames._upsert import preview_payloads, upsert
from spotzee_frames.sandbox import Faults, Sandbox

from .conftest import FAST, Served, problem

RESULT_COLUMNS = [
    "status",
    "error_code",
    "error_field",
    "error_message",
    "warning_code",
    "warning_field",
    "warning_message",
    "external_id",
    "batch",
    "attempts",
    "request_id",
    "user_id",
    "replayed",
]


def contacts(n: int, *, start: int = 0, prefix: str = "c") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "external_id": [f"{prefix}{i}" for i in range(start, start + n)],
            "email": [f"user{i}@Example.com" for i in range(start, start + n)],
            "plan": ["gold" if i % 2 else "free" for i in range(start, start + n)],
            "visits": pd.array(range(start, start + n), dtype="Int64"),
        }
    )


def batch_requests(sb: Sandbox, path: str = "/users/batch") -> list[Any]:
    return [r for r in sb.requests if r.path == path]


# -- the messy frame ----------------------------------------------------------------------------

SYD = "Australia/Sydney"


def messy() -> pd.DataFrame:
    """Every dtype the issue lists, and every kind of bad value, one row per case."""
    n = 14
    df = pd.DataFrame(
        {
            "CustomerID": pd.Series(
                [
                    17,
                    "c2",
                    3.0,
                    None,
                    "c5",
                    "c6",
                    "c7",
                    "c8",
                    "c9",
                    "c10",
                    "c11",
                    "c12",
                    "c13",
                    "x" * 300,
                ],
                dtype=object,
            ),
            "anon": pd.Series(
                [
                    None,
                    None,
                    None,
                    "anon-4",
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                ],
                dtype="string[pyarrow]",
            ),
            "Email": [
                " Ann@Example.COM ",
                "bob@x.io",
                None,
                "",
                "bad@",
                "e@x.com",
                "f@x.com",
                "g@x.com",
                "h@x.com",
                "i@x.com",
                "j@x.com",
                "k@x.com",
                "l@x.com",
                "m@x.com",
            ],
            "Mobile": [
                "+61 400 123 456",
                "0400 123 457",
                None,
                None,
                None,
                None,
                None,
                "+15552671",
                None,
                None,
                None,
                None,
                None,
                None,
            ],
            "tz": [
                "australia/sydney",
                "UTC",
                None,
                None,
                None,
                None,
                None,
                "Mars/Base",
                None,
                None,
                None,
                None,
                None,
                None,
            ],
            "lang": [
                "en_au",
                "fr",
                None,
                None,
                None,
                None,
                None,
                "C",
                None,
                None,
                None,
                None,
                None,
                None,
            ],
            "first_name": [
                "Ann",
                "Bob",
                None,
                "Dee",
                "Eve",
                "Fay",
                "Gus",
                "Hal",
                "Ida",
                "Jo",
                "Kim",
                "Lu",
                "Max",
                "Ned",
            ],
            "orders": pd.array([3, None, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], dtype="Int64"),
            "small": pd.array([1] * n, dtype="UInt8"),
            "ltv": [12.5, np.nan, 7.0, 1.0, 1.0, np.inf, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
            "score32": np.array([0.1] * n, dtype="float32"),
            "vip": pd.array([True, None, False] + [False] * 11, dtype="boolean"),
            "active": np.array([True, False] * 7),
            "tier": pd.Categorical(["gold", None, "free"] + ["free"] * 11),
            "signed_up": pd.to_datetime(
                ["2024-05-01 10:00"] * 2 + [None] + ["2024-01-02 00:00"] * 11
            ),
            "last_seen": pd.Series(pd.to_datetime(["2024-05-01 10:00"] * n)).dt.tz_localize(SYD),
            "birthday": [dt.date(1990, 2, 3), None] + [dt.date(2000, 1, 1)] * 12,
            "tenure": pd.to_timedelta(["1 days 02:00:00", None] + ["0s"] * 12),
            "balance": [decimal.Decimal("19.99"), decimal.Decimal("0.1000000000000000000001")]
            + [decimal.Decimal("1")] * 12,
            "tags": [["a", "b"], [], None] + [["x"]] * 11,
            "prefs": [{"news": True, "freq": np.nan}, {}, None] + [{"k": 1}] * 11,
            "misc": pd.Series(
                [1, "two", 3.5, None, True, None, b"raw", None, None, None, None, None, None, None],
                dtype=object,
            ),
            "region": pd.Series(["NSW", None] + ["VIC"] * 12, dtype="string[pyarrow]"),
        }
    )
    df.index = pd.Index([f"r{i}" for i in range(n)], name="row")
    return df


MESSY_MAPPING = {
    "CustomerID": "external_id",
    "anon": "anonymous_id",
    "Email": "email",
    "Mobile": "phone",
    "tz": "timezone",
    "lang": "locale",
}


def test_messy_frame_every_dtype_stored_field_by_field(client: Client, sandbox: Sandbox) -> None:
    df = messy()
    result = upsert(
        df,
        MESSY_MAPPING,
        default_region="AU",
        invalid_fields="reject",  # every unusable value holds its row back
        client=client,
        progress=False,
    )

    assert list(result.columns) == RESULT_COLUMNS
    assert result.index.equals(df.index)
    assert str(result.status.dtype) == "string"  # value_counts() is what happened
    assert str(result.batch.dtype) == "Int64" and str(result.attempts.dtype) == "Int64"
    assert str(result.error_code.dtype) == "string"

    status = result.status.astype(str).to_dict()
    assert status == {
        "r0": "upserted",
        "r1": "upserted",
        "r2": "upserted",
        "r3": "upserted",
        "r4": "invalid",
        "r5": "invalid",
        "r6": "invalid",
        "r7": "invalid",
        "r8": "upserted",
        "r9": "upserted",
        "r10": "upserted",
        "r11": "upserted",
        "r12": "upserted",
        "r13": "rejected",
    }
    # why the invalid ones were held back
    assert result.loc["r7", "error_field"] == "phone"  # first failing field of the row
    for part in ("+15552671", "Mars/Base", "'C'"):
        assert part in result.loc["r7", "error_message"]
    assert result.loc["r4", "error_field"] == "email"
    assert result.loc["r5", "error_field"] == "data.ltv"
    assert result.loc["r5", "error_code"] == "value_not_encodable"
    assert "column 'ltv'" in result.loc["r5", "error_message"]
    assert result.loc["r6", "error_field"] == "data.misc"
    assert "bytes" in result.loc["r6", "error_message"]
    # the server refused the over-long id: rejected with its code and field
    assert result.loc["r13", "error_code"] == "parameter_invalid_format"
    assert result.loc["r13", "error_field"] == "external_id"
    # invalid rows never left the machine
    sent = [i.get("external_id") for r in batch_requests(sandbox) for i in orjson.loads(r.body)]
    assert not {"c5", "c6", "c7", "c8"} & set(sent)

    ann = sandbox.get_user("17")
    assert ann is not None
    assert ann["email"] == "Ann@example.com"
    assert ann["phone"] == "+61400123456"
    assert ann["timezone"] == SYD
    assert ann["locale"] == "en-AU"
    assert ann["data"] == {
        "first_name": "Ann",
        "orders": 3,
        "small": 1,
        "ltv": 12.5,
        "score32": 0.1,
        "vip": True,
        "active": True,
        "tier": "gold",
        "signed_up": "2024-05-01T10:00:00",
        "last_seen": "2024-05-01T10:00:00+10:00",
        "birthday": "1990-02-03",
        "tenure": "P1DT2H",
        "balance": 19.99,
        "tags": ["a", "b"],
        "prefs": {"news": True, "freq": None},
        "misc": 1,
        "region": "NSW",
    }
    assert type(ann["data"]["orders"]) is int

    bob = sandbox.get_user("c2")
    assert bob is not None
    assert bob["phone"] == "+61400123457"  # national number read with default_region
    assert bob["timezone"] == "UTC" and bob["locale"] == "fr"
    # nulls="omit": missing values are not sent at all
    assert set(bob["data"]) == {
        "first_name",
        "small",
        "score32",
        "active",
        "signed_up",
        "last_seen",
        "balance",
        "tags",
        "prefs",
        "misc",
    }
    assert bob["data"]["balance"] == "0.1000000000000000000001"
    assert bob["data"]["misc"] == "two"
    assert bob["data"]["tags"] == [] and bob["data"]["prefs"] == {}

    third = sandbox.get_user("3")  # 3.0 in an id column is the id "3"
    assert third is not None and third["email"] is None
    assert "signed_up" not in third["data"] and third["data"]["misc"] == 3.5

    anon = sandbox.users["anon-4"]  # no external_id: the anonymous id carries it
    assert anon["anonymous_id"] == "anon-4" and anon["external_id"] is None
    assert anon["email"] is None  # a blank email is missing, and missing is omitted

    for user in sandbox.users.values():  # never the text of a missing value
        text = orjson.dumps(user).decode()
        for bad in ('"nan"', '"NaN"', '"NaT"', '"None"', '"<NA>"'):
            assert bad not in text
    assert all(count == 1 for count in sandbox.write_counts.values())


def test_messy_frame_upserted_rows_report_batch_attempts_and_request(client: Client) -> None:
    result = upsert(messy(), MESSY_MAPPING, default_region="AU", client=client, progress=False)
    done = result[result.status.eq("upserted")]
    assert done.batch.eq(0).all() and done.attempts.eq(1).all()
    assert done.request_id.str.startswith("req_").all()
    assert done.user_id.notna().all() and done.replayed.eq(False).all()
    held = result[result.status.eq("invalid")]
    assert held.batch.isna().all() and held.request_id.isna().all()


# -- nulls ---------------------------------------------------------------------------------------


def test_nulls_omit_keeps_stored_values_and_clear_wipes_them(
    client: Client, sandbox: Sandbox
) -> None:
    full = pd.DataFrame({"external_id": ["a"], "email": ["a@x.com"], "plan": ["gold"], "n": [1.0]})
    upsert(full, client=client, progress=False)
    partial = pd.DataFrame({"external_id": ["a"], "email": [None], "plan": [None], "n": [np.nan]})

    upsert(partial, client=client, progress=False)  # nulls="omit"
    user = sandbox.get_user("a")
    assert user is not None
    assert user["email"] == "a@x.com" and user["data"] == {"plan": "gold", "n": 1.0}

    result = upsert(partial, nulls="clear", client=client, progress=False)
    assert result.status.eq("upserted").all()
    user = sandbox.get_user("a")
    assert user is not None
    assert user["email"] is None
    assert user["data"] == {"plan": None, "n": None}
    body = orjson.loads(batch_requests(sandbox)[-1].body)
    assert body == [{"external_id": "a", "email": None, "data": {"plan": None, "n": None}}]


# -- duplicates ----------------------------------------------------------------------------------


def _dupes() -> pd.DataFrame:
    return pd.DataFrame(
        {"external_id": ["a", "b", "a", "c", "c"], "plan": ["one", "x", "two", "same", "same"]},
        index=[10, 11, 12, 13, 14],
    )


def test_duplicates_reject_by_default_but_send_one_of_identical_copies(
    client: Client, sandbox: Sandbox
) -> None:
    result = upsert(_dupes(), client=client, progress=False)
    assert result.status.astype(str).tolist() == [
        "invalid",
        "upserted",
        "invalid",
        "upserted",
        "skipped",
    ]
    assert result.error_code[[10, 12, 14]].eq("duplicate_external_id").all()
    assert "rows 10, 12" in result.loc[10, "error_message"]
    assert "row 13" in result.loc[14, "error_message"]
    assert sandbox.get_user("a") is None
    assert sandbox.write_counts["c"] == 1


@pytest.mark.parametrize(("policy", "kept", "skipped"), [("first", 10, 12), ("last", 12, 10)])
def test_duplicates_first_or_last(
    client: Client, sandbox: Sandbox, policy: str, kept: int, skipped: int
) -> None:
    result = upsert(_dupes(), duplicates=policy, client=client, progress=False)  # type: ignore[arg-type]
    assert result.loc[kept, "status"] == "upserted"
    assert result.loc[skipped, "status"] == "skipped"
    assert f"row {kept}" in result.loc[skipped, "error_message"]
    user = sandbox.get_user("a")
    assert user is not None and user["data"]["plan"] == ("one" if policy == "first" else "two")
    assert sandbox.write_counts["a"] == 1


# -- modes, dry runs, options --------------------------------------------------------------------


def test_async_mode_patches_and_queues(client: Client, sandbox: Sandbox) -> None:
    df = contacts(150)
    result = upsert(df, mode="async", client=client, progress=False)
    assert result.status.eq("queued").all()
    patches = batch_requests(sandbox, "/users")
    assert [r.method for r in patches] == ["PATCH", "PATCH"]
    assert all(r.status == 204 for r in patches)
    assert result.batch.tolist() == [0] * 100 + [1] * 50
    assert {r.idempotency_key for r in patches} == set(
        result.request_id.dropna().map(
            lambda rid: next(r.idempotency_key for r in patches if r.request_id == rid)
        )
    )
    assert len(sandbox.users) == 150


def test_sync_and_async_keys_never_collide(client: Client, sandbox: Sandbox) -> None:
    df = contacts(3)
    upsert(df, client=client, progress=False)
    upsert(df, mode="async", client=client, progress=False)
    keys = [r.idempotency_key for r in sandbox.requests]
    assert len(keys) == 2 and keys[0] != keys[1]
    assert sandbox.stats["mismatches"] == 0


def test_dry_run_sends_nothing_and_returns_payloads(client: Client, sandbox: Sandbox) -> None:
    df = contacts(3)
    df.loc[1, "email"] = "nope"
    result = upsert(df, dry_run=True, include_payload=True, client=client)
    assert sandbox.requests == []
    # The row with the unusable email would be sent without it (invalid_fields="omit").
    assert result.status.astype(str).tolist() == ["valid", "valid", "valid"]
    assert result.loc[0, "payload"] == {
        "external_id": "c0",
        "email": "user0@example.com",
        "data": {"plan": "free", "visits": 0},
    }
    assert result.loc[1, "payload"] == {"external_id": "c1", "data": {"plan": "gold", "visits": 1}}
    assert result.loc[1, "warning_field"] == "email"
    assert result.attempts.isna().all() and result.batch.tolist() == [0, 0, 0]
    strict = upsert(df, dry_run=True, include_payload=True, invalid_fields="reject")
    assert strict.status.astype(str).tolist() == ["valid", "invalid", "valid"]
    assert strict.loc[1, "payload"] is None and strict.batch.tolist() == [0, pd.NA, 0]


def test_dry_run_needs_no_client_or_key() -> None:
    result = upsert(contacts(2), dry_run=True)
    assert result.status.eq("valid").all()


def test_preview_payloads_sits_beside_the_source_rows() -> None:
    df = contacts(8)
    preview = preview_payloads(df, n=3)
    assert list(preview.columns) == [
        *df.columns,
        "status",
        "error_message",
        "warning_message",
        "payload",
    ]
    assert len(preview) == 3
    assert orjson.loads(preview.payload.iloc[0])["email"] == "user0@example.com"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "batch"}, "mode must be one of 'sync', 'async'"),
        ({"nulls": "zero"}, "nulls must be one of 'omit', 'clear'"),
        ({"duplicates": "keep"}, "duplicates must be one of 'reject', 'first', 'last'"),
        ({"batch_size": 101}, "from 1 to 100"),
        ({"batch_size": 0}, "from 1 to 100"),
        ({"default_region": "Australia"}, "two-letter region"),
        ({"mapping": {"email": "e_mail"}}, "unknown field 'e_mail'"),
        ({"mapping": {"nope": "email"}}, "not in the frame"),
        ({"mapping": {"plan": "email"}}, "all map to 'email'"),
        ({"mapping": {"external_id": None}}, "no column gives external_id"),
        ({"exclude": [["plan"]]}, "exclude must list column labels"),
        ({"exclude": "nope"}, "exclude names column 'nope'"),
        ({"progress": "yes"}, "progress must be None"),
    ],
)
def test_bad_calls_raise_before_sending(
    client: Client, sandbox: Sandbox, kwargs: dict[str, Any], message: str
) -> None:
    kwargs = {"progress": False, **kwargs}
    with pytest.raises(ValidationError, match=message):
        upsert(contacts(3), client=client, **kwargs)
    assert sandbox.requests == []


def test_exclude_takes_one_label_or_none(client: Client, sandbox: Sandbox) -> None:
    upsert(contacts(1), exclude="plan", client=client, progress=False)
    assert "plan" not in sandbox.users["c0"]["data"]
    upsert(contacts(1, start=1), exclude=None, client=client, progress=False)
    assert sandbox.users["c1"]["data"]["plan"] == "gold"


def test_invalid_rows_do_not_shrink_batches(client: Client, sandbox: Sandbox) -> None:
    df = contacts(30)
    df.loc[df.index % 3 == 0, "email"] = "broken"
    result = upsert(df, batch_size=7, invalid_fields="reject", client=client, progress=False)
    sizes = [len(orjson.loads(r.body)) for r in batch_requests(sandbox)]
    assert sorted(sizes, reverse=True) == [7, 7, 6]
    assert result.status.value_counts().to_dict()["upserted"] == 20


def test_accessor_forwards(client: Client, sandbox: Sandbox) -> None:
    result = contacts(2).spotzee.upsert(client=client, progress=False)
    assert result.status.eq("upserted").all()


def test_empty_frame_and_all_invalid_send_nothing(client: Client, sandbox: Sandbox) -> None:
    empty = upsert(contacts(0), client=client, progress=False)
    assert empty.empty and list(empty.columns) == RESULT_COLUMNS
    bad = contacts(2).assign(external_id=None)
    assert upsert(bad, client=client, progress=False).status.eq("invalid").all()
    bad_emails = contacts(2).assign(email="x")
    strict = upsert(bad_emails, invalid_fields="reject", client=client, progress=False)
    assert strict.status.eq("invalid").all()
    assert sandbox.requests == []


# -- index alignment -----------------------------------------------------------------------------


def test_result_is_indexed_like_a_shuffled_duplicate_labelled_frame(client: Client) -> None:
    df = contacts(250)
    df.index = pd.Index([5, 3, 5, 1, 3] * 50)
    df = df.sample(frac=1.0, random_state=7)
    df.loc[df.index == 1, "email"] = "bad"
    result = upsert(df, invalid_fields="reject", client=client, progress=False)
    assert result.index.equals(df.index)
    assert (result.external_id.to_numpy() == df.external_id.to_numpy()).all()
    assert (result.status.eq("invalid").to_numpy() == (df.index == 1)).all()
    multi = contacts(4).set_index(pd.MultiIndex.from_product([["x", "y"], [1, 2]]))
    assert upsert(multi, client=client, progress=False).index.equals(multi.index)


# -- faults, retries, replays --------------------------------------------------------------------


def _all_applied_once(sb: Sandbox, df: pd.DataFrame) -> None:
    counts = sb.write_counts
    assert {eid: counts[eid] for eid in df.external_id} == dict.fromkeys(df.external_id, 1)


def test_503s_and_drops_after_commit_end_upserted_and_applied_once(
    client: Client, sandbox: Sandbox
) -> None:
    sandbox.inject("503", times=3, path="/users/batch")
    sandbox.inject("drop", times=2, path="/users/batch")
    sandbox.inject("500", times=1, path="/users/batch")
    sandbox.inject("html502", times=1, path="/users/batch")
    df = contacts(500)
    result = upsert(df, client=client, progress=False)
    assert result.status.eq("upserted").all()
    _all_applied_once(sandbox, df)
    assert result.attempts.max() > 1
    assert sandbox.stats["drops"] == 2 and sandbox.stats["replays"] >= 2


def test_random_faults_and_429_bursts_served_over_http(served: Served) -> None:
    sb = served.sandbox
    sb.faults = Faults(failure_rate=0.2, drop_rate=0.1, seed=3)
    sb.inject("429", times=5, path="/users/batch")
    df = contacts(1000)
    result = upsert(df, client=served.client, progress=False)
    assert result.status.eq("upserted").all(), result.status.value_counts()
    _all_applied_once(sb, df)
    assert sb.stats["rate_limited"] + sb.stats["failures"] + sb.stats["drops"] > 0


def test_rerunning_the_same_call_replays(client: Client, sandbox: Sandbox) -> None:
    df = contacts(230)
    first = upsert(df, client=client, progress=False)
    counts = sandbox.write_counts
    again = upsert(df, client=client, progress=False)
    assert again.status.eq("upserted").all()
    assert again.replayed.all() and not first.replayed.any()
    assert sandbox.write_counts == counts
    assert (again.request_id == first.request_id).all()  # the original answers, replayed
    assert sandbox.stats["mismatches"] == 0


def test_batches_that_never_succeed_fail_and_can_be_resent(sandbox: Sandbox) -> None:
    # one attempt per request, one request at a time: the first two batches fail for good
    client = Client.sandbox(sandbox, **{**FAST, "max_attempts": 1, "max_concurrency": 1})
    try:
        sandbox.inject("503", times=2, path="/users/batch")
        df = contacts(450)
        result = upsert(df, client=client, progress=False)
        failed = result.status.eq("failed")
        assert failed.sum() == 200
        assert result.error_code[failed].eq("service_unavailable").all()
        assert result.attempts[failed].eq(1).all()
        assert result.request_id[failed].notna().all()
        assert result.status.eq("upserted").sum() == 250

        again = upsert(df.loc[failed], client=client, progress=False)
        assert again.status.eq("upserted").all()
        assert again.index.equals(df.index[failed])
        _all_applied_once(sandbox, df)
    finally:
        client.close()


# -- fakes around the sandbox: odd answers and auth ----------------------------------------------


def _rewrite(edit: Callable[[dict[str, Any]], None]) -> Callable[..., httpx.Response]:
    """A `tampered` edit that changes the JSON answer in place and sends it on."""

    def tamper(request: httpx.Request, response: httpx.Response, body: bytes) -> httpx.Response:
        data = orjson.loads(body)
        edit(data)
        return httpx.Response(
            response.status_code, headers=response.headers, content=orjson.dumps(data)
        )

    return tamper


def test_a_result_missing_from_the_answer_is_failed_not_upserted(tampered: Any) -> None:
    def drop_second_result(data: dict[str, Any]) -> None:
        data["results"] = [r for r in data["results"] if r["index"] != 1]
        for r in data["results"]:
            r["contact"] = r.pop("user")  # the lenient success key

    result = upsert(contacts(3), client=tampered(_rewrite(drop_second_result)), progress=False)
    assert result.status.astype(str).tolist() == ["upserted", "failed", "upserted"]
    assert result.loc[1, "error_code"] == "missing_result"


def test_401_stops_the_whole_call(tampered: Any) -> None:
    def refuse(request: httpx.Request, response: httpx.Response, body: bytes) -> httpx.Response:
        return problem(401, "authentication_required", "bad key")

    with pytest.raises(AuthenticationError):
        upsert(contacts(3), client=tampered(refuse), progress=False)


def test_whole_request_refusal_naming_items_marks_those_rejected(tampered: Any) -> None:
    def refuse(request: httpx.Request, response: httpx.Response, body: bytes) -> httpx.Response:
        item = {
            "param": "items.1.email",
            "code": "parameter_invalid_format",
            "message": "email refused",
        }
        return problem(422, "validation_failed", "bad items", errors=[item])

    result = upsert(contacts(3), client=tampered(refuse), progress=False)
    assert result.status.astype(str).tolist() == ["failed", "rejected", "failed"]
    assert result.loc[1, "error_field"] == "email"
    assert result.loc[0, "error_code"] == "validation_failed"


# -- interruption and progress ------------------------------------------------------------------


def test_keyboard_interrupt_keeps_what_was_done(sandbox: Sandbox) -> None:
    client = Client.sandbox(sandbox, **{**FAST, "max_concurrency": 1})
    sandbox.faults = Faults(latency=0.12)  # slower than the reporter's throttle: every batch shows
    seen: list[ProgressEvent] = []

    def stop_after_two_batches(event: ProgressEvent) -> None:
        seen.append(event)
        if event.done >= 200 and not event.finished:
            raise KeyboardInterrupt

    df = contacts(1000)
    df.loc[5, "external_id"] = None
    try:
        with pytest.raises(Interrupted) as info:
            upsert(df, client=client, progress=stop_after_two_batches)
    finally:
        client.close()
    partial = info.value.result
    assert isinstance(info.value, KeyboardInterrupt)
    assert partial.index.equals(df.index)
    counts = partial.status.value_counts()
    assert counts["invalid"] == 1
    assert counts["upserted"] >= 200
    assert counts["interrupted"] > 0
    assert counts["upserted"] + counts["interrupted"] + counts["invalid"] == 1000
    upserted = set(partial.external_id[partial.status.eq("upserted")])
    assert upserted <= set(sandbox.write_counts)
    # finishing the job: send what is not known to be done
    rest = df.loc[partial.status.eq("interrupted").to_numpy()]
    with Client.sandbox(sandbox, **FAST) as again:
        assert upsert(rest, client=again, progress=False).status.eq("upserted").all()


def test_progress_callback_counts_rows_and_failures(client: Client, sandbox: Sandbox) -> None:
    events: list[ProgressEvent] = []
    df = contacts(250)
    df.loc[0, "external_id"] = "x" * 300  # the server rejects this one
    upsert(df, client=client, progress=events.append)
    last = events[-1]
    assert last.finished and last.total == 250 and last.done == 250 and last.failed == 1


def test_a_row_without_any_identifier_is_filed_under_that_first(client: Client) -> None:
    frame = pd.DataFrame({"external_id": [None, "x", "y"], "email": ["bad", None, "worse"]})
    result = upsert(frame, client=client, invalid_fields="reject")
    assert list(result.status) == ["invalid", "upserted", "invalid"]
    assert result.loc[0, "error_code"] == "parameter_missing"
    assert result.loc[0, "error_field"] == "external_id"
    # Every problem of the row is still in the message, not only the first.
    assert "neither an external_id" in result.loc[0, "error_message"]
    assert "'bad'" in result.loc[0, "error_message"]
    assert result.loc[2, "error_field"] == "email"
    assert client.sandbox_instance.get_user("y") is None


def test_results_without_index_are_read_in_request_order(tampered: Any) -> None:
    def strip_indexes(data: dict[str, Any]) -> None:
        for r in data["results"]:
            del r["index"]

    result = upsert(contacts(3), client=tampered(_rewrite(strip_indexes)), progress=False)
    assert result.status.astype(str).tolist() == ["upserted"] * 3


def test_results_missing_some_indexes_are_not_guessed(tampered: Any) -> None:
    def strip_one_index(data: dict[str, Any]) -> None:
        del data["results"][0]["index"]

    result = upsert(contacts(3), client=tampered(_rewrite(strip_one_index)), progress=False)
    assert result.status.astype(str).tolist() == ["failed", "upserted", "upserted"]
    assert result.loc[0, "error_code"] == "missing_result"


def _answer(status: int, content: bytes = b"", **headers: str) -> Callable[..., httpx.Response]:
    # Spotzee answering oddly: it still echoes the version (else the client warns that the
    # server may ignore idempotency keys, which these tests are not about).
    def edit(request: httpx.Request, response: httpx.Response, body: bytes) -> httpx.Response:
        echo = {"spotzee-version": API_VERSION, **headers}
        return httpx.Response(status, headers=echo, content=content)

    return edit


@pytest.mark.parametrize(
    ("mode", "edit", "code"),
    [
        ("async", _answer(302, location="https://elsewhere.example/"), "http_error"),
        (
            "sync",
            _answer(200, b"<html>ok</html>", **{"content-type": "text/html"}),
            "invalid_response",
        ),
        (
            "async",
            _answer(200, b'{"status": "error", "code": "validation_failed"}'),
            "validation_failed",
        ),
        ("sync", _answer(200, b'{"results": null}'), "unexpected_response"),
    ],
)
def test_answers_that_are_no_success_never_read_as_one(
    tampered: Any, mode: str, edit: Any, code: str
) -> None:
    result = upsert(contacts(2), mode=mode, client=tampered(edit), progress=False)  # type: ignore[arg-type]
    assert result.status.astype(str).tolist() == ["failed", "failed"]
    assert result.error_code.tolist() == [code, code]


def test_unindexed_results_out_of_order_are_matched_by_their_external_id(tampered: Any) -> None:
    def shuffle(data: dict[str, Any]) -> None:
        for r in data["results"]:
            del r["index"]
        data["results"].reverse()
        data["results"][0] = {"external_id": "c2", "error": {"code": "parameter_invalid_format"}}

    result = upsert(contacts(3), client=tampered(_rewrite(shuffle)), progress=False)
    assert result.status.astype(str).tolist() == ["upserted", "upserted", "rejected"]


def test_unindexed_results_naming_other_items_are_not_guessed(tampered: Any) -> None:
    def mislabel(data: dict[str, Any]) -> None:
        for r in data["results"]:
            del r["index"]
            r["external_id"] = "someone-else"

    result = upsert(contacts(2), client=tampered(_rewrite(mislabel)), progress=False)
    assert result.status.astype(str).tolist() == ["failed", "failed"]


def test_contradictory_or_odd_results(tampered: Any) -> None:
    def odd(data: dict[str, Any]) -> None:
        r = data["results"]
        r.append({"index": 0, "error": {"code": "x"}})  # item 0: upserted and refused
        r[1]["error"] = {"code": "y"}  # item 1: both user and error
        r[2] = {"index": "2", "user": None, "contact": r[2]["user"]}  # lenient: "2", contact
        r[3]["index"] = 3
        r[3].pop("user")
        r[3]["error"] = {"code": ["a", "b"], "message": {"text": "nested"}, "param": 7}

    result = upsert(contacts(4), client=tampered(_rewrite(odd)), progress=False)
    assert result.status.astype(str).tolist() == ["failed", "failed", "upserted", "rejected"]
    assert result.error_code[0] == result.error_code[1] == "unexpected_response"
    assert result.loc[3, ["error_code", "error_field", "error_message"]].tolist() == [
        '["a","b"]',
        "7",
        '{"text":"nested"}',
    ]


def test_a_server_error_naming_items_rejects_none_of_them(tampered: Any) -> None:
    def refuse(request: httpx.Request, response: httpx.Response, body: bytes) -> httpx.Response:
        errors = ["plain text", {"param": "items.0.email", "code": "x", "message": ["m"]}]
        return problem(500, "internal_error", "boom", errors=errors, request_id=["r"])

    result = upsert(contacts(2), client=tampered(refuse), progress=False)
    assert result.status.astype(str).tolist() == ["failed", "failed"]
    assert result.request_id.isna().all()


def test_a_key_revoked_mid_run_keeps_what_was_done(tampered: Any) -> None:
    calls = {"n": 0}

    def revoke_after_two(
        request: httpx.Request, response: httpx.Response, body: bytes
    ) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] > 2:
            return problem(401, "authentication_required", "key revoked")
        return httpx.Response(response.status_code, headers=response.headers, content=body)

    client = tampered(revoke_after_two, max_concurrency=1)
    with pytest.raises(AuthenticationError) as caught:
        upsert(contacts(500), batch_size=100, client=client, progress=False)
    partial = caught.value.result
    assert len(partial) == 500
    assert partial.status.astype(str).iloc[:200].eq("upserted").all()
    assert not partial.status.astype(str).iloc[200:].eq("upserted").any()


# -- columns as real files and pipelines hand them over -----------------------------------------


def test_float_ids_past_2_53_are_invalid_not_rounded(client: Client, sandbox: Sandbox) -> None:
    """A CSV id column with one blank cell becomes float64: past 2**53 its values may
    already be rounded, and past 2**63 they do not fit an int64: never send either."""
    for dtype in ("float64", "Float64", "float32"):
        df = pd.DataFrame({"external_id": pd.array([1e20, 1e19, 17.0, 2.0**24 + 2], dtype=dtype)})
        with pytest.warns(NumericIdWarning, match="external_id comes from column 'external_id'"):
            result = upsert(df, client=client, progress=False)
        assert result.status.tolist()[:3] == ["invalid", "invalid", "upserted"]
        assert result.error_message[0].startswith("external_id: 1e+20 cannot be trusted as an id")
        assert "read the column as text" in result.error_message[1]
        assert result.status[3] == ("invalid" if dtype == "float32" else "upserted")
    assert set(sandbox.users) == {"17", str(2**24 + 2)}


def test_pyarrow_backed_columns_of_every_kind_feed_first_class_fields(
    client: Client, sandbox: Sandbox, tmp_path: Any
) -> None:
    import pyarrow as pa

    pd.DataFrame(
        {"external_id": ["a", "b"], "timezone": pd.Categorical(["utc", "Europe/London"])}
    ).to_parquet(tmp_path / "t.parquet")
    df = pd.read_parquet(tmp_path / "t.parquet", dtype_backend="pyarrow")
    assert isinstance(df.timezone.dtype, pd.ArrowDtype)  # dictionary<values=string ...>
    df["email"] = pd.array(["A@X.com", None], dtype=pd.ArrowDtype(pa.string_view()))
    df["anonymous_id"] = pd.array(
        [decimal.Decimal("17"), decimal.Decimal("18.5")], dtype=pd.ArrowDtype(pa.decimal128(4, 1))
    )
    with pytest.warns(NumericIdWarning, match="anonymous_id comes from column 'anonymous_id'"):
        result = upsert(df, client=client, progress=False)
    assert result.status.tolist() == ["upserted", "invalid"]
    assert "Decimal('18.5') is not a whole number" in result.error_message[1]
    stored = sandbox.users["a"]
    assert (stored["timezone"], stored["email"], stored["anonymous_id"]) == ("UTC", "A@x.com", "17")


def test_odd_cells_do_not_stop_the_run(client: Client, sandbox: Sandbox) -> None:
    df = pd.DataFrame(
        {
            "external_id": ["a", "b"],
            "price": [decimal.Decimal("sNaN"), decimal.Decimal("1.5")],  # NaN: missing
            "ratio": np.array([np.inf, 0.5], dtype=np.float32),
        }
    )
    result = upsert(df, client=client, progress=False)
    assert result.status.tolist() == ["invalid", "upserted"]
    assert result.error_message[0] == "column 'ratio': inf is not valid JSON (infinity)"
    assert sandbox.users["b"]["data"] == {"price": 1.5, "ratio": 0.5}
