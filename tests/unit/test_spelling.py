"""Messages name options as the caller writes them: Python keywords, or CLI flags."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from spotzee_frames import _spelling as spell


@pytest.mark.parametrize(
    ("spelt", "python", "cli"),
    [
        (lambda: spell.option("duplicates", "first"), "duplicates='first'", "--duplicates first"),
        (lambda: spell.option("default_region"), "default_region=", "--default-region"),
        (
            lambda: spell.mapping("Customer Id", "external_id"),
            "mapping={'Customer Id': 'external_id'}",
            '--map "Customer Id=external_id"',
        ),
        (lambda: spell.mapping("x", None), "mapping={'x': None}", "--map x="),
        (
            lambda: spell.call("schedule_campaign", 5),
            "spotzee_frames.schedule_campaign(5)",
            "spotzee-frames schedule-campaign 5",
        ),
        (
            lambda: spell.mapping("it's $HOME", "email"),
            """mapping={"it's $HOME": 'email'}""",
            "--map 'it'\"'\"'s $HOME=email'",
        ),
    ],
)
def test_python_and_cli_spellings(spelt: Callable[[], str], python: str, cli: str) -> None:
    assert spelt() == python
    with spell.cli_spelling():
        assert spelt() == cli
    assert not spell.is_cli()


def test_the_spelling_travels_into_worker_threads_when_carried() -> None:
    with spell.cli_spelling(), ThreadPoolExecutor(1) as pool:
        carried = pool.submit(contextvars.copy_context().run, spell.is_cli).result()
    assert carried is True
