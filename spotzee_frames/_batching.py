"""Cut sendable rows into full batches, encode each to its exact body, and key it.

The `Idempotency-Key` of a batch is derived from what is sent: a BLAKE3 hash (256 bits,
cryptographic, about three times faster than SHA-256 over a million rows of bodies) of the
method, the path and the exact body bytes. The same batch sent again (a retry, or re-running the
same notebook cell within Spotzee's 24-hour window) carries the same key and is replayed
instead of applied twice; two different bodies, or the same items sent to another
endpoint (sync `POST /users/batch` vs async `PATCH /users`), never share a key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import blake3
import msgspec

from ._errors import ValidationError

__all__ = [
    "MAX_BATCH_SIZE",
    "Batch",
    "batch_bounds",
    "check_batch_size",
    "encode_body",
    "idempotency_key",
    "iter_batches",
]

MAX_BATCH_SIZE = 100
KEY_PREFIX = "sfu"


def check_batch_size(batch_size: Any, *, maximum: int = MAX_BATCH_SIZE) -> int:
    """Return `batch_size` if it is an int in 1..maximum, else raise ValidationError."""
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or not (1 <= batch_size <= maximum)
    ):
        raise ValidationError(
            f"batch_size must be an integer from 1 to {maximum} (the API's limit per "
            f"request); got {batch_size!r}"
        )
    return batch_size


def batch_bounds(n_items: int, batch_size: int) -> list[tuple[int, int]]:
    """`(start, stop)` of each batch: full batches, the last one possibly shorter."""
    return [(start, min(start + batch_size, n_items)) for start in range(0, n_items, batch_size)]


_ENCODER = msgspec.json.Encoder()


def encode_body(items: Sequence[Any]) -> bytes:
    """The exact request body: a bare JSON array, compact, UTF-8 (msgspec's spelling, the
    one `Prepared.body` writes too)."""
    return _ENCODER.encode(items)


def idempotency_key(method: str, path: str, body: bytes, *, prefix: str = KEY_PREFIX) -> str:
    """`<prefix>_<blake3 hex>` of method, path and body (68 characters with `sfu`)."""
    digest = blake3.blake3(f"{method.upper()} {path}\n".encode())
    digest.update(body)
    return f"{prefix}_{digest.hexdigest()}"


@dataclass(frozen=True)
class Batch:
    """One request's worth of items: `start:stop` in the list of sendable rows."""

    number: int
    start: int
    stop: int
    method: str
    path: str
    body: bytes
    key: str

    def __len__(self) -> int:
        return self.stop - self.start

    def call(self) -> Any:
        """The client `Call` that sends exactly this body under this key."""
        from ._client import Call

        return Call(method=self.method, path=self.path, content=self.body, idempotency_key=self.key)


def iter_batches(
    n_items: int,
    encode: Callable[[int, int], bytes],
    *,
    method: str,
    path: str,
    batch_size: int = MAX_BATCH_SIZE,
    prefix: str = KEY_PREFIX,
) -> Iterator[Batch]:
    """Yield the batches of `n_items` items, encoding each body only when it is needed.

    `encode(start, stop)` returns the exact body of items `start:stop`
    (`Prepared.body`, or `encode_body` of a list of items).
    """
    check_batch_size(batch_size)
    for number, (start, stop) in enumerate(batch_bounds(n_items, batch_size)):
        body = encode(start, stop)
        yield Batch(
            number=number,
            start=start,
            stop=stop,
            method=method,
            path=path,
            body=body,
            key=idempotency_key(method, path, body, prefix=prefix),
        )
