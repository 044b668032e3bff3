"""Fault settings, and the per-request decision of which fault (if any) strikes."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final, Literal, cast, get_args

__all__ = ["FAULT_KINDS", "FaultKind", "FaultPlan", "Faults"]

FaultKind = Literal["503", "500", "429", "drop", "html502", "plain404"]
FAULT_KINDS: Final[tuple[str, ...]] = get_args(FaultKind)


@dataclass
class Faults:
    """How badly the sandbox behaves; change the fields mid-run to change it.

    Order per request: rate limit, then a scripted or random failure before any work
    (503 and friends), then `latency`, then the work (and `item_cost` per item), then a
    scripted or random drop (the work is committed and cached, the response is lost).
    """

    #: Probability of 503 service_unavailable before doing any work.
    failure_rate: float = 0.0
    #: Probability the work is committed and then the response is lost.
    drop_rate: float = 0.0
    #: Seconds added to every request that gets past the faults; the idempotency key is
    #: held "in progress" meanwhile.
    latency: float = 0.0
    #: CPU seconds of work per item of a request that does work (each element of a batch
    #: body; 1 for any other request), spent computing, not sleeping, as a real server's
    #: validation and writes would: a served sandbox then competes for the machine's cores
    #: like a real one. 50e-6 (50 us an item, 5 ms for a 100-item batch) is a modest server.
    item_cost: float = 0.0
    #: Requests per second per client IP as a token bucket (burst max(1, rate/10)); None =
    #: the contract's edge limits (1000 per 10 s and 8000 per minute per IP).
    rate_limit: float | None = None
    #: Retry-After seconds on 429 (an integer, per HTTP).
    retry_after: int = 1
    #: Seed of the random faults; None = not reproducible.
    seed: int | None = 0


@dataclass(slots=True)
class _Script:
    kind: FaultKind
    remaining: int
    method: str | None
    path: str | None


class FaultPlan:
    """Scripted faults (consumed in order) and the seeded dice for random ones."""

    def __init__(self) -> None:
        self._scripts: list[_Script] = []
        self._rng = random.Random(0)
        self._seeded_for: tuple[int, int | None] | None = None

    def inject(
        self, kind: str, *, times: int = 1, method: str | None = None, path: str | None = None
    ) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose one of {', '.join(FAULT_KINDS)}")
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise ValueError(f"times must be a positive integer, got {times!r}")
        if path is not None and not path.startswith("/"):
            raise ValueError(f"path is relative to /api/client and starts with '/', got {path!r}")
        checked = cast(FaultKind, kind)  # checked against FAULT_KINDS above
        self._scripts.append(
            _Script(checked, times, None if method is None else method.upper(), path)
        )

    def take(self, method: str, path: str) -> FaultKind | None:
        """The first scripted fault matching this request, consumed; None if none match."""
        for index, script in enumerate(self._scripts):
            if script.method is not None and script.method != method:
                continue
            if script.path is not None and not path.startswith(script.path):
                continue
            script.remaining -= 1
            if script.remaining == 0:
                del self._scripts[index]
            return script.kind
        return None

    def pending(self) -> int:
        return sum(script.remaining for script in self._scripts)

    def chance(self, faults: Faults, rate: float) -> bool:
        """True with probability `rate`, from a stream seeded by `faults.seed`."""
        if rate <= 0.0:
            return False
        marker = (id(faults), faults.seed)
        if marker != self._seeded_for:
            self._rng = random.Random(faults.seed)
            self._seeded_for = marker
        return self._rng.random() < rate

    def clear(self) -> None:
        self._scripts.clear()
        self._seeded_for = None
