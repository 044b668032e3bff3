"""`python -m spotzee_frames.sandbox.salesforce`: serve a fake Salesforce org over HTTPS on
127.0.0.1 until Ctrl+C (for benchmarks and trying things from a shell).

It prints where it listens, the PEM file of its throwaway certificate authority (give it to
the client: `REQUESTS_CA_BUNDLE=<file>`) and an access token; it accepts nothing else.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
from collections.abc import Sequence

from ._fake import FakeSalesforce

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m spotzee_frames.sandbox.salesforce",
        description="Serve a fake Salesforce REST API over HTTPS on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="port (default 0: any free one)")
    parser.add_argument("--leads", type=int, default=0, help="demo leads to create")
    parser.add_argument("--contacts", type=int, default=0, help="demo contacts to create")
    parser.add_argument("--lead-source", default="Web", help="LeadSource of the demo leads")
    parser.add_argument("--page-size", type=int, default=2000, help="records per query page")
    parser.add_argument(
        "--latency", type=float, default=0.0, metavar="MS", help="milliseconds per request"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the demo data")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    fake = FakeSalesforce(seed=args.seed, page_size=args.page_size, latency=args.latency / 1000)
    if args.leads:
        fake.add_leads(args.leads, LeadSource=args.lead_source)
    if args.contacts:
        fake.add_contacts(args.contacts)
    with contextlib.suppress(KeyboardInterrupt), fake.serve("127.0.0.1", args.port) as served:
        print(f"fake Salesforce serving {served.instance_url}", flush=True)
        print(f"ca {served.ca_file}", flush=True)
        print(f"token {served.access_token}", flush=True)
        threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
