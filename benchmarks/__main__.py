"""Run every benchmark: `python -m benchmarks` (pass `--quick` for a short smoke run).

Each benchmark prints ratios against a baseline measured in the same run, since
absolute times on a shared machine mean little.
"""

from __future__ import annotations

import argparse

from . import (
    bench_engines,
    bench_latency,
    bench_ledger,
    bench_listing,
    bench_salesforce,
    bench_track,
    bench_trigger,
    bench_upsert,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Every benchmark in turn; each module also runs alone "
        "(python -m benchmarks.bench_upsert --help).",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    quick = parser.parse_args(argv).quick
    upsert_args = ["--rows", "100000", "--e2e-rows", "20000", "--repeat", "1"] if quick else []
    track_args = ["--rows", "100000", "--e2e-rows", "20000", "--repeat", "1"] if quick else []
    trigger_args = ["--n", "1000"] if quick else []
    salesforce_args = ["--records", "20000"] if quick else []
    ledger_args = (
        ["--rows", "100000", "--stream-rows", "1000000", "--e2e-rows", "20000", "--repeat", "1"]
        if quick
        else []
    )
    latency_args = ["--quick"] if quick else []
    engine_args = ["--rows", "50000", "--memory-rows", "0"] if quick else []
    print("== upsert ==", flush=True)
    status = bench_upsert.main(upsert_args)
    print("\n== track ==", flush=True)
    status = max(status, bench_track.main(track_args))
    print("\n== trigger ==", flush=True)
    status = max(status, bench_trigger.main(trigger_args))
    print("\n== listing ==", flush=True)
    status = max(status, bench_listing.main(["--large", "10000"] if quick else []))
    print("\n== ledger and streaming ==", flush=True)
    status = max(status, bench_ledger.main(ledger_args))
    print("\n== salesforce ==", flush=True)
    status = max(status, bench_salesforce.main(salesforce_args))
    print("\n== latency matrix ==", flush=True)
    status = max(status, bench_latency.main(latency_args))
    print("\n== engines (Spark, Dask) ==", flush=True)
    return max(status, bench_engines.main(engine_args))


if __name__ == "__main__":
    raise SystemExit(main())
