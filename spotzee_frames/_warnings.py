"""The warnings the toolkit issues: something was sent, but probably not as the caller meant.

    UserWarning
    └── SpotzeeWarning
        ├── NumericIdWarning               an id came from a numeric column (leading zeros
        │                                  already lost)
        └── IdempotencyNotHonouredWarning  the server may apply a re-sent write twice

A warning points at the caller's own line (the first frame outside this package), so
Python's default filter shows it once per place it is called from, and `-W error` or
`pytest.warns` see it like any other.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from pathlib import Path
from types import FrameType

__all__ = [
    "IDEMPOTENCY_NOT_HONOURED",
    "IdempotencyNotHonouredWarning",
    "NumericIdWarning",
    "SpotzeeWarning",
    "warn",
]

_PACKAGE = str(Path(__file__).resolve().parent)
# The standard library's decorators that wrap the package's functions (contextlib's).
_WRAPPERS = frozenset({str(Path(contextlib.__file__).resolve())})


class SpotzeeWarning(UserWarning):
    """Base of every warning spotzee-frames issues."""


class NumericIdWarning(SpotzeeWarning):
    """`external_id` or `anonymous_id` came from a numeric column.

    Reading a file with `pd.read_csv` turns `0000001` into the integer 1, which is sent as
    `"1"`: a different Spotzee user than the `"0000001"` the file names. Read the file with
    `spotzee_frames.read_file` (ids stay text) or `pd.read_csv(..., dtype={column: str})`.
    """


class IdempotencyNotHonouredWarning(SpotzeeWarning):
    """The server shows no sign of honouring `Idempotency-Key` (it does not echo
    `Spotzee-Version`, as a self-hosted Parcelvoy does not): re-running a call, or
    retrying one whose answer was lost, may apply it twice there. Given once per client."""


#: The text of IdempotencyNotHonouredWarning; `{base_url}` is the client's.
IDEMPOTENCY_NOT_HONOURED = (
    "{base_url} does not answer like the Spotzee API (no Spotzee-Version echo), so it may "
    "ignore Idempotency-Key, as a self-hosted Parcelvoy does. There, running the same call "
    "again sends again: re-running a trigger cell emails everyone a second time, and a "
    "request whose answer is lost is not retried (it may have been applied). On such a "
    "server the local ledger (ledger=) is what keeps triggers exactly-once."
)


def _caller_level() -> int:
    """The `stacklevel` that names the first frame outside this package (and outside the
    standard library's decorators that wrap its functions)."""
    level = 1
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        path = str(Path(frame.f_code.co_filename).resolve())
        if not path.startswith(_PACKAGE) and path not in _WRAPPERS:
            break
        frame = frame.f_back
        level += 1
    return level


def warn(message: str, category: type[SpotzeeWarning]) -> None:
    """Issue `message` as a `category` warning from the caller's line."""
    warnings.warn(message, category, stacklevel=_caller_level())
