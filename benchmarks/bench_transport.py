"""Benchmark: client CPU per request for the ways of holding 100+ connections open.

    .venv/bin/python -m benchmarks.bench_transport            # 600 requests per option
    .venv/bin/python -m benchmarks.bench_transport --n 300    # quicker

At 100 requests/s and 1 s round trips about 100 requests are in flight, so about 100
connections (HTTP/1.1) are open. httpcore's pool looks at every one of its connections
whenever a request starts or ends, so one big pool costs CPU quadratically; the client
spreads its connections over pools of 16 instead (`_client._ShardedTransport`). This
sends the same paced GETs to a sandbox served in a separate process (`--latency 1000`)
through each option and prints this process's CPU per request:

- one httpx pool of 256 connections;
- the client's pools of 16 (the project's choice);
- HTTP/2, one connection with many streams, if `h2` and `hypercorn` are installed
  (uvicorn, the sandbox's server, speaks no HTTP/2, so hypercorn serves the same app).

The option that costs least CPU per request at full pace wins; ratios are to the one
big pool, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import resource
import subprocess
import sys
from collections.abc import Iterator, Sequence

import httpx

from spotzee_frames._client import API_VERSION, _ShardedTransport

from ._served import free_port, served_sandbox, stop

__all__ = ["main"]

RATE = 100.0

_HYPERCORN = """
import asyncio, sys
from hypercorn.asyncio import serve
from hypercorn.config import Config
from spotzee_frames.sandbox import Faults, Sandbox
from spotzee_frames.sandbox._asgi import AsgiApp
config = Config()
config.bind = [f"127.0.0.1:{sys.argv[1]}"]
config.loglevel = "warning"
config.h2_max_concurrent_streams = 256
sandbox = Sandbox(Faults(latency=float(sys.argv[2])))
print("serving", flush=True)
asyncio.run(serve(AsgiApp(sandbox._app), config))
"""


@contextlib.contextmanager
def _served_h2(latency_ms: float) -> Iterator[str]:
    port = free_port()
    cmd = [sys.executable, "-c", _HYPERCORN, str(port), str(latency_ms / 1000)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        if "serving" not in proc.stdout.readline():
            raise RuntimeError("hypercorn did not start")
        yield f"http://127.0.0.1:{port}/api/client"
    finally:
        stop(proc)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _send(base_url: str, transport: httpx.AsyncBaseTransport, n: int) -> tuple[float, float]:
    """(CPU ms per request, seconds) for `n` GETs started at 100/s."""
    headers = {"Authorization": "Bearer sk_bench", "Spotzee-Version": API_VERSION}
    async with httpx.AsyncClient(
        base_url=base_url + "/", transport=transport, headers=headers, timeout=60
    ) as http:
        await http.get("campaigns/1")  # connect, and warm the server up
        loop = asyncio.get_running_loop()
        cpu, began = _cpu(), loop.time()

        async def one(k: int) -> None:
            await asyncio.sleep(max(0.0, began + k / RATE - loop.time()))
            response = await http.get("campaigns/1")
            response.raise_for_status()

        await asyncio.gather(*(one(k) for k in range(n)))
        return (_cpu() - cpu) / n * 1000, loop.time() - began


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_transport")
    parser.add_argument("--n", type=int, default=600, help="requests per option (600)")
    parser.add_argument("--latency", type=float, default=1000.0, help="round trip in ms (1000)")
    args = parser.parse_args(argv)
    best = args.n / RATE + args.latency / 1000
    big = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    options: list[tuple[str, httpx.AsyncBaseTransport, bool]] = [
        ("one pool of 256 connections", httpx.AsyncHTTPTransport(limits=big), False),
        ("pools of 16 (the client's)", _ShardedTransport(256), False),
    ]
    if importlib.util.find_spec("h2") and importlib.util.find_spec("hypercorn"):
        h2 = httpx.AsyncHTTPTransport(http1=False, http2=True)
        options.append(("HTTP/2, one connection (hypercorn)", h2, True))
    else:
        print("(HTTP/2 skipped: pip install h2 hypercorn to include it)")
    print(f"{args.n} GETs at {RATE:g}/s, {args.latency:g} ms round trips; best {best:.2f} s")
    print(f"{'option':<36} {'ms CPU/req':>10} {'ratio':>6} {'of best':>8}")
    baseline = None
    for label, transport, http2 in options:
        served = _served_h2(args.latency) if http2 else served_sandbox(None, args.latency)
        with served as base_url:
            cpu, seconds = asyncio.run(_send(base_url, transport, args.n))
        baseline = baseline or cpu
        print(f"{label:<36} {cpu:10.2f} {cpu / baseline:6.2f} {best / seconds:8.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
