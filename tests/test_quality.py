"""The package type-checks strictly and the repository is lint-clean and formatted, as
configured in pyproject.toml: the checks run here so CI holds them, not just a habit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_tool(*args: str) -> None:
    """Run `python -m <args>` from the repository root; fail with its output unless it exits 0."""
    done = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = f"{done.stdout}\n{done.stderr}".strip()
    assert done.returncode == 0, f"`{' '.join(args)}` exited {done.returncode}:\n{output}"


@pytest.mark.slow
def test_package_passes_strict_mypy() -> None:
    run_tool("mypy")  # files and strictness come from [tool.mypy]


def test_ruff_check_is_clean() -> None:
    run_tool("ruff", "check", ".")


def test_ruff_format_has_nothing_to_change() -> None:
    run_tool("ruff", "format", "--check", ".")
