"""The pagination envelope and keyset cursors on every list endpoint."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from spotzee_frames.sandbox import Sandbox

from ._support import WIDE, assert_problem


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
