"""Headers, auth, versioning, the error envelope and strict JSON."""

from __future__ import annotations

import httpx
import pytest

from spotzee_frames.sandbox import Sandbox

from ._support import HEADERS, REQUEST_ID, VERSION, assert_problem


def test_success_carries_request_id_and_echoes_version(api: httpx.Client) -> None:
    first = api.get("/campaigns")
    second = api.get("/campaigns")
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    assert REQUEST_ID.fullmatch(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert first.headers["spotzee-version"] == VERSION


def test_error_carries_request_id_and_version(api: httpx.Client) -> None:
    response = api.get("/campaigns/999")
    assert_problem(response, 404, "resource_missing")
    assert response.headers["spotzee-version"] == VERSION


def test_request_log_records_request_ids(api: httpx.Client, sb: Sandbox) -> None:
    response = api.get("/journeys", params={"limit": 2})
    record = sb.requests[-1]
    assert (record.method, record.path, record.query) == ("GET", "/journeys", "limit=2")
    assert record.status == 200
    assert record.request_id == response.headers["x-request-id"]
    assert record.fault is None and not record.replayed


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "sk_test_no_scheme",
        "Basic c2tfdGVzdDo=",
        "Bearer ",
        "Bearer sk_",
        "Bearer abc",
        "Bearer ok_admin",
        "Bearer sk_test extra",
    ],
)
def test_missing_or_malformed_key_is_401(bare: httpx.Client, authorization: str | None) -> None:
    headers = {"Spotzee-Version": VERSION}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = bare.get("/campaigns", headers=headers)
    assert_problem(response, 401, "authentication_required")
    assert REQUEST_ID.fullmatch(response.headers["x-request-id"])


def test_any_secret_key_works_and_scheme_is_case_insensitive(bare: httpx.Client) -> None:
    for authorization in ("Bearer sk_live_anything", "bearer sk_x", "BEARER sk_123"):
        response = bare.get(
            "/campaigns", headers={"Authorization": authorization, "Spotzee-Version": VERSION}
        )
        assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/users"),
        ("POST", "/users/batch"),
        ("GET", "/campaigns"),
        ("POST", "/campaigns/1/trigger"),
        ("GET", "/events?from=x&to=y"),
        ("DELETE", "/users"),
    ],
)
def test_publishable_key_is_403_except_post_events(
    bare: httpx.Client, method: str, path: str
) -> None:
    headers = {"Authorization": "Bearer pk_test_public", "Spotzee-Version": VERSION}
    response = bare.request(method, path, headers=headers, json=[{"external_id": "a"}])
    assert_problem(response, 403, "permission_denied")


def test_publishable_key_may_post_events(bare: httpx.Client, sb: Sandbox) -> None:
    headers = {"Authorization": "Bearer pk_test_public", "Spotzee-Version": VERSION}
    response = bare.post("/events", headers=headers, json=[{"name": "signup", "external_id": "a"}])
    assert response.status_code == 204
    assert [event["name"] for event in sb.events] == ["signup"]


def test_missing_version_is_400_version_required(bare: httpx.Client) -> None:
    response = bare.get("/campaigns", headers={"Authorization": HEADERS["Authorization"]})
    assert_problem(response, 400, "version_required")


@pytest.mark.parametrize("version", ["2025-01-01", "2026-04-29", "2030-12-31"])
def test_unknown_version_is_400_version_unsupported(bare: httpx.Client, version: str) -> None:
    response = bare.get("/campaigns", headers={**HEADERS, "Spotzee-Version": version})
    assert_problem(response, 400, "version_unsupported")


@pytest.mark.parametrize("version", ["latest", "2026-4-28", "20260428", "2026-13-01", ""])
def test_malformed_version_is_400_parameter_invalid_format(
    bare: httpx.Client, version: str
) -> None:
    response = bare.get("/campaigns", headers={**HEADERS, "Spotzee-Version": version})
    assert_problem(response, 400, "parameter_invalid_format", param="Spotzee-Version")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/nope"),
        ("PUT", "/users"),
        ("POST", "/users"),
        ("GET", "/campaigns/abc"),
        ("GET", "/users/"),
        ("DELETE", "/campaigns/1"),
        ("GET", "http://sandbox.test/api/admin/users"),
        ("GET", "http://sandbox.test/"),
    ],
)
def test_unknown_route_is_404_resource_missing(api: httpx.Client, method: str, url: str) -> None:
    assert_problem(api.request(method, url), 404, "resource_missing")


@pytest.mark.parametrize(
    "raw",
    [
        b'[{"external_id": "a", "data": {"score": NaN}}]',
        b'[{"external_id": "a", "data": {"score": Infinity}}]',
        b'[{"external_id": "a", "data": {"score": -Infinity}}]',
        b'[{"external_id": "a",}]',
        b"[{'external_id': 'a'}]",
        b'[{"external_id": "a"}',
        b"\xff",
    ],
)
def test_invalid_json_is_400(api: httpx.Client, sb: Sandbox, raw: bytes) -> None:
    response = api.post("/users/batch", content=raw, headers={"Content-Type": "application/json"})
    assert_problem(response, 400, "parameter_invalid_format")
    assert sb.users == {}


def test_body_must_be_sent_as_json(api: httpx.Client) -> None:
    response = api.post(
        "/users/batch", content=b'[{"external_id": "a"}]', headers={"Content-Type": "text/plain"}
    )
    assert_problem(response, 400, "parameter_invalid_format")
    charset = api.post(
        "/users/batch",
        content=b'[{"external_id": "a"}]',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert charset.status_code == 200


def test_missing_body_is_400_parameter_missing(api: httpx.Client) -> None:
    assert_problem(api.post("/users/batch"), 400, "parameter_missing")


def test_envelope_lists_item_errors(api: httpx.Client) -> None:
    response = api.post(
        "/events",
        json=[
            {"name": "ok", "external_id": "a"},
            {"name": "", "external_id": "b"},
            {"external_id": "c"},
        ],
    )
    body = assert_problem(response, 400, "parameter_invalid_empty", param="items.1.name")
    assert body["errors"] == [
        {
            "param": "items.1.name",
            "code": "parameter_invalid_empty",
            "message": body["errors"][0]["message"],
        },
        {
            "param": "items.2.name",
            "code": "parameter_missing",
            "message": body["errors"][1]["message"],
        },
    ]


def test_async_transport(sb: Sandbox) -> None:
    import asyncio

    async def run() -> httpx.Response:
        async with httpx.AsyncClient(
            transport=sb.transport(), base_url="http://sb/api/client", headers=HEADERS
        ) as client:
            return await client.post("/users/batch", json=[{"external_id": "async"}])

    response = asyncio.run(run())
    assert response.status_code == 200
    assert sb.write_counts["async"] == 1
