"""Progress reporting, kept apart from I/O: sending loops call a reporter, a renderer shows it.

`progress=None` (auto) shows an ipywidgets bar in Jupyter, a text bar on stderr in an
interactive terminal, and nothing in non-interactive runs (CI, pipes). `True` forces a
bar, `False` shows none, and a callable receives every `ProgressEvent`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ._errors import ValidationError

__all__ = ["ProgressEvent", "ProgressLike", "Reporter", "make_reporter"]

logger = logging.getLogger("spotzee_frames")


@dataclass(frozen=True)
class ProgressEvent:
    """A snapshot of a run: rows done (succeeded or not) of the total, and how many failed."""

    desc: str
    total: int
    done: int
    failed: int
    elapsed: float
    finished: bool = False

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def remaining(self) -> float | None:
        """Seconds left at the current rate, or None before the rate is known."""
        if self.done == 0 or self.elapsed <= 0:
            return None
        return (self.total - self.done) / self.rate


ProgressLike = bool | None | Callable[[ProgressEvent], Any]


class _Renderer(Protocol):
    def show(self, event: ProgressEvent) -> None: ...
    def close(self, event: ProgressEvent) -> None: ...


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _interactive_terminal() -> bool:
    if os.environ.get("CI"):
        return False
    return sys.stderr.isatty()


class _TqdmRenderer:
    """A tqdm bar: an ipywidgets bar in Jupyter, text on stderr elsewhere.

    It shows rows done of the total, the rows failed so far, the rate and the time left.
    The reporter already throttles, so tqdm is told to draw every update it gets.
    """

    _FORMAT = (
        "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} rows "
        "[{elapsed}<{remaining}, {rate_fmt}{postfix}]"
    )

    def __init__(self, desc: str, total: int, *, notebook: bool) -> None:
        options: dict[str, Any] = {
            "total": total,
            "desc": desc,
            "unit": "row",
            "leave": True,
            "mininterval": 0,
            "bar_format": self._FORMAT,
        }
        self._notebook = False
        self._handle: Any = None
        bar: Any = None
        if notebook:
            try:
                from IPython import display as ipython_display
                from tqdm.notebook import tqdm as notebook_tqdm

                display: Callable[..., Any] = ipython_display.display  # untyped upstream

                bar = notebook_tqdm(display=False, **options)
                # Displayed with an id so that close() can refresh the output's text form
                # too: a saved notebook seen without widgets (GitHub, nbconvert) then
                # shows the finished bar, not the 0% it was first displayed at.
                self._handle = display(bar.container, display_id=True)
                self._notebook = True
            except ImportError:  # ipywidgets missing: fall back to text
                bar = None
        if bar is None:
            from tqdm import tqdm as text_tqdm

            bar = text_tqdm(file=sys.stderr, dynamic_ncols=True, **options)
        self._bar = bar
        self._shown = 0
        self._failed = 0

    def show(self, event: ProgressEvent) -> None:
        if event.total != self._bar.total:  # a listing learns its size as it goes
            self._bar.total = event.total
        if event.failed != self._failed:
            self._failed = event.failed
            self._bar.set_postfix_str(f"{event.failed:,} failed", refresh=False)
        step = event.done - self._shown
        self._shown = event.done
        if step:
            self._bar.update(step)
        else:
            self._bar.refresh()

    def close(self, event: ProgressEvent) -> None:
        self.show(event)
        self._bar.close()
        if self._notebook:
            if event.failed and event.done >= event.total:
                # Finished, but not cleanly: amber rather than tqdm's green. (An
                # unfinished bar stays red, which tqdm does itself.)
                self._bar.disp(bar_style="warning", check_delay=False)
            if self._handle is not None:
                self._handle.update(self._bar.container)


class _CallbackRenderer:
    def __init__(self, callback: Callable[[ProgressEvent], Any]) -> None:
        self._callback = callback

    def show(self, event: ProgressEvent) -> None:
        self._callback(event)

    def close(self, event: ProgressEvent) -> None:
        self._callback(event)


class Reporter:
    """What a sending loop talks to. Cheap to call per batch: rendering is throttled."""

    _MIN_INTERVAL = 0.1

    def __init__(self, renderer: _Renderer | None, *, desc: str, total: int) -> None:
        self._renderer = renderer
        self.desc = desc
        self.total = total
        self.done = 0
        self.failed = 0
        self._start = time.monotonic()
        self._last_render = 0.0
        self._closed = False

    def _event(self, *, finished: bool = False) -> ProgressEvent:
        return ProgressEvent(
            desc=self.desc,
            total=self.total,
            done=self.done,
            failed=self.failed,
            elapsed=time.monotonic() - self._start,
            finished=finished,
        )

    def advance(self, done: int = 0, failed: int = 0) -> None:
        """Count `done` more rows finished, `failed` of them unsuccessfully."""
        self.done += done
        self.failed += failed
        if self._renderer is None:
            return
        now = time.monotonic()
        if now - self._last_render >= self._MIN_INTERVAL:
            self._last_render = now
            self._render(self._renderer.show)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._renderer is not None:
            self._render(self._renderer.close, finished=True)

    def _render(self, method: Callable[[ProgressEvent], None], *, finished: bool = False) -> None:
        # A display that breaks (a closed widget comm, a detached terminal) must not stop
        # the run it is only showing: drop the renderer and go on. A callback's own
        # errors are the caller's and propagate.
        if isinstance(self._renderer, _CallbackRenderer):
            method(self._event(finished=finished))
            return
        try:
            method(self._event(finished=finished))
        except Exception:  # progress is best effort
            logger.debug("progress display failed; continuing without it", exc_info=True)
            self._renderer = None

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_reporter(progress: ProgressLike, *, desc: str, total: int) -> Reporter:
    """Build the reporter `progress=` asks for (see the module docstring)."""
    renderer: _Renderer | None
    if callable(progress) and not isinstance(progress, bool):
        renderer = _CallbackRenderer(progress)
    elif progress is True:
        renderer = _TqdmRenderer(desc, total, notebook=_in_notebook())
    elif progress is None:
        notebook = _in_notebook()
        if notebook or _interactive_terminal():
            renderer = _TqdmRenderer(desc, total, notebook=notebook)
        else:
            renderer = None
    else:
        check_progress(progress)
        renderer = None
    return Reporter(renderer, desc=desc, total=total)


def check_progress(progress: Any) -> None:
    """Raise ValidationError unless `progress=` is None, True, False or a callable."""
    if progress is None or isinstance(progress, bool) or callable(progress):
        return
    raise ValidationError(
        f"progress must be None (auto), True, False or a callable, not {progress!r}"
    )
