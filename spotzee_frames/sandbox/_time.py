"""UTC timestamps as the API writes them (ISO 8601, milliseconds, `Z`) and as integers."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = ["from_micros", "iso_z", "now_micros", "to_micros"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO: Final = timedelta(microseconds=1)


def now_micros() -> int:
    """Wall-clock time as integer microseconds since the epoch, truncated to milliseconds."""
    return time.time_ns() // 1_000_000 * 1000


def to_micros(moment: datetime) -> int:
    """An aware datetime as integer microseconds since the epoch."""
    return (moment - _EPOCH) // _MICRO


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def iso_z(micros: int) -> str:
    """`2026-04-28T09:30:00.123Z`: fixed width, so text order is time order."""
    moment = _EPOCH + timedelta(microseconds=micros)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
