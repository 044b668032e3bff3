"""An integration's state file: status, one watermark per object, and the log.

The file is JSON, rewritten whole and atomically (a temporary file beside it, flushed and
fsynced, then `os.replace`d over it, then the folder fsynced), so a crash leaves either the
old state or the new one, never a torn one, and never a watermark ahead of what was sent:
watermarks are written only by the last write of a successful run.

Two locks, on files beside it: a run holds `<state>.lock` for its whole length (a second
run of the same integration refuses at once, rather than both sending), and every
read-modify-write of the state holds `<state>.wlock` for a moment, so a health check
logged during a run is not lost. Both are OS locks (`flock`), released if the process dies.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

import orjson

from .._errors import ConfigurationError, IntegrationStateError

__all__ = ["FORMAT", "LOG_EVENTS", "StateFile", "iso_now", "new_state"]

FORMAT: Final = 1
LOG_EVENTS: Final = (
    "sync_started",
    "sync_completed",
    "sync_failed",
    "records_imported",
    "records_updated",
    "health_check",
)
#: The log keeps this many entries, the newest.
MAX_LOG: Final = 10_000

try:  # POSIX
    import fcntl

    def _try_lock(f: IO[bytes], *, wait: bool) -> bool:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            return False
        return True

    def _unlock(f: IO[bytes]) -> None:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)

except ImportError:  # pragma: no cover - Windows
    import msvcrt

    def _try_lock(f: IO[bytes], *, wait: bool) -> bool:
        mode = msvcrt.LK_LOCK if wait else msvcrt.LK_NBLCK  # type: ignore[attr-defined]
        try:
            msvcrt.locking(f.fileno(), mode, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True

    def _unlock(f: IO[bytes]) -> None:
        msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]


def iso_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_state(integration: str) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "integration": integration,
        "paused": False,
        "connection": None,
        "error": None,
        "last_run": None,
        "last_success": None,
        "objects": {},
        "log": [],
    }


class StateFile:
    """The state of one integration at `path`."""

    def __init__(self, path: Path, integration: str) -> None:
        self.path = path
        self.integration = integration

    def __repr__(self) -> str:
        return f"StateFile({str(self.path)!r})"

    def read(self) -> dict[str, Any]:
        """The state as stored (a fresh one when the file does not exist yet)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return new_state(self.integration)
        except OSError as exc:
            raise ConfigurationError(f"cannot read the state file {self.path}: {exc}") from None
        try:
            state = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ConfigurationError(
                f"the state file {self.path} is not valid JSON ({exc}); it was not written "
                "by spotzee-frames, or was edited by hand"
            ) from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ConfigurationError(
                f"the state file {self.path} is not a spotzee-frames Salesforce state "
                f"(format {FORMAT})"
            )
        owner = state.get("integration")
        if owner != self.integration:
            raise ConfigurationError(
                f"the state file {self.path} belongs to integration {owner!r}, not "
                f"{self.integration!r}; give each integration its own state file"
            )
        return state

    def _write(self, state: dict[str, Any]) -> None:
        folder = self.path.parent
        data = orjson.dumps(state, option=orjson.OPT_INDENT_2)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):  # not every platform can fsync a folder
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    @contextlib.contextmanager
    def _locked(self, suffix: str, *, wait: bool) -> Iterator[bool]:
        folder = self.path.parent
        if not folder.is_dir():
            raise ConfigurationError(f"the folder of the state file {self.path} does not exist")
        with open(self.path.with_name(self.path.name + suffix), "a+b") as f:
            got = _try_lock(f, wait=wait)
            try:
                yield got
            finally:
                if got:
                    _unlock(f)

    @contextlib.contextmanager
    def update(self) -> Iterator[dict[str, Any]]:
        """Read the state, let the caller change it, write it back atomically, all under
        the write lock (nothing is written if the block raises)."""
        with self._locked(".wlock", wait=True):
            state = self.read()
            yield state
            log = state.get("log") or []
            if len(log) > MAX_LOG:
                state["log"] = log[-MAX_LOG:]
            self._write(state)

    @contextlib.contextmanager
    def run_lock(self) -> Iterator[None]:
        """Hold the run lock for a sync; IntegrationStateError if another run holds it."""
        with self._locked(".lock", wait=False) as got:
            if not got:
                raise IntegrationStateError(
                    f"another sync of integration {self.integration!r} is running (it holds "
                    f"{self.path.name}.lock); this run did nothing",
                    reason="locked",
                )
            yield

    def running(self) -> bool:
        """Whether a sync holds the run lock right now."""
        if not self.path.parent.is_dir():
            return False
        with self._locked(".lock", wait=False) as got:
            return not got
