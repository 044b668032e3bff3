"""Shared fixtures: a fresh sandbox, a client bound to it in process, and one served on
127.0.0.1 for network behaviour."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

import spotzee_frames
from spotzee_frames import Client
from spotzee_frames.sandbox import Sandbox

# Fast retries: the policy is the same, only the waits are short.
FAST = {"backoff_base": 0.01, "backoff_max": 0.2, "rate_limit": None, "max_retry_time": 30.0}


def problem(status: int, code: str, message: str, **extra: Any) -> httpx.Response:
    """An error answer in the contract's envelope, for tests that play the server."""
    body = {"status": "error", "code": code, "message": message, "error": message, **extra}
    return httpx.Response(status, json=body)


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's real key or endpoint from the environment."""
    monkeypatch.delenv("SPOTZEE_API_KEY", raising=False)
    monkeypatch.delenv("SPOTZEE_BASE_URL", raising=False)
    monkeypatch.delenv("SPOTZEE_SANDBOX", raising=False)


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox()


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[Client]:
    c = Client.sandbox(sandbox, **FAST)
    yield c
    c.close()


@dataclass
class Served:
    sandbox: Sandbox
    client: Client
    base_url: str


@pytest.fixture
def served() -> Iterator[Served]:
    sb = Sandbox()
    with sb.serve(host="127.0.0.1", port=0) as server:
        c = Client("sk_test_served", server.base_url, **FAST)
        try:
            yield Served(sb, c, server.base_url)
        finally:
            c.close()


__all__ = ["FAST", "Served", "problem", "spotzee_frames"]
