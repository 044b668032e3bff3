"""Helpers shared by the sandbox conformance tests: headers and envelope assertions."""

from __future__ import annotations

import re
from typing import Any, Final

import httpx

VERSION: Final = "2026-04-28"
KEY: Final = "sk_test_conformance"
HEADERS: Final = {"Authorization": f"Bearer {KEY}", "Spotzee-Version": VERSION}
BASE_URL: Final = "http://sandbox.test/api/client"
REQUEST_ID: Final = re.compile(r"req_[0-9a-f]{8,}")
TIMESTAMP: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
WIDE: Final = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}

_ANY: Final = object()


def assert_problem(
    response: httpx.Response, status: int, code: str, param: Any = _ANY
) -> dict[str, Any]:
    """The response is the contract's error envelope for `code`; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == "error"
    assert body["code"] == code
    assert body["title"]
    assert body["message"]
    assert body["error"] == body["message"]
    assert body["type"] == f"https://docs.spotzee.com/main-api/errors#{code}"
    assert REQUEST_ID.fullmatch(body["request_id"])
    assert body["request_id"] == response.headers["x-request-id"]
    if param is not _ANY:
        assert body.get("param") == param, body
    return body


def batch(client: httpx.Client, items: list[Any], **kwargs: Any) -> dict[str, Any]:
    """POST /users/batch and return the 200 body."""
    response = client.post("/users/batch", json=items, **kwargs)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def one_result(client: httpx.Client, item: Any) -> dict[str, Any]:
    """The per-item result of a one-item batch."""
    result: dict[str, Any] = batch(client, [item])["results"][0]
    return result
