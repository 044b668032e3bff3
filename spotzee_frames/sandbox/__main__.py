"""`python -m spotzee_frames.sandbox`: serve a sandbox on 127.0.0.1 until Ctrl+C."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence

from ._faults import Faults
from ._profiles import PROFILES
from ._sandbox import Sandbox
from ._server import ServedSandbox, is_loopback

__all__ = ["main"]


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m spotzee_frames.sandbox",
        description="Serve a local Spotzee Main API (any sk_ key works).",
    )
    parser.add_argument(
        "--host",
        default=None,
        help="interface to bind (default 127.0.0.1; anything else must be given explicitly)",
    )
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = any)")
    parser.add_argument(
        "--latency",
        type=_non_negative,
        default=0.0,
        metavar="MS",
        help="milliseconds added to every request",
    )
    parser.add_argument(
        "--item-cost",
        type=_non_negative,
        default=0.0,
        metavar="US",
        help="microseconds of CPU work per item of a request, as a real server's validation "
        "(e.g. 50: 5 ms for a 100-item batch)",
    )
    parser.add_argument(
        "--failure-rate",
        type=_rate,
        default=0.0,
        metavar="F",
        help="probability of 503 before any work",
    )
    parser.add_argument(
        "--drop-rate",
        type=_rate,
        default=0.0,
        metavar="F",
        help="probability the work is done and the response lost",
    )
    parser.add_argument(
        "--rate-limit",
        type=_non_negative,
        default=None,
        metavar="N",
        help="requests per second per client IP (default: the API's edge limits, 100/s)",
    )
    parser.add_argument(
        "--retry-after",
        type=int,
        default=1,
        metavar="S",
        help="Retry-After seconds on 429 (default 1)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of demo data and faults")
    parser.add_argument(
        "--no-demo", action="store_true", help="start without demo campaigns and journeys"
    )
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default="spotzee",
        help="the server to play: spotzee (the API contract, default) or parcelvoy (a "
        "self-hosted Parcelvoy: no /users/batch, Idempotency-Key ignored, its errors)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    host: str = args.host if args.host is not None else "127.0.0.1"
    if not is_loopback(host):
        print(
            f"warning: serving on {host}, beyond this machine; the sandbox accepts any key",
            file=sys.stderr,
        )
    faults = Faults(
        failure_rate=args.failure_rate,
        drop_rate=args.drop_rate,
        latency=args.latency / 1000.0,
        item_cost=args.item_cost / 1e6,
        rate_limit=args.rate_limit,
        retry_after=args.retry_after,
        seed=args.seed,
    )
    sandbox = Sandbox(faults, demo=not args.no_demo, seed=args.seed, profile=args.profile)

    def ready(served: ServedSandbox) -> None:
        if args.profile == "parcelvoy":
            print(f"Parcelvoy-profile sandbox serving {served.base_url}", flush=True)
            print(
                "Any sk_... key works (e.g. sk_sandbox); pk_... keys only for POST /events. "
                "No POST /users/batch (use PATCH /users); Idempotency-Key is ignored. "
                "Ctrl+C stops.",
                flush=True,
            )
            return
        print(f"Spotzee sandbox serving {served.base_url}", flush=True)
        print(
            "Any sk_... key works (e.g. sk_sandbox); pk_... keys only for POST /events. "
            "Send Spotzee-Version: 2026-04-28. Ctrl+C stops.",
            flush=True,
        )

    with contextlib.suppress(KeyboardInterrupt):
        sandbox.serve_forever(host, args.port, ready=ready)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
