"""Progress: which renderer `progress=` selects, silence when not interactive, callback
events, and that reporting costs the hot path nothing measurable."""

from __future__ import annotations

import io
import itertools
import time

import pytest

from spotzee_frames import _progress
from spotzee_frames._errors import ValidationError
from spotzee_frames._progress import ProgressEvent, Reporter, make_reporter


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class Terminal:
    """Makes stderr an interactive terminal (outside CI and Jupyter) for the test body.

    pytest re-installs its own sys.stderr between setup and call, so the swap happens
    inside the test, through `terminal.attach()`.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch
        self.tty = FakeTTY()
        monkeypatch.delenv("CI", raising=False)
        monkeypatch.setattr(_progress, "_in_notebook", lambda: False)

    def attach(self) -> FakeTTY:
        self._monkeypatch.setattr("sys.stderr", self.tty)
        return self.tty


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Terminal:
    return Terminal(monkeypatch)


def run(reporter: Reporter, rows: int = 10, failed_every: int = 4) -> None:
    with reporter:
        for i in range(rows):
            reporter.advance(1, 1 if i % failed_every == 0 else 0)


def test_auto_is_silent_when_not_interactive(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_progress, "_in_notebook", lambda: False)
    reporter = make_reporter(None, desc="upsert", total=10)
    assert reporter._renderer is None
    run(reporter)
    assert capsys.readouterr() == ("", "")


def test_auto_is_silent_in_ci_even_on_a_terminal(
    terminal: Terminal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    tty = terminal.attach()
    reporter = make_reporter(None, desc="upsert", total=10)
    run(reporter)
    assert reporter._renderer is None
    assert tty.getvalue() == ""


def test_auto_draws_a_text_bar_on_an_interactive_stderr(
    terminal: Terminal, capsys: pytest.CaptureFixture[str]
) -> None:
    tty = terminal.attach()
    reporter = make_reporter(None, desc="upsert", total=10)
    assert isinstance(reporter._renderer, _progress._TqdmRenderer)
    reporter._MIN_INTERVAL = 0.0
    run(reporter)
    drawn = tty.getvalue()
    assert "upsert" in drawn and "10/10 rows" in drawn and "3 failed" in drawn
    assert "row/s" in drawn
    assert capsys.readouterr().out == ""  # never on stdout


def test_true_forces_a_bar_and_false_silences_it(
    monkeypatch: pytest.MonkeyPatch, terminal: Terminal
) -> None:
    monkeypatch.setenv("CI", "1")
    tty = terminal.attach()
    assert isinstance(make_reporter(True, desc="x", total=1)._renderer, _progress._TqdmRenderer)
    silent = make_reporter(False, desc="x", total=10)
    run(silent)
    assert silent._renderer is None
    assert tty.getvalue().count("x:") >= 1  # only the forced bar drew
    assert "0/10" not in tty.getvalue()


def test_notebook_uses_the_widget_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[object] = []
    updated: list[str] = []

    class Handle:
        def update(self, obj: object) -> None:
            updated.append(repr(obj))

    def display(obj: object, display_id: bool = False) -> Handle:
        assert display_id
        shown.append(obj)
        return Handle()

    monkeypatch.setattr(_progress, "_in_notebook", lambda: True)
    monkeypatch.setattr("IPython.display.display", display)
    reporter = make_reporter(None, desc="upsert", total=10)
    renderer = reporter._renderer
    assert isinstance(renderer, _progress._TqdmRenderer) and renderer._notebook
    reporter._MIN_INTERVAL = 0.0
    run(reporter)
    assert shown, "the widget was displayed"
    _, bar, right = renderer._bar.container.children
    assert bar.value == 10 and bar.max == 10
    assert "3\u2007failed" in right.value
    assert bar.bar_style == "warning"  # finished, but some rows failed
    # the saved output's text form is refreshed to the finished bar
    assert len(updated) == 1 and "10/10 rows" in updated[0] and "3 failed" in updated[0]


def test_callable_gets_monotonic_events_and_a_final_one() -> None:
    events: list[ProgressEvent] = []
    reporter = make_reporter(events.append, desc="trigger", total=50)
    reporter._MIN_INTERVAL = 0.0
    run(reporter, rows=50, failed_every=10)
    assert events[-1].finished and events[-1].done == 50 and events[-1].failed == 5
    assert all(not e.finished for e in events[:-1])
    for before, after in itertools.pairwise(events):
        assert after.done >= before.done
        assert after.failed >= before.failed
        assert after.elapsed >= before.elapsed
    assert all(e.failed <= e.done <= e.total for e in events)
    assert events[-1].rate > 0 and events[-1].remaining == 0


def test_callback_events_are_throttled_but_close_always_reports() -> None:
    events: list[ProgressEvent] = []
    with make_reporter(events.append, desc="x", total=10_000) as reporter:
        for _ in range(10_000):
            reporter.advance(1)
    assert 1 <= len(events) < 100
    assert events[-1].done == 10_000 and events[-1].finished


def test_bad_progress_value_is_refused() -> None:
    with pytest.raises(ValidationError, match="progress must be"):
        make_reporter("yes", desc="x", total=1)  # type: ignore[arg-type]


def test_a_broken_display_does_not_stop_the_run(terminal: Terminal) -> None:
    terminal.attach()
    reporter = make_reporter(True, desc="x", total=3)

    class Broken:
        def show(self, event: ProgressEvent) -> None:
            raise RuntimeError("widget comm closed")

        close = show

    reporter._renderer = Broken()  # type: ignore[assignment]
    reporter._MIN_INTERVAL = 0.0
    run(reporter, rows=3)
    assert reporter.done == 3 and reporter._renderer is None


def test_reporting_does_not_slow_the_hot_path(terminal: Terminal) -> None:
    """100,000 advance() calls with a live bar cost well under a millisecond per 100 rows."""
    terminal.attach()
    reporter = make_reporter(True, desc="x", total=100_000)
    start = time.perf_counter()
    for _ in range(100_000):
        reporter.advance(1)
    elapsed = time.perf_counter() - start
    reporter.close()
    assert elapsed < 1.0, f"{elapsed:.3f}s for 100,000 advance() calls"
