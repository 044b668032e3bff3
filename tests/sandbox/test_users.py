"""Users: batch shape, per-item rules, what is stored, null vs absent, merge, linking."""

from __future__ import annotations

from typing import Any

import email_validator
import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotzee_frames.sandbox import Sandbox
from spotzee_frames.sandbox._validation import _EMAIL_FAST, _fast_email

from ._support import TIMESTAMP, assert_problem, batch, one_result

USER_KEYS = {
    "id",
    "project_id",
    "external_id",
    "anonymous_id",
    "email",
    "phone",
    "timezone",
    "locale",
    "data",
    "has_push_device",
    "devices",
    "created_at",
    "updated_at",
}

# batch shape


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ([], "parameter_invalid_empty"),
        ([{"external_id": f"u{i}"} for i in range(101)], "parameter_invalid_format"),
        ({"users": [{"external_id": "a"}]}, "parameter_invalid_format"),
        ({"external_id": "a"}, "parameter_invalid_format"),
        ("a", "parameter_invalid_format"),
        (None, "parameter_invalid_format"),
    ],
)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_whole_request_errors(
    api: httpx.Client, sb: Sandbox, body: Any, code: str, method: str
) -> None:
    path = "/users/batch" if method == "POST" else "/users"
    raw = orjson.dumps(body)
    response = api.request(method, path, content=raw, headers={"Content-Type": "application/json"})
    assert_problem(response, 400, code)
    assert sb.users == {}


def test_hundred_items_is_fine(api: httpx.Client, sb: Sandbox) -> None:
    body = batch(api, [{"external_id": f"u{i}"} for i in range(100)])
    assert (body["succeeded"], body["failed"]) == (100, 0)
    assert [r["index"] for r in body["results"]] == list(range(100))
    assert len(sb.users) == 100


def test_stored_user_shape(api: httpx.Client, sb: Sandbox) -> None:
    result = one_result(api, {"external_id": "cust_1"})
    assert set(result) == {"index", "external_id", "anonymous_id", "user"}
    user = result["user"]
    assert set(user) == USER_KEYS
    assert type(user["id"]) is int
    assert user["project_id"] == 42
    assert user["external_id"] == "cust_1"
    assert user["anonymous_id"] is None
    assert user["email"] is user["phone"] is user["timezone"] is user["locale"] is None
    assert user["data"] == {}
    assert user["has_push_device"] is False
    assert user["devices"] == []
    assert TIMESTAMP.fullmatch(user["created_at"])
    assert user["updated_at"] == user["created_at"]
    assert sb.get_user("cust_1") == user == sb.users["cust_1"]
    assert api.get("/users/cust_1").json() == user


def test_ids_increase(api: httpx.Client) -> None:
    body = batch(api, [{"external_id": "a"}, {"external_id": "b"}, {"anonymous_id": "c"}])
    ids = [r["user"]["id"] for r in body["results"]]
    assert ids == sorted(ids) and len(set(ids)) == 3


# per-item rules: accepted


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("email", "ann.lee+news@example.co.uk", "ann.lee+news@example.co.uk"),
        ("email", "ANN@Example.COM", "ANN@Example.COM"),
        ("email", "o'brien@sub.domain-name.io", "o'brien@sub.domain-name.io"),
        ("email", "ü@exämple.de", "ü@exämple.de"),
        ("email", None, None),
        ("phone", "+61293744000", "+61293744000"),
        ("phone", "+14155552671", "+14155552671"),
        ("phone", "+61 2 9374 4000", "+61293744000"),
        ("phone", "+1 (415) 555-2671", "+14155552671"),
        ("phone", "+44 20 7946 0958", "+442079460958"),
        ("phone", None, None),
        ("timezone", "Australia/Sydney", "Australia/Sydney"),
        ("timezone", "UTC", "UTC"),
        ("timezone", "America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"),
        ("timezone", None, None),
        ("locale", "en-AU", "en-AU"),
        ("locale", "en", "en"),
        ("locale", "zh-Hant-TW", "zh-Hant-TW"),
        ("locale", "es-419", "es-419"),
        ("locale", "de-CH-1996", "de-CH-1996"),
        ("locale", "sr-Latn-RS", "sr-Latn-RS"),
        ("locale", "en-US-x-twain", "en-US-x-twain"),
        ("locale", None, None),
        (
            "data",
            {"first_name": "Ann", "tags": ["a"], "nested": {"x": 1}},
            {"first_name": "Ann", "tags": ["a"], "nested": {"x": 1}},
        ),
        ("data", {}, {}),
        ("data", None, {}),
        ("anonymous_id", "anon-123", "anon-123"),
    ],
)
def test_accepted_values_are_stored(
    api: httpx.Client, sb: Sandbox, field: str, value: Any, stored: Any
) -> None:
    result = one_result(api, {"external_id": "x", field: value})
    assert "error" not in result, result
    assert result["user"][field] == stored
    assert sb.get_user("x")[field] == stored  # type: ignore[index]
    assert sb.write_counts["x"] == 1


def test_anonymous_only_user(api: httpx.Client, sb: Sandbox) -> None:
    result = one_result(api, {"anonymous_id": "anon-1", "email": "a@example.com"})
    assert result["external_id"] is None and result["anonymous_id"] == "anon-1"
    assert result["user"]["external_id"] is None
    assert sb.users["anon-1"]["email"] == "a@example.com"
    assert sb.write_counts["anon-1"] == 1


# per-item rules: rejected


@pytest.mark.parametrize(
    ("item", "code", "param"),
    [
        ({"external_id": 123}, "parameter_invalid_format", "external_id"),
        ({"external_id": ""}, "parameter_invalid_empty", "external_id"),
        ({"external_id": "   "}, "parameter_invalid_empty", "external_id"),
        ({"external_id": None}, "parameter_invalid_format", "external_id"),
        ({"external_id": "x" * 256}, "parameter_invalid_format", "external_id"),
        ({"anonymous_id": 5}, "parameter_invalid_format", "anonymous_id"),
        ({"email": "a@example.com"}, "parameter_missing", "external_id"),
        ({}, "parameter_missing", "external_id"),
        ({"external_id": "x", "first_name": "Ann"}, "parameter_unknown", "first_name"),
        ({"external_id": "x", "email": "bad", "contact": 1}, "parameter_unknown", "contact"),
        ({"external_id": "x", "email": "not-an-email"}, "parameter_invalid_format", "email"),
        ({"external_id": "x", "email": "a@b"}, "parameter_invalid_format", "email"),
        ({"external_id": "x", "email": "a..b@example.com"}, "parameter_invalid_format", "email"),
        ({"external_id": "x", "email": "Ann <a@example.com>"}, "parameter_invalid_format", "email"),
        ({"external_id": "x", "email": "a b@example.com"}, "parameter_invalid_format", "email"),
        ({"external_id": "x", "email": ""}, "parameter_invalid_empty", "email"),
        ({"external_id": "x", "email": 5}, "parameter_invalid_format", "email"),
        ({"external_id": "x", "phone": "0412 345 678"}, "parameter_invalid_format", "phone"),
        ({"external_id": "x", "phone": "12345"}, "parameter_invalid_format", "phone"),
        ({"external_id": "x", "phone": "+0123456"}, "parameter_invalid_format", "phone"),
        ({"external_id": "x", "phone": "+1234567890123456"}, "parameter_invalid_format", "phone"),
        ({"external_id": "x", "phone": "call me"}, "parameter_invalid_format", "phone"),
        ({"external_id": "x", "phone": 61412345678}, "parameter_invalid_format", "phone"),
        ({"external_id": "x", "phone": ""}, "parameter_invalid_empty", "phone"),
        ({"external_id": "x", "timezone": "Mars/Olympus_Mons"}, "validation_failed", "timezone"),
        ({"external_id": "x", "timezone": "AEST"}, "validation_failed", "timezone"),
        ({"external_id": "x", "timezone": "A" * 51}, "parameter_invalid_format", "timezone"),
        ({"external_id": "x", "timezone": 10}, "parameter_invalid_format", "timezone"),
        ({"external_id": "x", "locale": "en_AU"}, "parameter_invalid_format", "locale"),
        ({"external_id": "x", "locale": "english please"}, "parameter_invalid_format", "locale"),
        ({"external_id": "x", "locale": "e"}, "parameter_invalid_format", "locale"),
        ({"external_id": "x", "locale": "en-" + "a" * 300}, "parameter_invalid_format", "locale"),
        ({"external_id": "x", "locale": ["en"]}, "parameter_invalid_format", "locale"),
        ({"external_id": "x", "data": []}, "parameter_invalid_format", "data"),
        ({"external_id": "x", "data": "a=1"}, "parameter_invalid_format", "data"),
    ],
)
def test_rejected_items(
    api: httpx.Client, sb: Sandbox, item: dict[str, Any], code: str, param: str
) -> None:
    body = batch(api, [item])
    assert (body["succeeded"], body["failed"]) == (0, 1)
    result = body["results"][0]
    assert set(result) == {"index", "external_id", "anonymous_id", "error"}
    assert result["index"] == 0
    assert result["error"]["code"] == code
    assert result["error"]["param"] == param
    assert result["error"]["message"]
    assert sb.users == {}
    assert sum(sb.write_counts.values()) == 0


def test_non_object_item_is_an_item_error(api: httpx.Client) -> None:
    body = batch(api, ["cust_1", {"external_id": "ok"}, 7])
    assert [("user" in r, r.get("error", {}).get("code")) for r in body["results"]] == [
        (False, "parameter_invalid_format"),
        (True, None),
        (False, "parameter_invalid_format"),
    ]


def test_partial_success_keeps_request_order(api: httpx.Client, sb: Sandbox) -> None:
    body = batch(
        api,
        [
            {"external_id": "a", "email": "a@example.com"},
            {"external_id": "b", "email": "nope"},
            {"external_id": "c"},
            {"anonymous_id": 1},
        ],
    )
    assert (body["succeeded"], body["failed"]) == (2, 2)
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3]
    assert [r["external_id"] for r in body["results"]] == ["a", "b", "c", None]
    assert ["user" in r for r in body["results"]] == [True, False, True, False]
    assert sorted(sb.users) == ["a", "c"]


# null vs absent, data merge, linking


def test_absent_fields_are_kept_and_null_clears(api: httpx.Client, sb: Sandbox) -> None:
    full = {
        "external_id": "x",
        "email": "a@example.com",
        "phone": "+61293744000",
        "timezone": "Australia/Sydney",
        "locale": "en-AU",
        "data": {"plan": "pro"},
    }
    batch(api, [full])
    user = one_result(api, {"external_id": "x", "email": "b@example.com"})["user"]
    assert {k: user[k] for k in full} == {**full, "email": "b@example.com"}
    cleared = one_result(
        api, {"external_id": "x", "phone": None, "timezone": None, "locale": None}
    )["user"]
    assert cleared["email"] == "b@example.com"
    assert cleared["phone"] is cleared["timezone"] is cleared["locale"] is None
    assert cleared["data"] == {"plan": "pro"}
    assert one_result(api, {"external_id": "x", "data": None})["user"]["data"] == {}
    assert sb.write_counts["x"] == 4


def test_data_is_merged_shallowly(api: httpx.Client, sb: Sandbox) -> None:
    batch(api, [{"external_id": "x", "data": {"a": 1, "b": {"x": 1}, "keep": True}}])
    user = one_result(api, {"external_id": "x", "data": {"b": {"y": 2}, "c": 3, "a": None}})
    assert user["user"]["data"] == {"a": None, "b": {"y": 2}, "keep": True, "c": 3}
    assert sb.get_user("x")["data"] == user["user"]["data"]  # type: ignore[index]


def test_updates_keep_id_and_created_at(api: httpx.Client) -> None:
    first = one_result(api, {"external_id": "x"})["user"]
    second = one_result(api, {"external_id": "x", "email": "a@example.com"})["user"]
    assert second["id"] == first["id"]
    assert second["created_at"] == first["created_at"]
    assert second["updated_at"] >= first["updated_at"]


def test_both_ids_link_an_anonymous_user(api: httpx.Client, sb: Sandbox) -> None:
    anonymous = one_result(api, {"anonymous_id": "anon-1", "data": {"seen": 1}})["user"]
    linked = one_result(api, {"external_id": "cust_1", "anonymous_id": "anon-1"})["user"]
    assert linked["id"] == anonymous["id"]
    assert (linked["external_id"], linked["anonymous_id"]) == ("cust_1", "anon-1")
    assert linked["data"] == {"seen": 1}
    assert list(sb.users) == ["cust_1"]
    again = one_result(api, {"anonymous_id": "anon-1", "email": "a@example.com"})["user"]
    assert again["id"] == anonymous["id"] and again["external_id"] == "cust_1"


def test_same_user_twice_in_one_batch(api: httpx.Client, sb: Sandbox) -> None:
    body = batch(
        api,
        [
            {"external_id": "x", "email": "first@example.com", "data": {"n": 1}},
            {"external_id": "x", "email": "second@example.com", "data": {"m": 2}},
        ],
    )
    first, second = (r["user"] for r in body["results"])
    assert first["email"] == "first@example.com" and first["data"] == {"n": 1}
    assert second["email"] == "second@example.com" and second["data"] == {"n": 1, "m": 2}
    assert sb.write_counts["x"] == 2


# PATCH, GET, DELETE


def test_patch_users_applies_valid_items(api: httpx.Client, sb: Sandbox) -> None:
    response = api.patch(
        "/users",
        json=[
            {"external_id": "a", "email": "a@example.com"},
            {"external_id": "b", "email": "bad"},
            {"external_id": "c", "locale": "fr-FR"},
        ],
    )
    assert response.status_code == 204
    assert response.content == b""
    assert sorted(sb.users) == ["a", "c"]
    assert sb.users["c"]["locale"] == "fr-FR"
    assert dict(sb.write_counts) == {"a": 1, "c": 1}


def test_get_user(api: httpx.Client) -> None:
    batch(api, [{"external_id": "a/b c", "email": "a@example.com"}])
    response = api.get("/users/a%2Fb%20c")
    assert response.status_code == 200
    assert response.json()["email"] == "a@example.com"
    assert_problem(api.get("/users/nobody"), 404, "resource_missing")


def test_delete_users(api: httpx.Client, sb: Sandbox) -> None:
    batch(api, [{"external_id": "a"}, {"external_id": "b"}, {"external_id": "c"}])
    response = api.delete(
        "/users", params=[("user_id", "a"), ("user_id", "b"), ("user_id", "ghost")]
    )
    assert response.status_code == 204
    assert list(sb.users) == ["c"]
    assert_problem(api.get("/users/a"), 404, "resource_missing")
    assert_problem(api.delete("/users"), 400, "parameter_missing", param="user_id")


def test_subscriptions(api: httpx.Client) -> None:
    batch(api, [{"external_id": "a"}])
    listed = api.get("/users/a/subscriptions").json()
    assert {r["state"] for r in listed["results"]} == {1}
    patched = api.patch("/users/a/subscriptions", json=[{"subscription_id": 1, "state": 0}])
    assert patched.status_code == 200  # the contract: 200 with the user object
    assert patched.json()["external_id"] == "a"
    states = {
        r["subscription_id"]: r["state"]
        for r in api.get("/users/a/subscriptions").json()["results"]
    }
    assert states[1] == 0 and states[2] == 1
    assert_problem(
        api.patch("/users/a/subscriptions", json=[{"subscription_id": 99, "state": 1}]),
        422,
        "validation_failed",
        param="items.0.subscription_id",
    )
    assert_problem(api.get("/users/ghost/subscriptions"), 404, "resource_missing")


# helpers of the Sandbox object


def test_add_users_and_reset(sb: Sandbox) -> None:
    sb.add_users(3)
    sb.add_users(2)
    assert sorted(sb.users) == ["u1", "u2", "u3", "u4", "u5"]
    assert sb.users["u2"]["email"] == "u2@example.com"
    sb.add_users(1, prefix="vip_")
    assert "vip_1" in sb.users
    sb.reset()
    assert sb.users == {}
    assert len(sb.campaigns) >= 12


def test_inspection_returns_copies(api: httpx.Client, sb: Sandbox) -> None:
    batch(api, [{"external_id": "x", "data": {"a": 1}}])
    sb.users["x"]["data"]["a"] = 2
    sb.get_user("x")["email"] = "mutated"  # type: ignore[index]
    assert sb.get_user("x")["data"] == {"a": 1}  # type: ignore[index]
    assert sb.get_user("x")["email"] is None  # type: ignore[index]


# the fast email path never accepts what email-validator refuses

_ATOM = st.from_regex(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,12}", fullmatch=True)
_LABEL = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(
    local=st.lists(_ATOM, min_size=1, max_size=3).map(".".join),
    labels=st.lists(_LABEL, min_size=1, max_size=3),
    tld=st.from_regex(r"[A-Za-z]{2,8}", fullmatch=True),
)
def test_fast_email_path_agrees_with_email_validator(
    local: str, labels: list[str], tld: str
) -> None:
    address = f"{local}@{'.'.join(labels)}.{tld}"
    assert _EMAIL_FAST.fullmatch(address)
    if _fast_email(address):
        email_validator.validate_email(address, check_deliverability=False)
