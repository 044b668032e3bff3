"""Ledger and streaming benchmark: an unchanged re-sync, a 10M-row Parquet dry run, and end
to end with the ledger on.

    .venv/bin/python -m benchmarks.bench_ledger            # 1M / 10M / 100k rows
    .venv/bin/python -m benchmarks.bench_ledger --rows 100000 --stream-rows 1000000 \\
        --e2e-rows 20000                                     # quicker

(a) Unchanged re-sync: `upsert(df, ledger=…, only_changed=True)` of a 12-column frame
    whose every row the ledger holds confirmed (written by the ledger's own bookkeeping,
    as a first run would, without the hour of sending): it must send 0 requests. Its time
    against `df.to_json(orient="records")` on the same frame, best of `--repeat`, the two
    interleaved. Target: ours / to_json < 3.
(b) Larger than memory: `upsert_dataset(parquet, dry_run=True, results=…)` over a
    `--stream-rows` Parquet file (the same 12 columns, row groups of 100,000), in a child
    process (warmed up on 5,000 rows first): its peak RSS (target < 1 GB) and rows/s
    against the in-memory path
    (`upsert(frame, dry_run=True)` of `--rows` rows, frame already built, in another child
    process; the median of three runs), also by CPU time (less swayed by other load), and
    against the same in-memory run reading its frame from a Parquet file first. Target:
    ≥ 0.8. The file is generated once into
    `--data` (default: a
    temporary folder, removed after) — data generation is no part of CI.
(c) End to end with the ledger: `upsert(df, ledger=<new file>, only_changed=True)` and
    `upsert_dataset(<parquet>, ledger=<new file>, only_changed=True)` against
    `python -m spotzee_frames.sandbox --rate-limit 100 --latency 20` in a separate process,
    beside the same upsert without a ledger: rows/s as a fraction of the 10,000 rows/s
    ceiling. Target ≥ 0.95 with the ledger on.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .bench_upsert import CEILING_ROWS_PER_S, make_frame, to_json

__all__ = ["main"]

_GROUP = 100_000  # rows per generated piece and per row group


def _prefill(frame: pd.DataFrame, ledger: Path, client: Any) -> int:
    """Record every row of `frame` as confirmed, through the ledger's own bookkeeping (the
    calls a run would record, then their confirmation), without sending them."""
    from spotzee_frames._ledger import open_session
    from spotzee_frames._runner import _RECORD_AHEAD, _chunked
    from spotzee_frames._upsert import plan_upsert

    _, _, op = plan_upsert(
        frame,
        None,
        mode="sync",
        nulls="omit",
        default_region=None,
        exclude=(),
        duplicates="reject",
        invalid_fields="omit",
        batch_size=100,
        dry_run=False,
    )
    calls = 0
    with open_session(ledger, client) as session:
        for group in _chunked(op.plan(op.rows), _RECORD_AHEAD):
            session.sending(op, group)
            for one in group:
                session.settled(one, one.rows, verdict=True)
            calls += len(group)
    return calls


def bench_unchanged(rows: int, repeat: int) -> dict[str, Any]:
    from spotzee_frames import Client
    from spotzee_frames._upsert import upsert

    df = make_frame(rows)
    with tempfile.TemporaryDirectory() as folder:
        ledger = Path(folder) / "crm.ledger"
        with Client.sandbox(rate_limit=None) as client:
            start = time.perf_counter()
            calls = _prefill(df, ledger, client)
            prefill_s = time.perf_counter() - start
            ours: list[float] = []
            theirs: list[float] = []
            counts: dict[str, int] = {}
            for _ in range(repeat):
                gc.collect()
                start = time.perf_counter()
                result = upsert(df, client=client, ledger=ledger, only_changed=True, progress=False)
                ours.append(time.perf_counter() - start)
                counts = {k: int(v) for k, v in result.status.value_counts().items() if v}
                gc.collect()
                start = time.perf_counter()
                to_json(df)
                theirs.append(time.perf_counter() - start)
            requests = int(client.stats.get("requests", 0))
            size = ledger.stat().st_size
    return {
        "rows": rows,
        "calls": calls,
        "prefill_s": prefill_s,
        "ledger_mb": size / 1e6,
        "ours": min(ours),
        "to_json": min(theirs),
        "ratio": min(ours) / min(theirs),
        "requests": requests,
        "counts": counts,
    }


def _generate(path: Path, rows: int) -> float:
    """A `rows`-row Parquet file of `make_frame`'s columns, written a piece at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    start = time.perf_counter()
    partial = path.with_name(path.name + ".partial")  # a stopped run leaves no bad file
    writer = None
    try:
        for number, first in enumerate(range(0, rows, _GROUP)):
            piece = make_frame(min(_GROUP, rows - first), seed=number)
            piece["external_id"] = [f"cust_{k:08d}" for k in range(first, first + len(piece))]
            table = pa.Table.from_pandas(piece, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(partial, table.schema)
            writer.write_table(table, row_group_size=_GROUP)
    finally:
        if writer is not None:
            writer.close()
    os.replace(partial, path)
    return time.perf_counter() - start


# The peak RSS of the child itself: /proc's VmHWM (ru_maxrss would count the benchmark
# process it was forked from).
_PEAK = """
def peak_mb():
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

_CHILD_STREAM = (
    _PEAK
    + """
import json, sys, time
import pyarrow.parquet as pq
import spotzee_frames as sf
# Warm, as the in-memory baseline is: the imports and first-call set-up are not the rate.
warm = sys.argv[2] + ".warm.parquet"
pq.write_table(pq.ParquetFile(sys.argv[1]).read_row_group(0).slice(0, 5000), warm)
sf.upsert_dataset(warm, dry_run=True, results=sys.argv[2], progress=False)
start, cpu = time.perf_counter(), time.process_time()
summary = sf.upsert_dataset(sys.argv[1], dry_run=True, results=sys.argv[2], progress=False)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({"rows": summary.total, "seconds": seconds, "cpu": cpu,
                  "valid": int(summary.counts.get("valid", 0)),
                  "peak_mb": peak_mb()}))
"""
)

_CHILD_MEMORY = (
    _PEAK
    + """
import json, sys, time
import pandas as pd
from benchmarks.bench_upsert import make_frame
from spotzee_frames import upsert
frame = make_frame(int(sys.argv[1]))
frame.to_parquet(sys.argv[2], index=False, row_group_size=100_000)

def median(run):  # a short run: the median of three, so a burst of load counts less
    times = []
    for _ in range(3):
        start, cpu = time.perf_counter(), time.process_time()
        run()
        times.append((time.perf_counter() - start, time.process_time() - cpu))
    return sorted(times)[1]

seconds, cpu = median(lambda: upsert(frame, dry_run=True))
file_seconds, file_cpu = median(
    lambda: upsert(pd.read_parquet(sys.argv[2], dtype_backend="numpy_nullable"), dry_run=True)
)
print(json.dumps({"rows": len(frame), "seconds": seconds, "cpu": cpu,
                  "file_seconds": file_seconds, "file_cpu": file_cpu, "peak_mb": peak_mb()}))
"""
)


def _child(script: str, *args: str) -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode:
        raise RuntimeError(f"the benchmark's child process failed:\n{done.stderr}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def bench_stream(rows: int, memory_rows: int, data: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        folder = data or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        source = folder / f"contacts-{rows}.parquet"
        generated = 0.0
        if not source.exists():
            generated = _generate(source, rows)
        stream = _child(_CHILD_STREAM, str(source), str(Path(scratch) / "results.parquet"))
        memory = _child(_CHILD_MEMORY, str(memory_rows), str(Path(scratch) / "memory.parquet"))
        size = source.stat().st_size
    stream_rate = stream["rows"] / stream["seconds"]
    memory_rate = memory["rows"] / memory["seconds"]
    file_rate = memory["rows"] / memory["file_seconds"]
    return {
        "file_rate": file_rate,
        "file_ratio": stream_rate / file_rate,
        "cpu_ratio": (memory["cpu"] / memory["rows"]) / (stream["cpu"] / stream["rows"]),
        "rows": rows,
        "file_mb": size / 1e6,
        "generated_s": generated,
        "stream": stream,
        "stream_rate": stream_rate,
        "memory": memory,
        "memory_rate": memory_rate,
        "ratio": stream_rate / memory_rate,
    }


def bench_end_to_end(rows: int) -> dict[str, Any]:
    from spotzee_frames import Client
    from spotzee_frames._stream import upsert_dataset
    from spotzee_frames._upsert import upsert

    from ._served import served_sandbox

    out: dict[str, Any] = {"rows": rows}
    with tempfile.TemporaryDirectory() as folder:
        parquet = Path(folder) / "contacts.parquet"
        frames = [make_frame(rows, seed=seed) for seed in (1, 2, 3)]
        for k, frame in enumerate(frames):  # three different sets of users
            frame["external_id"] = [f"run{k}_{i:07d}" for i in range(len(frame))]
        frames[2].to_parquet(parquet, index=False, row_group_size=_GROUP)
        with served_sandbox(rate_limit=100, latency_ms=20, demo=False) as base_url:
            runs = {
                "no ledger": lambda api: upsert(frames[0], client=api, progress=False),
                "ledger": lambda api: upsert(
                    frames[1],
                    client=api,
                    ledger=Path(folder) / "a.ledger",
                    only_changed=True,
                    progress=False,
                ),
                "ledger, streamed": lambda api: upsert_dataset(
                    parquet,
                    client=api,
                    ledger=Path(folder) / "b.ledger",
                    only_changed=True,
                    progress=False,
                ),
            }
            for name, send in runs.items():
                with Client("sk_bench", base_url) as api:
                    start, cpu = time.perf_counter(), time.process_time()
                    result = send(api)
                    seconds = time.perf_counter() - start
                    cpu = time.process_time() - cpu
                    stats = dict(api.stats)
                counts = (
                    result.counts if hasattr(result, "counts") else result.status.value_counts()
                )
                done = int(counts.get("upserted", 0))
                out[name] = {
                    "upserted": done,
                    "seconds": seconds,
                    "fraction": done / seconds / CEILING_ROWS_PER_S,
                    "cpu": cpu,
                    "requests": stats.get("requests", 0),
                    "rate_limited": stats.get("rate_limited", 0),
                }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_ledger")
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="rows for (a) and (b)'s baseline"
    )
    parser.add_argument("--stream-rows", type=int, default=10_000_000, help="rows for (b); 0 skips")
    parser.add_argument("--e2e-rows", type=int, default=100_000, help="rows for (c); 0 skips")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of (a); best counts")
    parser.add_argument("--data", type=Path, default=None, help="keep (b)'s Parquet file here")
    args = parser.parse_args(argv)
    print(
        f"python {sys.version.split()[0]}, pandas {pd.__version__}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs"
    )

    a = bench_unchanged(args.rows, args.repeat)
    print(f"\n(a) unchanged re-sync, {a['rows']:,} rows x 12 columns, all confirmed in the ledger")
    print(
        f"    ledger written by {a['calls']:,} recorded calls in {a['prefill_s']:.1f} s "
        f"({a['ledger_mb']:.0f} MB)"
    )
    print(
        f"    upsert(only_changed=True): {a['ours']:.3f} s, {a['requests']} requests, "
        f"statuses {a['counts']}"
    )
    print(f"    df.to_json(orient='records'): {a['to_json']:.3f} s")
    print(f"    ratio ours / to_json: {a['ratio']:.2f}   (target < 3)")

    if args.stream_rows:
        b = bench_stream(args.stream_rows, args.rows, args.data)
        s, m = b["stream"], b["memory"]
        print(f"\n(b) larger than memory: a {b['rows']:,}-row Parquet file ({b['file_mb']:.0f} MB)")
        if b["generated_s"]:
            print(f"    generated in {b['generated_s']:.0f} s (not timed below)")
        print(
            f"    upsert_dataset(dry_run=True, results=…): {s['seconds']:.1f} s = "
            f"{b['stream_rate']:,.0f} rows/s, {s['valid']:,} valid, peak RSS "
            f"{s['peak_mb']:,.0f} MB (target < 1,000)"
        )
        print(
            f"    in memory, upsert(dry_run=True) of {m['rows']:,} rows (median of 3): "
            f"{b['memory_rate']:,.0f} rows/s (peak RSS {m['peak_mb']:,.0f} MB)"
        )
        print(
            f"    the same read from a {m['rows']:,}-row Parquet file first (read_parquet): "
            f"{b['file_rate']:,.0f} rows/s"
        )
        print(
            f"    rate ratio streamed / in memory: {b['ratio']:.2f}   (target >= 0.8); "
            f"by CPU time {b['cpu_ratio']:.2f}; against the in-memory run that reads its "
            f"file too {b['file_ratio']:.2f}"
        )

    if args.e2e_rows:
        c = bench_end_to_end(args.e2e_rows)
        print(f"\n(c) end to end, {c['rows']:,} rows each to a served sandbox (100 req/s, 20 ms)")
        for name in ("no ledger", "ledger", "ledger, streamed"):
            r = c[name]
            print(
                f"    {name:17} {r['upserted']:,} upserted in {r['seconds']:.2f} s = "
                f"{r['fraction']:.3f} of the 10,000 rows/s ceiling; {r['requests']} requests, "
                f"{r['rate_limited']} answered 429; client CPU {r['cpu']:.1f} s"
            )
        print("    target >= 0.95 with the ledger on")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
