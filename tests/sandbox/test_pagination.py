"""The pagination envelope and keyset cursors on every list endpoint."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotzee_frames.sandbox import Sandbox

from ._support import BASE_URL, HEADERS, WIDE, assert_problem, batch


def walk(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of a listing, following nextCursor."""
    pages = []
    query = dict(params)
    while True:
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        if page["nextCursor"] is None:
            return pages
        query = {**params, "cursor": page["nextCursor"]}


def test_walk_all_users_at_limit_100(api: httpx.Client, sb: Sandbox) -> None:
    sb.add_users(260)
    pages = walk(api, "/users", limit=100)
    assert [len(p["results"]) for p in pages] == [100, 100, 60]
    assert all(set(p) == {"results", "nextCursor", "prevCursor", "limit"} for p in pages)
    assert all(p["limit"] == 100 for p in pages)
    ids = [user["id"] for page in pages for user in page["results"]]
    assert ids == sorted(ids, reverse=True)  # default: id desc
    assert len(set(ids)) == 260
    assert {u["external_id"] for p in pages for u in p["results"]} == set(sb.users)
    assert pages[0]["prevCursor"] is None
    assert pages[1]["prevCursor"] is not None
    assert pages[-1]["nextCursor"] is None


def test_total_count_and_default_limit(api: httpx.Client, sb: Sandbox) -> None:
    sb.add_users(30)
    response = api.get("/users")
    assert response.headers["x-total-count"] == "30"
    body = response.json()
    assert body["limit"] == 25 and len(body["results"]) == 25


def test_ascending_walk(api: httpx.Client, sb: Sandbox) -> None:
    sb.add_users(55)
    pages = walk(api, "/users", limit=20, direction="asc")
    ids = [user["id"] for page in pages for user in page["results"]]
    assert ids == sorted(ids) and len(ids) == 55


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_prev_goes_back(api: httpx.Client, sb: Sandbox, direction: str) -> None:
    sb.add_users(50)
    pages = walk(api, "/users", limit=20, direction=direction)
    assert len(pages) == 3
    back = api.get(
        "/users",
        params={
            "limit": 20,
            "direction": direction,
            "page": "prev",
            "cursor": pages[2]["prevCursor"],
        },
    ).json()
    assert back["results"] == pages[1]["results"]
    first = api.get(
        "/users",
        params={"limit": 20, "direction": direction, "page": "prev", "cursor": back["prevCursor"]},
    ).json()
    assert first["results"] == pages[0]["results"]
    assert first["prevCursor"] is None
    assert first["nextCursor"] is not None


def test_cursor_survives_inserts_and_deletes(api: httpx.Client, sb: Sandbox) -> None:
    sb.add_users(30)
    first = api.get("/users", params={"limit": 10}).json()
    sb.add_users(5)  # newer ids would shift an offset
    api.delete("/users", params={"user_id": first["results"][0]["external_id"]})
    second = api.get("/users", params={"limit": 10, "cursor": first["nextCursor"]}).json()
    last_id = first["results"][-1]["id"]
    assert [u["id"] for u in second["results"]] == list(range(last_id - 1, last_id - 11, -1))


def test_cursor_keeps_its_sort(api: httpx.Client, sb: Sandbox) -> None:
    sb.add_users(15)
    first = api.get(
        "/users", params={"limit": 10, "sort": "external_id", "direction": "asc"}
    ).json()
    rest = api.get("/users", params={"cursor": first["nextCursor"], "limit": 10}).json()
    names = [u["external_id"] for u in first["results"] + rest["results"]]
    assert names == sorted(sb.users)
    clash = api.get("/users", params={"cursor": first["nextCursor"], "sort": "id"})
    assert_problem(clash, 400, "parameter_invalid_format", param="cursor")


@pytest.mark.parametrize("limit", ["101", "0", "-1", "abc", "1.5", "", "1e2"])
def test_bad_limit(api: httpx.Client, limit: str) -> None:
    assert_problem(
        api.get("/users", params={"limit": limit}), 400, "parameter_invalid_format", param="limit"
    )


@pytest.mark.parametrize("path", ["/users", "/campaigns", "/journeys", "/events"])
def test_every_list_checks_limit(api: httpx.Client, path: str) -> None:
    assert_problem(api.get(path, params={**WIDE, "limit": 101}), 400, "parameter_invalid_format")
    ok = api.get(path, params={**WIDE, "limit": 100})
    assert ok.status_code == 200
    assert set(ok.json()) == {"results", "nextCursor", "prevCursor", "limit"}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("cursor", "garbage"),
        ("cursor", "eyJ4IjoxfQ"),
        ("direction", "up"),
        ("page", "last"),
        ("sort", "password"),
    ],
)
def test_bad_paging_parameters(api: httpx.Client, name: str, value: str) -> None:
    assert_problem(
        api.get("/users", params={name: value}), 400, "parameter_invalid_format", param=name
    )


def test_free_text_search(api: httpx.Client, sb: Sandbox) -> None:
    sb.add_users(30)
    api.post(
        "/users/batch",
        json=[
            {
                "external_id": "zed",
                "email": "Ann.Lee@Example.com",
                "data": {"company": "Acme Widgets"},
            }
        ],
    )
    found = api.get("/users", params={"q": "u2"}).json()["results"]
    assert sorted(u["external_id"] for u in found) == ["u2"] + [f"u2{i}" for i in range(10)]
    assert [
        u["external_id"] for u in api.get("/users", params={"q": "ann.lee"}).json()["results"]
    ] == ["zed"]
    assert [
        u["external_id"] for u in api.get("/users", params={"q": "acme"}).json()["results"]
    ] == ["zed"]
    campaigns = api.get("/campaigns", params={"q": "sms"}).json()["results"]
    assert campaigns and all("sms" in c["name"].lower() for c in campaigns)


def test_campaigns_default_to_created_at_desc(api: httpx.Client) -> None:
    pages = walk(api, "/campaigns", limit=4)
    created = [c["created_at"] for p in pages for c in p["results"]]
    assert created == sorted(created, reverse=True)
    by_name = walk(api, "/campaigns", limit=4, sort="name", direction="asc")
    names = [c["name"] for p in by_name for c in p["results"]]
    assert names == sorted(names)


# -- listing users from the kept orders ---------------------------------------------------------


def _expected(sb: Sandbox, sort: str, direction: str) -> list[int]:
    def key(user: dict[str, Any]) -> tuple[Any, ...]:
        value = user[sort]
        return (0, "", user["id"]) if value is None else (1, value, user["id"])

    ordered = sorted(sb._app.store.users.values(), key=key)
    return [u["id"] for u in (ordered if direction == "asc" else ordered[::-1])]


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["upsert", "delete", "walk"]),
            st.integers(0, 30),
            st.sampled_from(["id", "created_at", "updated_at", "external_id", "email"]),
            st.sampled_from(["asc", "desc"]),
            st.one_of(st.none(), st.integers(0, 5).map(lambda k: f"m{k}@example.com")),
        ),
        max_size=25,
    )
)
def test_kept_orders_match_a_fresh_sort_through_any_changes(
    ops: list[tuple[str, int, str, str, str | None]],
) -> None:
    """Whatever is upserted, changed or deleted between listings, every walk by every
    sort field and direction gives what sorting all users would."""
    sb = Sandbox()
    with httpx.Client(transport=sb.sync_transport(), base_url=BASE_URL, headers=HEADERS) as api:
        for op, k, sort, direction, email in ops:
            if op == "upsert":
                body = [{"external_id": f"u{k}", "email": email, "data": {"k": k}}]
                assert api.post("/users/batch", json=body).status_code == 200
            elif op == "delete":
                assert api.delete("/users", params={"user_id": f"u{k}"}).status_code == 204
            else:
                pages = walk(api, "/users", limit=7, sort=sort, direction=direction)
                ids = [u["id"] for p in pages for u in p["results"]]
                assert ids == _expected(sb, sort, direction)


def test_a_page_changes_under_a_cursor_as_keyset_pagination_says(
    api: httpx.Client, sb: Sandbox
) -> None:
    sb.add_users(30)
    first = api.get("/users", params={"limit": 10, "sort": "email", "direction": "asc"}).json()
    # A user sorted before the cursor's edge and one after it arrive between the pages.
    batch(api, [{"external_id": "early", "email": "a@example.com"}])
    batch(api, [{"external_id": "late", "email": "zz@example.com"}])
    rest = walk(api, "/users", limit=10, cursor=first["nextCursor"])
    seen = [u["external_id"] for p in [first, *rest] for u in p["results"]]
    assert "early" not in seen and seen[-1] == "late"  # after the edge: listed; before: not
    assert len(seen) == len(set(seen)) == 31
    back = api.get("/users", params={"cursor": rest[0]["prevCursor"], "page": "prev"}).json()
    assert [u["external_id"] for u in back["results"]][-1] == first["results"][-1]["external_id"]


def test_a_search_still_reads_every_user(api: httpx.Client, sb: Sandbox) -> None:
    sb.add_users(120)
    pages = walk(api, "/users", limit=25, q="u11", sort="external_id", direction="asc")
    names = [u["external_id"] for p in pages for u in p["results"]]
    assert names == sorted(n for n in sb.users if "u11" in n)
