"""Shared fixtures: a fresh sandbox, a client bound to it in process, and one served on
127.0.0.1 for network behaviour."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

import spotzee_frames
from spotzee_frames import Client
from spotzee_frames._cli import cli
from spotzee_frames.sandbox import PROFILES, Sandbox

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


@pytest.fixture(params=PROFILES)
def profiled_sandbox(request: pytest.FixtureRequest) -> Sandbox:
    """A fresh sandbox of each profile in turn: the contract's Spotzee, then a Parcelvoy.
    A module runs its suite against both by naming this as its `sandbox` fixture."""
    if request.param == "parcelvoy":
        # Against a Parcelvoy the first write warns that re-runs may send twice; the suites
        # run on both profiles are not about that (tests/test_parcelvoy.py is). pytest
        # restores the filters after the test.
        warnings.filterwarnings("ignore", category=spotzee_frames.IdempotencyNotHonouredWarning)
    return Sandbox(profile=request.param)


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


@pytest.fixture
def served_env(served: Served) -> dict[str, str]:
    """The environment a deployment gives the CLI: a key and the served sandbox's URL."""
    return {"SPOTZEE_API_KEY": "sk_test_cli", "SPOTZEE_BASE_URL": served.base_url}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str, env: dict[str, str] | None = None) -> Result:
    """Run the CLI in process; an unexpected exception fails the test with its traceback."""
    return runner.invoke(cli, list(args), env=env, catch_exceptions=False)


class Tamper(httpx.AsyncBaseTransport):
    """The sandbox's own transport, with its answers edited by `edit`."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        edit: Callable[[httpx.Request, httpx.Response, bytes], httpx.Response],
    ) -> None:
        self.inner = inner
        self.edit = edit

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        return self.edit(request, response, body)


@pytest.fixture
def tampered(sandbox: Sandbox) -> Iterator[Callable[..., Client]]:
    """`tampered(edit, **client_options)`: a client of `sandbox` whose answers `edit`
    rewrites (`edit(request, response, body) -> response`), to play a quirky server."""
    made: list[Client] = []

    def make(edit: Callable[..., httpx.Response], **options: Any) -> Client:
        transport = Tamper(sandbox.transport(), edit)
        made.append(
            Client(
                "sk_test_tamper",
                "http://localhost/api/client",
                transport=transport,
                **{**FAST, **options},
            )
        )
        return made[-1]

    yield make
    for c in made:
        c.close()


__all__ = ["FAST", "Served", "Tamper", "invoke", "problem", "spotzee_frames"]
