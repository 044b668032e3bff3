"""Per-client-IP rate limiting: a token bucket, or the contract's fixed edge limits."""

from __future__ import annotations

from collections import deque
from typing import Final

__all__ = ["EDGE_LIMITS", "RateLimiter"]

#: (requests, window seconds): /api/* 1000 per 10 s and /api/client/* 8000 per minute.
EDGE_LIMITS: Final = ((1000, 10.0), (8000, 60.0))


class RateLimiter:
    """Admit or refuse a request; refused requests cost nothing."""

    def __init__(self) -> None:
        self._rate: float | None = None
        self._buckets: dict[str, tuple[float, float]] = {}
        self._windows: dict[str, tuple[deque[float], ...]] = {}

    def admit(self, client: str, now: float, rate: float | None) -> float | None:
        """None if admitted, else the seconds until a request would be."""
        if rate != self._rate:
            self._rate = rate
            self._buckets.clear()
        if rate is None:
            return self._admit_edge(client, now)
        return self._admit_bucket(client, now, rate)

    def _admit_bucket(self, client: str, now: float, rate: float) -> float | None:
        if rate <= 0:
            return 1.0
        burst = max(1.0, rate / 10.0)
        tokens, stamp = self._buckets.get(client, (burst, now))
        tokens = min(burst, tokens + (now - stamp) * rate)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / rate
        self._buckets[client] = (tokens - 1.0, now)
        return None

    def _admit_edge(self, client: str, now: float) -> float | None:
        logs = self._windows.get(client)
        if logs is None:
            logs = self._windows[client] = tuple(deque() for _ in EDGE_LIMITS)
        wait = 0.0
        for log, (limit, window) in zip(logs, EDGE_LIMITS, strict=True):
            while log and log[0] <= now - window:
                log.popleft()
            if len(log) >= limit:
                wait = max(wait, log[0] + window - now)
        if wait > 0.0:
            return wait
        for log in logs:
            log.append(now)
        return None

    def clear(self) -> None:
        self._buckets.clear()
        self._windows.clear()
