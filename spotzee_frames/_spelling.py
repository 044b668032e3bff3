"""How messages name the caller's options: Python keywords from the library, flags from the
command line.

Errors and row messages come from code that the library and the CLI share, and each kind
of caller must be told what to type: `mapping={'Customer Id': 'external_id'}` in a
notebook, `--map "Customer Id=external_id"` in a shell. The CLI sets the spelling for the
duration of a command; everything else spells Python. The choice lives in a context
variable, so code that hands work to a thread pool carries it along with
`contextvars.copy_context().run`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["call", "cli_spelling", "is_cli", "mapping", "option"]

_CLI: ContextVar[bool] = ContextVar("spotzee_frames_cli_spelling", default=False)
_NOTHING: Any = object()
# What a shell passes through unquoted.
_PLAIN = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


@contextmanager
def cli_spelling() -> Iterator[None]:
    """Within this block, messages name command-line flags instead of Python keywords."""
    token = _CLI.set(True)
    try:
        yield
    finally:
        _CLI.reset(token)


def is_cli() -> bool:
    return _CLI.get()


def _shell(text: str) -> str:
    """`text` as one shell word: as it is when plain, else in double quotes (or in single
    quotes when double quotes would let the shell expand something)."""
    if _PLAIN.fullmatch(text):
        return text
    if not any(ch in text for ch in '"$`\\!'):
        return f'"{text}"'
    return shlex.quote(text)


def option(name: str, value: Any = _NOTHING) -> str:
    """An option as the caller writes it: `duplicates='first'` or `--duplicates first`;
    without a value, `default_region=` or `--default-region`."""
    if _CLI.get():
        flag = "--" + name.replace("_", "-")
        return flag if value is _NOTHING else f"{flag} {_shell(str(value))}"
    return f"{name}=" if value is _NOTHING else f"{name}={value!r}"


def mapping(column: Hashable, target: str | None) -> str:
    """Sending `column` as `target` (None: leaving it out), as the caller writes it:
    `mapping={'Customer Id': 'external_id'}` or `--map "Customer Id=external_id"`."""
    if _CLI.get():
        return "--map " + _shell(f"{column}={target or ''}")
    return f"mapping={{{column!r}: {target!r}}}"


def call(function: str, *args: Any) -> str:
    """A function of the package called with `args`, or the CLI command that does the
    same: `spotzee_frames.schedule_campaign(5)` or `spotzee-frames schedule-campaign 5`."""
    if _CLI.get():
        words = ["spotzee-frames", function.replace("_", "-"), *(_shell(str(a)) for a in args)]
        return " ".join(words)
    return f"spotzee_frames.{function}({', '.join(repr(a) for a in args)})"
