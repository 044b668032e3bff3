"""Track benchmark: event preparation throughput, and events/s end to end against a served
sandbox.

    .venv/bin/python -m benchmarks.bench_track            # 1,000,000 events; 100,000 end to end
    .venv/bin/python -m benchmarks.bench_track --rows 100000 --e2e-rows 20000   # quicker

(a) Preparation: `track`'s preparation (ids, event data, RFC 3339 times with their
    offsets, every request body and its idempotency key) of an orders table, against
    `df.to_json(orient="records")` on the same frame in the same run (best of
    `--repeat`, interleaved). Target: ratio ≥ 1.0. pandas writes tz-aware datetimes
    one value at a time, which flatters the ratio, so a stricter one is printed too:
    against `to_json` of the same frame without its time column.
(b) End to end: `track()` against `python -m spotzee_frames.sandbox --rate-limit 100
    --latency 20` in a separate process on 127.0.0.1; events/s as a fraction of the
    10,000 events/s ceiling (100 requests/s x 100 events). Target ≥ 0.95 with zero 429s;
    the events the server stored are counted back through `event_counts`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from spotzee_frames._runner import Planned, full_batches
from spotzee_frames._track import KEY_PREFIX, _prepare

from ._served import served_sandbox
from .bench_upsert import _timed, to_json

__all__ = ["main", "make_orders"]

CEILING_EVENTS_PER_S = 100 * 100  # 100 requests/s x 100 events per request


def make_orders(n: int, seed: int = 0) -> pd.DataFrame:
    """An orders export: customer id, order id, amounts, a category, and aware times."""
    rng = np.random.default_rng(seed)
    k = np.arange(n)
    return pd.DataFrame(
        {
            "external_id": pd.Series(rng.integers(0, n // 4 + 1, n)).map("cust_{:07d}".format),
            "order_id": pd.Series(k).map("ord_{:08d}".format),
            "total": np.round(rng.random(n) * 500, 2),
            "items": rng.integers(1, 9, n),
            "currency": pd.Categorical(np.array(["AUD", "NZD", "USD"])[rng.integers(0, 3, n)]),
            "channel": pd.Series(np.array(["web", "app", "store"])[rng.integers(0, 3, n)]),
            "created_at": (
                pd.Timestamp("2026-01-01", tz="UTC")
                + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s")
            ).tz_convert("Australia/Sydney"),
        }
    )


def prepare_bodies(df: pd.DataFrame) -> tuple[int, int]:
    """What `track` does before sending: prepare, then every body and its key."""
    sent, planned = requests(df)
    size = 0
    for one in planned:
        assert one.call.content is not None
        size += len(one.call.content)
    return sent, size


def requests(df: pd.DataFrame) -> tuple[int, Iterator[Planned]]:
    """The number of sendable events and `track(df, "order_placed")`'s requests as it
    plans them, one body at a time."""
    prepared = _prepare(
        df,
        "order_placed",
        name_column=None,
        created_at=None,
        zone=None,
        mapping=None,
        user=None,
        exclude=(),
        default_region=None,
        big_ints="invalid",
    )
    return prepared.n_sendable, full_batches(
        prepared.sendable,
        prepared.sendable,
        prepared.body,
        prepared.body_at,
        method="POST",
        path="/events",
        batch_size=100,
        prefix=KEY_PREFIX,
    )


def bench_prepare(rows: int, repeat: int) -> dict[str, Any]:
    df = make_orders(rows)
    timeless = df.drop(columns="created_at")
    ours: list[float] = []
    theirs: list[float] = []
    strict: list[float] = []
    sent = body_bytes = json_bytes = 0
    for _ in range(repeat):
        t, (sent, body_bytes) = _timed(prepare_bodies, df)
        ours.append(t)
        t, json_bytes = _timed(to_json, df)
        theirs.append(t)
        t, _ = _timed(to_json, timeless)
        strict.append(t)
    best, base = min(ours), min(theirs)
    return {
        "rows": rows,
        "sendable": sent,
        "prepare_s": best,
        "to_json_s": base,
        "rows_per_s": rows / best,
        "ratio": base / best,
        "strict_ratio": min(strict) / best,
        "body_mb": body_bytes / 1e6,
        "to_json_mb": json_bytes / 1e6,
        "all_prepare_s": ours,
        "all_to_json_s": theirs,
    }


def bench_end_to_end(rows: int) -> dict[str, Any]:
    from spotzee_frames import Client, event_counts, track

    df = make_orders(rows, seed=1)
    with (
        served_sandbox(rate_limit=100, latency_ms=20, demo=False) as base_url,
        Client("sk_bench", base_url) as client,
    ):
        start = time.perf_counter()
        result = track(df, "order_placed", client=client, progress=False)
        elapsed = time.perf_counter() - start
        stats = dict(client.stats)
        counted = event_counts("2025-01-01", "2027-01-01", client=client)
    queued = int(result.status.eq("queued").sum())
    rate = queued / elapsed
    stored = int(counted["count"].sum()) if len(counted) else 0
    return {
        "rows": rows,
        "queued": queued,
        "stored": stored,
        "seconds": elapsed,
        "events_per_s": rate,
        "fraction_of_ceiling": rate / CEILING_EVENTS_PER_S,
        "requests": stats.get("requests", 0),
        "rate_limited_429": stats.get("rate_limited", 0),
        "retries": stats.get("retries", 0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_track")
    parser.add_argument("--rows", type=int, default=1_000_000, help="events for (a)")
    parser.add_argument("--e2e-rows", type=int, default=100_000, help="events for (b); 0 skips")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of (a); best counts")
    args = parser.parse_args(argv)

    print(
        f"python {sys.version.split()[0]}, pandas {pd.__version__}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs"
    )
    a = bench_prepare(args.rows, args.repeat)
    print(f"\n(a) preparation, {a['rows']:,} events x 7 columns ({a['sendable']:,} sendable)")
    print(
        f"    prepare + bodies + keys: {a['prepare_s']:.3f} s  = {a['rows_per_s']:,.0f} events/s"
        f"   ({a['body_mb']:.0f} MB of request bodies)"
    )
    print(f"    df.to_json(orient='records'): {a['to_json_s']:.3f} s   ({a['to_json_mb']:.0f} MB)")
    print(
        f"    ratio to_json / ours: {a['ratio']:.2f}   (target >= 1.0)   "
        f"runs: ours {[f'{t:.2f}' for t in a['all_prepare_s']]}, "
        f"to_json {[f'{t:.2f}' for t in a['all_to_json_s']]}"
    )
    print(
        f"    stricter: to_json of the frame less its time column (pandas writes aware "
        f"datetimes slowly): {a['strict_ratio']:.2f}"
    )
    ok = a["ratio"] >= 1.0
    if args.e2e_rows:
        b = bench_end_to_end(args.e2e_rows)
        print(f"\n(b) end to end, {b['rows']:,} events to a served sandbox (100 req/s, 20 ms)")
        print(
            f"    {b['queued']:,} queued in {b['seconds']:.2f} s"
            f" = {b['events_per_s']:,.0f} events/s"
            f" = {b['fraction_of_ceiling']:.3f} of the 10,000 events/s ceiling (target >= 0.95)"
        )
        print(
            f"    {b['requests']} requests, {b['rate_limited_429']} answered 429 (target 0), "
            f"{b['retries']} retries; {b['stored']:,} events stored (target exactly "
            f"{b['rows']:,})"
        )
        ok = ok and b["rate_limited_429"] == 0 and b["stored"] == b["rows"]
        ok = ok and b["fraction_of_ceiling"] >= 0.95
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
