"""Salesforce benchmark: an initial sync from the fake Salesforce to the served sandbox.

    .venv/bin/python -m benchmarks.bench_salesforce                  # 100,000 records
    .venv/bin/python -m benchmarks.bench_salesforce --records 20000  # quicker

The fake Salesforce (`python -m spotzee_frames.sandbox.salesforce`, HTTPS on 127.0.0.1 with
a throwaway certificate, pages of 2,000, `--sf-latency` ms per request) and the sandbox
(`python -m spotzee_frames.sandbox --rate-limit 100 --latency 20`) each run in a process
of their own. The real simple-salesforce pulls the Leads; the integration converts them and
sends them through `upsert(mode="sync")`.

Reported: records/s as a fraction of the 10,000 records/s ceiling (100 requests/s x 100
users; goal >= 0.9), and, as the baseline measured in the same run, a plain `upsert()` of
a frame of the same shape to the same sandbox (the ratio says what the pull, conversion
and look-ups cost on top of the send).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._served import free_port, served_sandbox, stop

__all__ = ["main"]

CEILING = 100 * 100  # records/s: 100 requests/s x 100 users per request


@contextlib.contextmanager
def served_salesforce(records: int, latency_ms: float) -> Iterator[dict[str, str]]:
    """Run the fake Salesforce in its own process; yield its URL, CA file and token."""
    cmd = [
        sys.executable,
        "-m",
        "spotzee_frames.sandbox.salesforce",
        "--port",
        str(free_port()),
        "--leads",
        str(records),
        "--latency",
        str(latency_ms),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        if "serving" not in lines[0]:
            raise RuntimeError(f"the fake Salesforce did not start: {''.join(lines)}")
        yield {
            "url": lines[0].split()[-1],
            "ca": lines[1].split(maxsplit=1)[1].strip(),
            "token": lines[2].split(maxsplit=1)[1].strip(),
        }
    finally:
        stop(proc)


def _session(endpoint: dict[str, str]) -> Any:
    import requests
    from simple_salesforce.api import Salesforce

    http = requests.Session()
    http.trust_env = False  # else REQUESTS_CA_BUNDLE would override `verify`
    http.verify = endpoint["ca"]
    return Salesforce(
        instance_url=endpoint["url"],
        session_id=endpoint["token"],
        session=http,
        object_pairs_hook=None,  # plain dicts, as salesforce.connect() makes them
    )


def bench_sync(records: int, sf_latency_ms: float) -> dict[str, Any]:
    from spotzee_frames import Client, salesforce

    with (
        served_salesforce(records, sf_latency_ms) as endpoint,
        served_sandbox(rate_limit=100, latency_ms=20, demo=False) as base_url,
        Client("sk_bench", base_url) as client,
        tempfile.TemporaryDirectory() as folder,
    ):
        integration = salesforce.Integration(
            "bench",
            objects=["Lead"],
            state=Path(folder) / "bench.sfstate",
            rules={"Lead": [("LeadSource", "equals", "Web"), ("Email", "is_set")]},
            mappings={"Lead": {"Company": "data.company", "AnnualRevenue": "data.revenue",
                               "Rating": "data.rating", "LeadSource": "data.source"}},
        )  # fmt: skip
        session = _session(endpoint)
        start = time.perf_counter()
        result = integration.sync(session, client=client, progress=False)
        elapsed = time.perf_counter() - start
        stats = dict(client.stats)
        status = integration.status
        baseline = bench_baseline(client, min(records, 20_000))
    done = int(result["status"].isin(["imported", "updated"]).sum())
    rate = done / elapsed
    return {
        "records": len(result),
        "synced": done,
        "seconds": elapsed,
        "records_per_s": rate,
        "fraction_of_ceiling": rate / CEILING,
        "requests": stats.get("requests", 0),
        "rate_limited_429": stats.get("rate_limited", 0),
        "baseline_rows_per_s": baseline,
        "ratio_to_upsert": rate / baseline,
        "status": status,
    }


def bench_baseline(client: Any, rows: int) -> float:
    """rows/s of a plain upsert of a frame like the converted records, same sandbox."""
    from spotzee_frames import upsert

    ids = np.arange(rows)
    frame = pd.DataFrame(
        {
            "external_id": [f"base_{i:07d}" for i in ids],
            "email": [f"base.{i}@example.com" for i in ids],
            "phone": [f"+1415555{i % 10_000:04d}" for i in ids],
            "first_name": "Ann",
            "last_name": "Lee",
            "company": "Acme",
            "revenue": ids.astype(float),
            "unsubscribed": False,
        }
    )
    start = time.perf_counter()
    result = upsert(frame, client=client, progress=False)
    elapsed = time.perf_counter() - start
    return float(result["status"].eq("upserted").sum()) / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_salesforce")
    parser.add_argument("--records", type=int, default=100_000, help="Leads to sync")
    parser.add_argument(
        "--sf-latency", type=float, default=50.0, metavar="MS",
        help="the fake Salesforce's added latency per request (default 50 ms)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, pandas {pd.__version__}, {os.cpu_count()} CPUs")
    r = bench_sync(args.records, args.sf_latency)
    print(
        f"\ninitial sync, {r['records']:,} Leads from the fake Salesforce over HTTPS "
        f"(pages of 2,000, {args.sf_latency:g} ms each) to the served sandbox "
        "(100 requests/s, 20 ms)"
    )
    print(
        f"    {r['synced']:,} synced in {r['seconds']:.2f} s = {r['records_per_s']:,.0f} "
        f"records/s = {r['fraction_of_ceiling']:.3f} of the 10,000/s ceiling (goal >= 0.9)"
    )
    print(
        f"    baseline, plain upsert in the same run: {r['baseline_rows_per_s']:,.0f} rows/s; "
        f"sync / upsert = {r['ratio_to_upsert']:.3f}"
    )
    print(
        f"    requests to Spotzee: {r['requests']:,}, 429s: {r['rate_limited_429']}, "
        f"status after: {r['status']}"
    )
    return 0 if r["synced"] == r["records"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
