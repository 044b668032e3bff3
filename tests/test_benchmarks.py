"""Every benchmark runs, at a size too small to time: a benchmark that no longer matches
the API it measures (a new required argument, a renamed column) fails here, not on the
day someone wants its figures. Their exit status is not asserted: it says whether a
timing target was met, and tests make no timing assertions."""

from __future__ import annotations

import importlib

import pytest

#: Each benchmark with arguments that keep it to a few seconds.
SMALL = {
    "bench_upsert": "--rows 2000 --e2e-rows 1000 --repeat 1 --no-tracemalloc",
    "bench_track": "--rows 2000 --e2e-rows 1000 --repeat 1",
    "bench_trigger": "--n 50",
    "bench_listing": "--small 50 --large 500",
    "bench_salesforce": "--records 3000 --sf-latency 1",
    "bench_ledger": "--rows 3000 --stream-rows 5000 --e2e-rows 1000 --repeat 1",
    "bench_latency": "--rows 1000 --triggers 30 --latencies 5 --track",
    "bench_transport": "--n 30 --latency 5",
    "bench_engines": "--rows 2000 --memory-rows 0",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL))
def test_benchmark_runs(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    module = importlib.import_module(f"benchmarks.{name}")
    status = module.main(SMALL[name].split())
    out = capsys.readouterr().out
    assert status in (0, 1), f"{name} returned {status!r}"
    assert "Traceback" not in out
    assert out.count("\n") >= 2, f"{name} printed almost nothing:\n{out}"


def test_every_benchmark_is_smoke_tested() -> None:
    from pathlib import Path

    import benchmarks

    folder = Path(benchmarks.__file__).parent
    assert {p.stem for p in folder.glob("bench_*.py")} == set(SMALL)
