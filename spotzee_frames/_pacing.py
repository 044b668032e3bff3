"""Client-side throughput control: a pacer that spaces request starts, and a gate that
pauses every worker of a client at once when the server says to back off."""

from __future__ import annotations

import asyncio

__all__ = ["Gate", "Pacer"]


class Pacer:
    """Spaces request starts at least `1/rate` seconds apart, with no burst.

    A strict interval (rather than a bucket that allows a burst) keeps a client under
    any window the edge may count in (100/s, 1,000 per 10 s, 8,000 per minute).
    """

    def __init__(self, rate: float | None) -> None:
        if rate is not None and rate <= 0:
            raise ValueError(
                f"rate_limit must be a positive number of requests/s or None, not {rate!r}"
            )
        self.base_interval = 0.0 if rate is None else 1.0 / rate
        self.interval = self.base_interval
        self._next = 0.0
        self._lock = asyncio.Lock()

    # The edge may count more strictly than the documented budget (or share it with other
    # clients on the host): after a 429 the pace halves, and successes win it back slowly.
    _SLOWEST = 5.0
    _RECOVERY = 0.99

    def slow_down(self) -> None:
        self.interval = min(self._SLOWEST, max(self.interval * 2, self.base_interval, 0.01))

    def recover(self) -> None:
        if self.interval > self.base_interval:
            self.interval = max(self.base_interval, self.interval * self._RECOVERY)
            if self.interval < 0.001:
                self.interval = self.base_interval

    async def wait(self) -> None:
        if self.interval == 0.0:
            return
        async with self._lock:  # one waiter at a time: wake-ups are spaced, not only slots
            loop = asyncio.get_running_loop()
            now = loop.time()
            if self._next > now:
                await asyncio.sleep(self._next - now)
                now = loop.time()
            # Nearly on time: keep the schedule, so sleep overshoot costs no pace. Late by
            # more than half a slot (the loop stalled: a GC pause, the GIL held while
            # bodies are built): count from now, so the stall releases no burst.
            late = now - self._next
            self._next = (now if late > self.interval / 2 else self._next) + self.interval


class Gate:
    """Holds every worker until a shared "not before" time (Retry-After, rate-limit reset)."""

    def __init__(self) -> None:
        self._until = 0.0

    def pause(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self._until = max(self._until, loop.time() + seconds)

    @property
    def paused_for(self) -> float:
        return max(0.0, self._until - asyncio.get_running_loop().time())

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        while (delay := self._until - loop.time()) > 0:
            await asyncio.sleep(delay)
