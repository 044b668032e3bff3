"""Fixtures of the sandbox conformance suite: a fresh sandbox and raw httpx clients on it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from spotzee_frames.sandbox import Sandbox

from ._support import BASE_URL, HEADERS


@pytest.fixture
def sb() -> Sandbox:
    return Sandbox()


@pytest.fixture
def api(sb: Sandbox) -> Iterator[httpx.Client]:
    """A sync client in process, with a secret key and the version header."""
    with httpx.Client(transport=sb.sync_transport(), base_url=BASE_URL, headers=HEADERS) as c:
        yield c


@pytest.fixture
def bare(sb: Sandbox) -> Iterator[httpx.Client]:
    """A sync client in process with no default headers."""
    with httpx.Client(transport=sb.sync_transport(), base_url=BASE_URL) as c:
        yield c
