"""Messages name options as the caller writes them: Python keywords, or CLI flags."""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor

from spotzee_frames import _spelling as spell


def test_python_and_cli_spellings() -> None:
    python = (
        spell.option("duplicates", "first"),
        spell.option("default_region"),
        spell.mapping("Customer Id", "external_id"),
        spell.mapping("x", None),
        spell.call("schedule_campaign", 5),
    )
    assert python == (
        "duplicates='first'",
        "default_region=",
        "mapping={'Customer Id': 'external_id'}",
        "mapping={'x': None}",
        "spotzee_frames.schedule_campaign(5)",
    )
    with spell.cli_spelling():
        cli = (
            spell.option("duplicates", "first"),
            spell.option("default_region"),
            spell.mapping("Customer Id", "external_id"),
            spell.mapping("x", None),
            spell.call("schedule_campaign", 5),
            spell.mapping("it's $HOME", "email"),
        )
    assert cli == (
        "--duplicates first",
        "--default-region",
        '--map "Customer Id=external_id"',
        "--map x=",
        "spotzee-frames schedule-campaign 5",
        "--map 'it'\"'\"'s $HOME=email'",
    )
    assert not spell.is_cli()


def test_the_spelling_travels_into_worker_threads_when_carried() -> None:
    with spell.cli_spelling(), ThreadPoolExecutor(1) as pool:
        carried = pool.submit(contextvars.copy_context().run, spell.is_cli).result()
    assert carried is True
