"""The sandbox on a real socket, and `python -m spotzee_frames.sandbox`."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

import spotzee_frames.sandbox
from spotzee_frames.sandbox import Sandbox
from spotzee_frames.sandbox.__main__ import main

from ._support import HEADERS, VERSION

ROOT = Path(spotzee_frames.sandbox.__file__).resolve().parents[2]


def test_serve(sb: Sandbox) -> None:
    with sb.serve() as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/api/client"
        with httpx.Client(base_url=server.base_url, headers=HEADERS) as client:
            response = client.post("/users/batch", json=[{"external_id": "a"}])
            assert response.status_code == 200
            assert response.headers["spotzee-version"] == VERSION
            assert sb.write_counts["a"] == 1
            assert client.get("/campaigns/1").json()["id"] == 1
    assert sb.requests[0].client == "127.0.0.1"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("POST", "/users/batch", [{"external_id": "a"}]), ("PATCH", "/users", [{"external_id": "a"}])],
)
def test_drop_over_a_socket_is_a_transport_error(
    sb: Sandbox, caplog: pytest.LogCaptureFixture, method: str, path: str, body: object
) -> None:
    sb.inject("drop")
    with (
        sb.serve() as server,
        httpx.Client(base_url=server.base_url, headers=HEADERS) as client,
        caplog.at_level(logging.DEBUG),
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            client.request(method, path, json=body, headers={"Idempotency-Key": "k"})
        assert sb.write_counts["a"] == 1  # committed before the response was lost
        retried = client.request(method, path, json=body, headers={"Idempotency-Key": "k"})
        assert retried.headers["idempotent-replayed"] == "true"
    assert sb.write_counts["a"] == 1
    assert not [
        r for r in caplog.records if r.name.startswith("uvicorn") and r.levelno >= logging.WARNING
    ]


def test_inspection_while_serving(sb: Sandbox) -> None:
    stop = threading.Event()
    seen: list[int] = []

    def inspect() -> None:
        while not stop.is_set():
            seen.append(len(sb.users) + len(sb.requests) + sum(sb.write_counts.values()))

    with sb.serve() as server, httpx.Client(base_url=server.base_url, headers=HEADERS) as client:
        reader = threading.Thread(target=inspect)
        reader.start()
        try:
            for n in range(20):
                items = [{"external_id": f"u{n}_{i}", "data": {"i": i}} for i in range(50)]
                assert client.post("/users/batch", json=items).status_code == 200
        finally:
            stop.set()
            reader.join()
    assert len(sb.users) == 1000 and seen


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("profile", ["spotzee", "parcelvoy"])
def test_module_entry_point(profile: str) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-m", "spotzee_frames.sandbox", "--port", str(port)]
    with subprocess.Popen(
        [*command, "--latency", "1", "--item-cost", "10", "--profile", profile],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            second = proc.stdout.readline()
            who = "Spotzee sandbox" if profile == "spotzee" else "Parcelvoy-profile sandbox"
            assert first.strip() == f"{who} serving http://127.0.0.1:{port}/api/client"
            assert "sk_" in second
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}/api/client", headers=HEADERS, timeout=10
            ) as client:
                response = client.get("/campaigns", params={"limit": 1})
                batch = client.post("/users/batch", json=[{"external_id": "a"}])
            assert response.status_code == 200
            assert response.json()["results"]
            if profile == "spotzee":
                assert batch.status_code == 200
            else:  # Parcelvoy has no such route, and ignores idempotency keys
                assert "Idempotency-Key is ignored" in second
                assert batch.status_code == 405 and batch.text == "Method Not Allowed"
        finally:
            proc.terminate()
            proc.communicate(timeout=10)


def test_main_rejects_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--failure-rate", "2"])
    assert exit_info.value.code == 2
    assert "between 0 and 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--item-cost", "-5"])
    assert "must not be negative" in capsys.readouterr().err


def test_served_latency(sb: Sandbox) -> None:
    sb.faults.latency = 0.1
    with sb.serve() as server, httpx.Client(base_url=server.base_url, headers=HEADERS) as client:
        started = time.perf_counter()
        assert client.get("/journeys").status_code == 200
        assert time.perf_counter() - started >= 0.1
