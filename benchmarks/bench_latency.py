"""Benchmark: full pace at real-world round trips, against a minimal reference sender.

    .venv/bin/python -m benchmarks.bench_latency            # the matrix (about 5 minutes)
    .venv/bin/python -m benchmarks.bench_latency --quick    # a smaller one (about 2)

For each added latency (20 ms, 300 ms, 1 s) and each workload (an upsert of 100,000 rows
= 1,000 batches, and 3,000 campaign triggers; with `--track`, an event backfill of
100,000 events = 1,000 batches too) it serves a fresh sandbox in a separate
process (`python -m spotzee_frames.sandbox --latency L --item-cost 30`: the contract's
edge limits, 1,000 requests per 10 s and 8,000 per minute, and 30 us of CPU work per item
on top of the sandbox's own validation, about 4 ms per 100-item batch in all, so the
server competes for the machine's two cores as a real one would; `--bucket` limits it
to 100/s in bursts of 10 instead) and runs the workload twice, each on a fresh server
warmed up with an upsert and a listing (sent through the host's budget):

- the project, with default settings: `upsert(frame)` / `trigger_campaign(frame, id)` /
  `track(frame, "order_placed")`, timed from the call to its return (preparation, the
  campaign check and all);
- a reference sender: the same requests with bodies built before the clock starts,
  plain httpx (pools of 16 connections), every request started on a fixed schedule of
  100/s with as many in flight as that takes, and the same campaign check first.

Printed per cell: the fraction of the physical best (the sequential round trips, i.e. the
campaign check, plus N requests at 100/s plus one round trip of L + the item cost), 429
answers, peak requests in flight, the busiest 1 s and 10 s windows of request starts
(the contract allows 100 and 1,000), client CPU per request, and the project's time as a
ratio to the reference's. Goal: >= 0.95 of the physical best, >= 0.98 of the reference,
no 429.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import msgspec
import pandas as pd

from spotzee_frames import Client, track
from spotzee_frames._batching import iter_batches
from spotzee_frames._client import API_VERSION
from spotzee_frames._listing import campaigns
from spotzee_frames._pacing import host_limiter
from spotzee_frames._prepare import prepare
from spotzee_frames._upsert import upsert

from ._served import served_sandbox
from .bench_track import make_orders
from .bench_track import requests as track_requests
from .bench_trigger import make_frame as trigger_frame
from .bench_trigger import trigger
from .bench_upsert import make_frame

__all__ = ["main"]

RATE = 100.0  # requests/s one host may send (contract: Rate limits)
POOL = 16  # connections per httpx pool in the reference sender (see _client._POOL_SIZE)


@dataclass
class Cell:
    seconds: float
    best: float
    requests: int
    rate_limited: int
    peak_in_flight: int
    starts: list[float]
    cpu: float
    ok: int

    @property
    def fraction(self) -> float:
        return self.best / self.seconds

    def busiest(self, window: float) -> int:
        starts = sorted(self.starts)
        return max(
            (bisect.bisect_left(starts, t + window) - i for i, t in enumerate(starts)), default=0
        )


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- the workloads ---------------------------------------------------------------------------


def _running_trigger_campaign(base_url: str) -> int:
    with Client("sk_bench", base_url) as client:
        running = campaigns(client=client, type="trigger", state="running")
        return int(running["id"].iloc[0])


def _project(base_url: str, kind: str, frame: pd.DataFrame, best: float) -> Cell:
    with Client("sk_bench", base_url) as client:
        cid = _running_trigger_campaign(base_url) if kind == "trigger" else 0
        cpu = _cpu()
        started = time.perf_counter()
        if kind == "upsert":
            result = upsert(frame, client=client, progress=False)
            ok = int(result.status.eq("upserted").sum())
        elif kind == "track":
            result = track(frame, "order_placed", client=client, progress=False)
            ok = int(result.status.eq("queued").sum())
        else:
            result = trigger(frame, cid, client)
            ok = int(result.status.eq("triggered").sum())
        seconds = time.perf_counter() - started
        cpu = _cpu() - cpu
        stats = client.stats
        # The limiter every client of this process shares for the host counts the starts.
        host = base_url.split("/api/")[0].replace("localhost", "127.0.0.1")
        starts = host_limiter(host).starts()
        return Cell(
            seconds=seconds,
            best=best,
            requests=stats["requests"],
            rate_limited=stats["rate_limited"],
            peak_in_flight=stats["peak_in_flight"],
            starts=starts,
            cpu=cpu,
            ok=ok,
        )


def _reference_calls(kind: str, frame: pd.DataFrame, cid: int) -> list[tuple[str, bytes, str]]:
    """(path, body, idempotency key) of every request, built before the clock starts."""
    if kind == "upsert":
        prepared = prepare(frame)
        return [
            (batch.path, batch.body, batch.key)
            for batch in iter_batches(
                prepared.n_sendable, prepared.body, method="POST", path="/users/batch"
            )
        ]
    if kind == "track":
        return [
            (planned.call.path, planned.call.content or b"", planned.call.idempotency_key or "")
            for planned in track_requests(frame)[1]
        ]
    encode = msgspec.json.Encoder().encode
    path = f"/campaigns/{cid}/trigger"
    return [
        (
            path,
            encode(
                {
                    "user": {"external_id": row.external_id, "email": row.email, "plan": row.plan},
                    "event": {"source": "benchmark"},
                }
            ),
            f"ref_{cid}_{row.external_id}",
        )
        for row in frame.itertuples()
    ]


async def _reference_send(
    base_url: str, calls: list[tuple[str, bytes, str]], lookup: str | None
) -> tuple[float, list[float], list[int], int]:
    shards = [
        httpx.AsyncClient(
            base_url=base_url + "/",
            limits=httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL),
            timeout=60,
            headers={
                "Authorization": "Bearer sk_bench",
                "Spotzee-Version": API_VERSION,
                "Content-Type": "application/json",
            },
        )
        for _ in range(-(-256 // POOL))
    ]
    loop = asyncio.get_running_loop()
    starts: list[float] = []
    statuses: list[int] = []
    flying = peak = 0

    async def send(k: int, path: str, body: bytes, key: str) -> None:
        nonlocal flying, peak
        shard = shards[k % len(shards)]
        while True:
            starts.append(loop.time())
            flying += 1
            peak = max(peak, flying)
            try:
                response = await shard.post(
                    path.lstrip("/"), content=body, headers={"Idempotency-Key": key}
                )
            finally:
                flying -= 1
            statuses.append(response.status_code)
            if response.status_code != 429:
                return
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))

    began = loop.time()
    if lookup is not None:
        await shards[0].get(lookup.lstrip("/"))
    t0 = loop.time()
    tasks = []
    for k, (path, body, key) in enumerate(calls):
        delay = t0 + k / RATE - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(k, path, body, key)))
    await asyncio.gather(*tasks)
    seconds = loop.time() - began
    for shard in shards:
        await shard.aclose()
    return seconds, starts, statuses, peak


def _reference(base_url: str, kind: str, frame: pd.DataFrame, best: float) -> Cell:
    cid = _running_trigger_campaign(base_url) if kind == "trigger" else 0
    calls = _reference_calls(kind, frame, cid)
    lookup = f"/campaigns/{cid}" if kind == "trigger" else None
    cpu = _cpu()
    seconds, starts, statuses, peak = asyncio.run(_reference_send(base_url, calls, lookup))
    return Cell(
        seconds=seconds,
        best=best,
        requests=len(statuses),
        rate_limited=statuses.count(429),
        peak_in_flight=peak,
        starts=starts,
        cpu=_cpu() - cpu,
        ok=sum(200 <= s < 300 for s in statuses),
    )


# -- the matrix ------------------------------------------------------------------------------


def _warm_up(base_url: str) -> None:
    """One request of each kind first: the sandbox's first use imports its validators.
    Sent by the project's client, so that the host's budget counts them as the edge does."""
    with Client("sk_bench", base_url) as client:
        client.request("POST", "/users/batch", json=[{"external_id": "warm-up"}])
        client.get("/campaigns", {"limit": 1})


def _cell(
    who: str,
    kind: str,
    latency_ms: float,
    item_cost_us: float,
    frame: pd.DataFrame,
    bucket: float | None,
) -> Cell:
    batched = kind in ("upsert", "track")
    requests = -(-len(frame) // 100) if batched else len(frame)
    items = 100 if batched else 1
    round_trip = latency_ms / 1000 + items * item_cost_us / 1e6
    sequential = latency_ms / 1000 if kind == "trigger" else 0.0  # the campaign check
    best = sequential + requests / RATE + round_trip
    with served_sandbox(
        rate_limit=bucket, latency_ms=latency_ms, item_cost_us=item_cost_us, demo=kind == "trigger"
    ) as base_url:
        _warm_up(base_url)
        run = _project if who == "project" else _reference
        return run(base_url, kind, frame, best)


def _row(label: str, cell: Cell, ratio: float | None) -> str:
    versus = f"{ratio:7.3f}" if ratio is not None else "      —"
    return (
        f"{label:<26} {cell.seconds:7.2f} {cell.best:7.2f} {cell.fraction:6.3f} {versus} "
        f"{cell.rate_limited:4d} {cell.peak_in_flight:5d} {cell.busiest(1.0):5d} "
        f"{cell.busiest(10.0):6d} {cell.cpu / max(1, cell.requests) * 1000:6.2f}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_latency")
    parser.add_argument("--quick", action="store_true", help="20,000 rows and 600 triggers")
    parser.add_argument("--rows", type=int, default=None, help="rows to upsert (100000)")
    parser.add_argument("--triggers", type=int, default=None, help="triggers to send (3000)")
    parser.add_argument(
        "--latencies", default="20,300,1000", help="added latencies in ms (20,300,1000)"
    )
    parser.add_argument("--item-cost", type=float, default=30.0, help="server CPU us per item")
    parser.add_argument("--track", action="store_true", help="an event backfill too")
    parser.add_argument(
        "--bucket", action="store_true", help="server limit: 100/s in bursts of 10, not the edge's"
    )
    args = parser.parse_args(argv)
    rows = args.rows if args.rows is not None else (20_000 if args.quick else 100_000)
    triggers = args.triggers if args.triggers is not None else (600 if args.quick else 3_000)
    latencies = [float(x) for x in args.latencies.split(",")]
    frames = {"upsert": make_frame(rows, seed=1), "trigger": trigger_frame(triggers)}
    sizes = {"upsert": f"{rows:,} rows", "trigger": f"{triggers:,} triggers"}
    if args.track:
        frames["track"] = make_orders(rows, seed=1)
        sizes["track"] = f"{rows:,} events"

    bucket = RATE if args.bucket else None
    limit = "100/s in bursts of 10" if args.bucket else "1,000 per 10 s and 8,000 per minute"
    print(
        f"served sandbox: limit {limit}, {args.item_cost:g} us CPU per item; best = sequential "
        "round trips + N/100 s + one round trip;\n1s / 10s = the busiest windows of request "
        "starts (allowed: 100 / 1,000); ms CPU/req = this process's CPU per request"
    )
    header = (
        f"{'cell':<26} {'seconds':>7} {'best':>7} {'of best':>6} {'vs ref':>7} "
        f"{'429':>4} {'peak':>5} {'1s':>5} {'10s':>6} {'ms CPU/req':>6}"
    )
    print(header)
    ok = True
    worst: list[tuple[float, float]] = []
    for latency in latencies:
        for kind in frames:
            reference = _cell("reference", kind, latency, args.item_cost, frames[kind], bucket)
            project = _cell("project", kind, latency, args.item_cost, frames[kind], bucket)
            ratio = reference.seconds / project.seconds
            where = f"{kind} {sizes[kind]}, {latency:g} ms"
            print(_row(where, project, ratio), flush=True)
            print(_row("  reference sender", reference, None), flush=True)
            passed = (
                project.fraction >= 0.95
                and ratio >= 0.98
                and project.rate_limited == 0
                and project.ok == len(frames[kind])
                and project.busiest(1.0) <= RATE
                and project.busiest(10.0) <= 10 * RATE
            )
            ok = ok and passed
            worst.append((project.fraction, ratio))
    print(
        f"lowest fraction of the physical best {min(f for f, _ in worst):.3f} (goal >= 0.95), "
        f"lowest ratio to the reference {min(r for _, r in worst):.3f} (goal >= 0.98)"
    )
    print("PASS" if ok else "FAIL (goal: >= 0.95 of best, >= 0.98 of the reference, no 429)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
