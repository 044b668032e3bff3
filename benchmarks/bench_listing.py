"""Benchmark: what one page of `GET /users` costs the sandbox as it fills up.

    .venv/bin/python -m benchmarks.bench_listing                 # 1,000 and 50,000 users
    .venv/bin/python -m benchmarks.bench_listing --large 10000   # a quick run

Fills an in-process sandbox with `--small` users, walks every page of `sf.users()` (100
a page) and of the same listing sorted by email, then does the same with `--large` users,
and prints the time per page at each size. Pages that cost O(page) keep the ratio
large/small near 1; a sandbox that sorted every user for every page would make it about
large/small (50 for the defaults). The baseline is the small store, measured in the same
run.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from spotzee_frames import Client, users
from spotzee_frames.sandbox import Sandbox

PAGE = 100


def _per_page(n: int) -> dict[str, float]:
    sandbox = Sandbox()
    sandbox.add_users(n)
    with Client.sandbox(sandbox, rate_limit=None) as client:
        out = {}
        for sort in ("id", "email"):
            users(client=client, progress=False, sort=sort)  # the first walk builds the order
            start = time.perf_counter()
            frame = users(client=client, progress=False, sort=sort)
            elapsed = time.perf_counter() - start
            assert len(frame) == n
            out[sort] = elapsed / -(-n // PAGE)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_listing")
    parser.add_argument("--small", type=int, default=1_000, help="users in the baseline store")
    parser.add_argument("--large", type=int, default=50_000, help="users in the large store")
    args = parser.parse_args(argv)
    small, large = _per_page(args.small), _per_page(args.large)
    for sort in small:
        ratio = large[sort] / small[sort]
        print(
            f"users() by {sort}: {small[sort] * 1e3:.2f} ms/page at {args.small:,} users, "
            f"{large[sort] * 1e3:.2f} ms/page at {args.large:,}: ratio {ratio:.2f} "
            f"(O(page): about 1; a sort per page: about {args.large / args.small:.0f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
