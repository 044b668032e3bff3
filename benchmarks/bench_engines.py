"""Engines benchmark: upsert from Spark and Dask to a served sandbox under one 100/s budget.

    .venv/bin/python -m benchmarks.bench_engines                      # 1M rows, then 4M (memory)
    .venv/bin/python -m benchmarks.bench_engines --rows 100000 --memory-rows 0    # quicker
    .venv/bin/python -m benchmarks.bench_engines --engines dask
    .venv/bin/python -m benchmarks.bench_engines --bucket 100    # a token bucket instead

For each engine, `upsert` of `--rows` generated rows (made on the executors / workers,
1% with a bad email, which is left out) from Spark `local[2]` or a `distributed` cluster
of two worker processes, to `python -m spotzee_frames.sandbox --latency 20` in a separate process on
127.0.0.1, which counts the contract's budget per client address (1,000 requests per
10 s, 8,000 per minute: 100/s): every task shares it, as a cluster behind one NAT address
does; the job's `rate_limit=100` is split between its tasks. `--bucket 100` makes the
sandbox count a token bucket of 100/s with bursts of 10 instead, which also refuses the
bursts its own stalls cause (requests queued while it was busy, counted when it gets to
them): every task keeps its own few requests of headroom in flight, so more tasks mean
bigger such bursts. Each run is its own process; after a warm-up (a dry run of 1,000 rows,
so the workers have started and imported the package, as in a session already in use)
it is timed from the call to its return: the key pass, the shuffle, the sort and the
checkpoint included.

(a) Pace: rows/s as a fraction of the 10,000 rows/s ceiling (100 requests/s x
    100 rows), and how many requests were retried (a 429 or a timeout). Target >= 0.9.
(b) Memory: the driver process's peak RSS when the call returns, for `--rows` and for
    `--memory-rows` rows; it should stay flat (the result stays on the executors /
    workers; the counts printed are computed there too). With Spark the driver is the
    Python process; its JVM (local mode: driver and executor at once) is bounded by
    spark.driver.memory. With Dask the driver process also runs the scheduler.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from typing import Any

import pandas as pd

from ._served import served_sandbox

__all__ = ["main"]

CEILING_ROWS_PER_S = 100 * 100  # 100 requests/s x 100 rows per request
_KEY = "sk_test_bench_engines"
_BAD_EVERY = 100  # one row in 100 has a bad email: sent without it (invalid_fields="omit")


def _columns(rows: Any) -> dict[str, Any]:
    """The generated columns of row numbers `rows` (a pandas Series)."""
    return {
        "row": rows,
        "external_id": rows.map("cust_{:08d}".format),
        "email": rows.map("user{}@example.com".format).where(
            rows % _BAD_EVERY != 7, "not-an-email"
        ),
        "plan": rows.map(lambda r: "gold" if r % 3 == 0 else "free"),
        "orders": rows % 1000,
    }


def _dask_part(bounds: tuple[int, int]) -> pd.DataFrame:
    return pd.DataFrame(_columns(pd.Series(range(*bounds), dtype="int64")))


def _run_spark(n: int, url: str, rate: float) -> dict[str, Any]:
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    import spotzee_frames.spark as szs

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.executorEnv.SPOTZEE_API_KEY", _KEY)
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        row = F.col("id")
        sdf = spark.range(n, numPartitions=2).select(
            row.alias("row"),
            F.format_string("cust_%08d", row).alias("external_id"),
            F.when(row % _BAD_EVERY == 7, F.lit("not-an-email"))
            .otherwise(F.format_string("user%d@example.com", row))
            .alias("email"),
            F.when(row % 3 == 0, F.lit("gold")).otherwise(F.lit("free")).alias("plan"),
            (row % 1000).alias("orders"),
        )
        # Warm up: a session in use has its Python workers started and the package imported.
        szs.upsert(sdf.limit(1000), exclude=["row"], base_url=url, dry_run=True)
        start = time.perf_counter()
        result = szs.upsert(sdf, exclude=["row"], row_id="row", base_url=url, rate_limit=rate)
        elapsed = time.perf_counter() - start
        peak = _peak_rss_mb()  # before anything below reads the result
        statuses = {r["status"]: r["count"] for r in result.groupBy("status").count().collect()}
        sent = result.where("request_id IS NOT NULL")
        requests = sent.select("request_id").distinct().count()
        retried = sent.where("attempts > 1").select("request_id").distinct().count()
    finally:
        spark.stop()
    return {
        "elapsed": elapsed,
        "statuses": statuses,
        "requests": requests,
        "retried": retried,
        "maxrss_mb": peak,
    }


def _run_dask(n: int, url: str, rate: float) -> dict[str, Any]:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import spotzee_frames.dask as szd

    parts = 8
    step = -(-n // parts)
    bounds = [(a, min(a + step, n)) for a in range(0, n, step)]
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            env={"SPOTZEE_API_KEY": _KEY},
        ) as cluster,
        Client(cluster),
    ):
        ddf = dd.from_map(_dask_part, bounds, meta=_dask_part((0, 0)), enforce_metadata=False)
        # Warm up: workers in use have the package imported.
        szd.upsert(ddf.head(1000, compute=False), exclude=["row"], base_url=url, dry_run=True)
        start = time.perf_counter()
        result = szd.upsert(ddf, exclude=["row"], row_id="row", base_url=url, rate_limit=rate)
        elapsed = time.perf_counter() - start
        peak = _peak_rss_mb()  # before anything below reads the result
        # Counted on the workers: the driver receives only the counts.
        counts = result["status"].value_counts().compute()
        sent = result[~result["request_id"].isna()]
        requests = sent["request_id"].nunique().compute()
        retried = sent[sent["attempts"] > 1]["request_id"].nunique().compute()
    return {
        "elapsed": elapsed,
        "statuses": {str(k): int(v) for k, v in counts.items() if v},
        "requests": int(requests),
        "retried": int(retried),
        "maxrss_mb": peak,
    }


def _peak_rss_mb() -> float:
    """This (the driver's) process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _child(engine: str, n: int, url: str, rate: float) -> None:
    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
    run = _run_spark if engine == "spark" else _run_dask
    print("RESULT " + json.dumps(run(n, url, rate)), flush=True)


def _measure(
    engine: str, n: int, rate: float, latency: float, bucket: float | None
) -> dict[str, Any]:
    env = {**os.environ, "SPOTZEE_API_KEY": _KEY, "PYSPARK_PYTHON": sys.executable}
    child = ["-m", "benchmarks.bench_engines", "--child", engine, "--rows", str(n)]
    with served_sandbox(bucket, latency, demo=False) as url:
        done = subprocess.run(
            [sys.executable, *child, "--url", url, "--rate", str(rate)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{engine} run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def _installed(engine: str) -> bool:
    import importlib.util

    module = "pyspark" if engine == "spark" else "distributed"
    return importlib.util.find_spec(module) is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_engines")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--memory-rows", type=int, default=4_000_000, help="0: skip")
    parser.add_argument("--engines", default="spark,dask")
    parser.add_argument("--rate", type=float, default=100.0, help="requests/s, the whole job")
    parser.add_argument("--latency", type=float, default=20.0, help="sandbox latency, ms")
    parser.add_argument(
        "--bucket", type=float, default=None, help="the sandbox's token bucket, requests/s"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.rows, args.url, args.rate)
        return 0
    ceiling = args.rate * 100
    status = 0
    budget = "the contract's windows" if args.bucket is None else f"a {args.bucket:g}/s bucket"
    print(
        f"upsert from each engine, rate_limit={args.rate:g}, to a served sandbox counting "
        f"{budget} per client address, {args.latency:g} ms latency; ceiling "
        f"{ceiling:,.0f} rows/s"
    )
    for engine in args.engines.split(","):
        if not _installed(engine):
            print(f"{engine}: not installed (pip install 'spotzee-frames[{engine}]'), skipped")
            continue
        peaks: list[tuple[int, float]] = []
        for n in [args.rows, args.memory_rows]:
            if n <= 0:
                continue
            got = _measure(engine, n, args.rate, args.latency, args.bucket)
            rows_per_s = n / got["elapsed"]
            fraction = rows_per_s / ceiling
            print(
                f"{engine:5}  {n:>9,} rows  {got['elapsed']:7.1f} s  {rows_per_s:8,.0f} rows/s"
                f" = {fraction:.3f} of the ceiling  {got['requests']:,} requests, "
                f"{got['retried']} retried  driver peak RSS {got['maxrss_mb']:,.0f} MB  "
                f"{got['statuses']}",
                flush=True,
            )
            if got["statuses"].get("upserted", 0) != n:
                print(f"  !! expected {n:,} upserted rows")
                status = 1
            peaks.append((n, got["maxrss_mb"]))
        if len(peaks) == 2:
            (small, a), (large, b) = peaks
            print(
                f"{engine:5}  driver peak RSS {large:,} rows / {small:,} rows: {b / a:.2f} "
                f"({a:,.0f} MB -> {b:,.0f} MB; flat is about 1)"
            )
    return status


if __name__ == "__main__":
    raise SystemExit(main())
