"""Idempotency-Key bookkeeping: claim a key, then cache the answer or let the key go.

Keys are scoped per API key and tied to the exact request (method, path, body bytes).
2xx and 4xx answers are kept for 24 hours and replayed; 5xx and 429 are not kept.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

__all__ = [
    "Claimed",
    "IdempotencyCache",
    "InProgress",
    "Mismatch",
    "Replay",
    "fingerprint",
    "scope_of",
]

TTL: Final = 24 * 3600.0
_PACK_ABOVE: Final = 2048


def scope_of(api_key: str) -> bytes:
    """The cache scope of an API key (a digest, so the key itself is not kept)."""
    return hashlib.sha256(api_key.encode()).digest()


def fingerprint(method: str, path: str, query: str, body: bytes) -> bytes:
    digest = hashlib.sha256()
    digest.update(f"{method} {path}?{query}\n".encode())
    digest.update(body)
    return digest.digest()


@dataclass(slots=True)
class _Entry:
    fingerprint: bytes
    expires: float
    busy_until: float
    done: bool = False
    status: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    packed: bool = False
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class Claimed:
    """The key is now held by this request."""


@dataclass(frozen=True, slots=True)
class Replay:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    request_id: str


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The key was used before with another request."""


@dataclass(frozen=True, slots=True)
class InProgress:
    retry_after: int


class IdempotencyCache:
    """Keys in use and the answers to replay."""

    def __init__(self, *, max_entries: int = 100_000) -> None:
        self._entries: OrderedDict[tuple[bytes, str], _Entry] = OrderedDict()
        self._max_entries = max_entries

    def claim(
        self, scope: bytes, key: str, print_: bytes, now: float, busy_until: float
    ) -> Claimed | Replay | Mismatch | InProgress:
        entry = self._entries.get((scope, key))
        if entry is not None and entry.expires <= now:
            del self._entries[(scope, key)]
            entry = None
        if entry is None:
            self._entries[(scope, key)] = _Entry(print_, now + TTL, busy_until)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
            return Claimed()
        if entry.fingerprint != print_:
            return Mismatch()
        if not entry.done:
            return InProgress(max(1, math.ceil(entry.busy_until - now)))
        body = zlib.decompress(entry.body) if entry.packed else entry.body
        return Replay(entry.status, entry.headers, body, entry.request_id)

    def complete(
        self,
        scope: bytes,
        key: str,
        status: int,
        headers: tuple[tuple[str, str], ...],
        body: bytes,
        request_id: str,
    ) -> None:
        """Keep a 2xx/4xx answer for replay; let the key go after a 5xx or 429."""
        entry = self._entries.get((scope, key))
        if entry is None or entry.done:
            return
        if status >= 500 or status == 429:
            del self._entries[(scope, key)]
            return
        entry.done = True
        entry.status = status
        entry.headers = headers
        entry.request_id = request_id
        if len(body) > _PACK_ABOVE:
            entry.body, entry.packed = zlib.compress(body, 1), True
        else:
            entry.body = body

    def release(self, scope: bytes, key: str) -> None:
        entry = self._entries.get((scope, key))
        if entry is not None and not entry.done:
            del self._entries[(scope, key)]

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
