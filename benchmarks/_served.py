"""A sandbox served by a separate process on 127.0.0.1, for the end-to-end benchmarks."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Iterator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def served_sandbox(
    rate_limit: float | None, latency_ms: float, *, demo: bool = True, item_cost_us: float = 0.0
) -> Iterator[str]:
    """Run `python -m spotzee_frames.sandbox` with these limits; yield its base URL.

    It runs in its own process, so its work does not share the GIL with the client being
    measured (it does share the machine's cores, as `item_cost_us` of CPU per item makes
    it do).
    """
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "spotzee_frames.sandbox",
        "--port",
        str(port),
        "--latency",
        str(latency_ms),
        "--item-cost",
        str(item_cost_us),
    ]
    if rate_limit is not None:  # a token bucket; None = the contract's edge windows
        cmd += ["--rate-limit", str(rate_limit)]
    if not demo:
        cmd.append("--no-demo")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "serving" not in line:
            raise RuntimeError(f"the sandbox did not start: {line}{proc.stdout.read()}")
        yield f"http://127.0.0.1:{port}/api/client"
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[str]) -> None:
    """End a served process: politely, then by force after 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
