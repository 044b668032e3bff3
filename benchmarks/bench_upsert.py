"""Upsert benchmark: preparation throughput, end-to-end rate against a served sandbox, memory.

    .venv/bin/python -m benchmarks.bench_upsert            # 1,000,000 rows; 100,000 end to end
    .venv/bin/python -m benchmarks.bench_upsert --rows 100000 --e2e-rows 20000   # quicker

(a) Preparation: `prepare` (validate, normalise, map, encode) plus every request body and its
    idempotency key, for a 12-column mixed-dtype frame, against `df.to_json(orient="records")`
    on the same frame in the same run (best of `--repeat`, the two interleaved so that
    machine load hits both alike). Target: ratio ≥ 1.0 (at least as fast as to_json).
(b) End to end: `upsert()` against `python -m spotzee_frames.sandbox --rate-limit 100
    --latency 20` in a separate process on 127.0.0.1; rows/s as a fraction of the
    10,000 rows/s ceiling (100 requests/s x 100 rows). Target ≥ 0.95 with zero 429s.
(c) Memory: peak RSS of this process, and the tracemalloc peak of one preparation (a
    separate, untimed pass: tracing slows Python down).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import time
import tracemalloc
import warnings
from typing import Any

import numpy as np
import pandas as pd

from spotzee_frames._batching import iter_batches
from spotzee_frames._prepare import prepare

from ._served import served_sandbox

__all__ = ["main", "make_frame"]

CEILING_ROWS_PER_S = 100 * 100  # 100 requests/s x 100 rows per request


def make_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """A CRM-like export: ids, email, phone, timezone, locale, names, and typed data."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n)
    zones = np.array(["Australia/Sydney", "europe/london", "America/New_York", "UTC", "Asia/Tokyo"])
    locales = np.array(["en-AU", "en_GB", "fr-FR", "ja", "de_de"])
    names = np.array(["Ann", "Bob", "Chloé", "Dan", "Eve", "Fred", "Gus", "Hana"])
    surnames = np.array(["Lee", "Ng", "Smith", "Müller", "O'Brien", "Tanaka", "Rossi"])
    return pd.DataFrame(
        {
            "external_id": pd.Series(ids).map("cust_{:07d}".format).astype("str"),
            "email": pd.Series(ids).map("user{}@Example.COM".format).astype("str"),
            "phone": pd.Series(61400000000 + ids).map("+{}".format).astype("str"),
            "timezone": pd.Series(zones[rng.integers(0, len(zones), n)], dtype="str"),
            "locale": pd.Series(locales[rng.integers(0, len(locales), n)], dtype="str"),
            "first_name": pd.Series(names[rng.integers(0, len(names), n)], dtype="str"),
            "last_name": pd.Series(surnames[rng.integers(0, len(surnames), n)], dtype="str"),
            "orders": pd.array(
                np.where(rng.random(n) < 0.1, None, rng.integers(0, 100, n)), dtype="Int64"
            ),
            "ltv": np.where(rng.random(n) < 0.1, np.nan, rng.random(n) * 1000),
            "vip": rng.random(n) < 0.5,
            "tier": pd.Categorical(np.array(["gold", "silver", "bronze"])[rng.integers(0, 3, n)]),
            "signed_up": pd.Timestamp("2020-01-01")
            + pd.to_timedelta(rng.integers(0, 10**8, n), unit="s"),
        }
    )


def prepare_bodies(df: pd.DataFrame, *, keep: bool = False) -> tuple[int, int]:
    """Validate, normalise, map and encode: `prepare`, then every request body and its key.

    Bodies are produced one batch at a time, as `Client.stream` consumes them (it takes
    calls lazily, a window ahead of the sends); `keep=True` holds all of them at once
    instead, for comparison.
    """
    prepared = prepare(df)
    kept = []
    size = 0
    for batch in iter_batches(
        prepared.n_sendable, prepared.body, method="POST", path="/users/batch"
    ):
        size += len(batch.body)
        if keep:
            kept.append(batch)
    return prepared.n_sendable, size


def to_json(df: pd.DataFrame) -> int:
    with warnings.catch_warnings():
        # pandas 3 warns that the default date format will change; the call is the baseline
        warnings.simplefilter("ignore")
        return len(df.to_json(orient="records"))


def _timed(fn: Any, *args: Any) -> tuple[float, Any]:
    """Seconds one call takes (after a collection, so earlier garbage does not count)."""
    gc.collect()
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def bench_prepare(rows: int, repeat: int) -> dict[str, Any]:
    df = make_frame(rows)
    ours: list[float] = []
    theirs: list[float] = []
    sent = body_bytes = json_bytes = 0
    for _ in range(repeat):
        t, (sent, body_bytes) = _timed(prepare_bodies, df)
        ours.append(t)
        t, json_bytes = _timed(to_json, df)
        theirs.append(t)
    t_keep, _ = _timed(lambda: prepare_bodies(df, keep=True))
    best, base = min(ours), min(theirs)
    return {
        "keep_s": t_keep,
        "keep_ratio": base / t_keep,
        "rows": rows,
        "sendable": sent,
        "prepare_s": best,
        "to_json_s": base,
        "rows_per_s": rows / best,
        "ratio": base / best,
        "body_mb": body_bytes / 1e6,
        "to_json_mb": json_bytes / 1e6,
        "all_prepare_s": ours,
        "all_to_json_s": theirs,
    }


def bench_memory(rows: int) -> dict[str, Any]:
    df = make_frame(rows)
    gc.collect()
    tracemalloc.start()
    prepare_bodies(df, keep=True)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"tracemalloc_peak_mb": peak / 1e6}


def bench_end_to_end(rows: int) -> dict[str, Any]:
    from spotzee_frames import Client
    from spotzee_frames._upsert import upsert

    df = make_frame(rows, seed=1)
    with (
        served_sandbox(rate_limit=100, latency_ms=20, demo=False) as base_url,
        Client("sk_bench", base_url) as client,
    ):
        start = time.perf_counter()
        result = upsert(df, client=client, progress=False)
        elapsed = time.perf_counter() - start
        stats = dict(client.stats)
    done = int(result.status.eq("upserted").sum())
    rate = done / elapsed
    return {
        "rows": rows,
        "upserted": done,
        "seconds": elapsed,
        "rows_per_s": rate,
        "fraction_of_ceiling": rate / CEILING_ROWS_PER_S,
        "requests": stats.get("requests", 0),
        "rate_limited_429": stats.get("rate_limited", 0),
        "retries": stats.get("retries", 0),
        "max_attempts": int(result.attempts.max()) if done else 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_upsert")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for (a) and (c)")
    parser.add_argument("--e2e-rows", type=int, default=100_000, help="rows for (b); 0 skips it")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of (a); best counts")
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the traced pass of (c)")
    args = parser.parse_args(argv)

    print(
        f"python {sys.version.split()[0]}, pandas {pd.__version__}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs"
    )
    a = bench_prepare(args.rows, args.repeat)
    print(f"\n(a) preparation, {a['rows']:,} rows x 12 columns ({a['sendable']:,} sendable)")
    print(
        f"    prepare + bodies + keys: {a['prepare_s']:.3f} s  = {a['rows_per_s']:,.0f} rows/s"
        f"   ({a['body_mb']:.0f} MB of request bodies)"
    )
    print(f"    df.to_json(orient='records'): {a['to_json_s']:.3f} s   ({a['to_json_mb']:.0f} MB)")
    print(
        f"    ratio to_json / ours: {a['ratio']:.2f}   (target >= 1.0)   "
        f"runs: ours {[f'{t:.2f}' for t in a['all_prepare_s']]}, "
        f"to_json {[f'{t:.2f}' for t in a['all_to_json_s']]}"
    )
    print(
        f"    holding every body in memory at once: {a['keep_s']:.3f} s, "
        f"ratio {a['keep_ratio']:.2f} (one run)"
    )
    rss_after_a = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    if args.e2e_rows:
        b = bench_end_to_end(args.e2e_rows)
        print(f"\n(b) end to end, {b['rows']:,} rows to a served sandbox (100 req/s, 20 ms)")
        print(
            f"    {b['upserted']:,} upserted in {b['seconds']:.2f} s"
            f" = {b['rows_per_s']:,.0f} rows/s"
            f" = {b['fraction_of_ceiling']:.3f} of the 10,000 rows/s ceiling (target >= 0.95)"
        )
        print(
            f"    {b['requests']} requests, {b['rate_limited_429']} answered 429, "
            f"{b['retries']} retries, max attempts per batch {b['max_attempts']}"
        )

    print("\n(c) memory")
    print(
        f"    peak RSS after (a): {rss_after_a:,.0f} MB "
        f"(frame, {args.repeat} preparations, to_json)"
    )
    if not args.no_tracemalloc:
        c = bench_memory(args.rows)
        print(
            f"    tracemalloc peak of one preparation with all bodies kept: "
            f"{c['tracemalloc_peak_mb']:,.0f} MB"
        )
    print(
        f"    peak RSS overall: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
