"""Benchmark: campaign triggers from a frame against a sandbox served on 127.0.0.1.

    .venv/bin/python -m benchmarks.bench_trigger            # 10,000 triggers
    .venv/bin/python -m benchmarks.bench_trigger --n 500    # a quick run

Starts `python -m spotzee_frames.sandbox --rate-limit 100 --latency 20` in a separate
process (the documented per-host budget of 100 requests/s, 20 ms per request), triggers
one running trigger campaign once per row, and prints:

- triggers/s, and that as a fraction of the 100 requests/s ceiling (target >= 0.95);
- how many 429 responses the client received (target 0);
- how many sends the server recorded, read back through the API as the growth of the
  campaign's `delivery.sent` counter (target: exactly one per row).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import pandas as pd

from spotzee_frames import Client
from spotzee_frames._listing import campaign, campaigns
from spotzee_frames._trigger import trigger_campaign

from ._served import served_sandbox

CEILING = 100.0  # requests/s one host may send (contract: Rate limits)


def make_frame(n: int) -> pd.DataFrame:
    """`n` recipients: external_id, email and a `plan` attribute."""
    return pd.DataFrame(
        {
            "external_id": [f"bench-{k}" for k in range(n)],
            "email": [f"bench{k}@example.com" for k in range(n)],
            "plan": ["pro" if k % 2 else "team" for k in range(n)],
        }
    )


def trigger(frame: pd.DataFrame, campaign_id: int, client: Client) -> pd.DataFrame:
    """Trigger the campaign once per row, with `plan` as an attribute and a fixed event."""
    return trigger_campaign(
        frame,
        campaign_id,
        attributes=["plan"],
        event={"source": "benchmark"},
        max_recipients=len(frame),
        progress=False,
        client=client,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_trigger")
    parser.add_argument("--n", type=int, default=10_000, help="rows to trigger (default 10000)")
    parser.add_argument("--rate-limit", type=float, default=CEILING, help="sandbox requests/s")
    parser.add_argument("--latency", type=float, default=20.0, help="sandbox latency in ms")
    args = parser.parse_args(argv)
    n: int = args.n

    frame = make_frame(n)
    with served_sandbox(args.rate_limit, args.latency) as base_url:
        client = Client("sk_bench", base_url)
        try:
            running = campaigns(client=client, type="trigger", state="running")
            cid = int(running["id"].iloc[0])
            before = int(campaign(cid, client=client)["delivery_sent"])
            requests_before = client.stats["requests"]

            start = time.perf_counter()
            result = trigger(frame, cid, client)
            elapsed = time.perf_counter() - start

            requests = client.stats["requests"] - requests_before
            rate_limited = client.stats["rate_limited"]
            sent = int(campaign(cid, client=client)["delivery_sent"]) - before
        finally:
            client.close()

    statuses = result["status"].value_counts()
    triggered = int(statuses.get("triggered", 0))
    rate = triggered / elapsed
    ratio = rate / CEILING
    print(f"rows:                    {n:,} (campaign {cid}, sandbox {base_url})")
    print(f"statuses:                { {k: int(v) for k, v in statuses.items() if v} }")
    print(f"HTTP requests:           {requests:,} in {elapsed:.1f} s (incl. the look-up)")
    print(f"triggers/s:              {rate:.1f}")
    print(f"ratio to 100/s ceiling:  {ratio:.3f}  (target >= 0.95)")
    print(f"429 responses:           {rate_limited}  (target 0)")
    print(f"sends recorded (API):    {sent:,} of {n:,}  (target exactly {n:,})")
    ok = ratio >= 0.95 and rate_limited == 0 and sent == n and triggered == n
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
