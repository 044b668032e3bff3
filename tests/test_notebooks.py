"""The notebooks in notebooks/ run top to bottom in a real Jupyter kernel against the
embedded sandbox, with no key, and what they show reads well: no errors, no tracebacks,
no warnings, no key, no reprs of internal objects, no progress bar frozen at 0%."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from spotzee_frames._client import SANDBOX_KEY

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
REQUIRED = ("quickstart.ipynb", "safe_reruns.ipynb", "salesforce_sync.ipynb")
# Reprs that mean an internal object reached the reader instead of a rendering of it.
RAW_REPRS = re.compile(
    r" object at 0x[0-9a-f]+|<spotzee_frames\.|<Sandbox |Counter\(\{"
    r"|\bnp\.(?:int|float|bool|str|True_|False_)"  # numpy scalars: np.int64(70)
)
WARNINGS = re.compile(r"\b\w*Warning\b|warnings\.warn")


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def test_the_required_notebooks_exist() -> None:
    names = {p.name for p in notebook_paths()}
    assert set(REQUIRED) <= names


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a cell has saved outputs"
            assert cell.execution_count is None
    assert "widgets" not in book.metadata


def texts(output: Any) -> list[str]:
    """Every text a reader could see in one output."""
    if output.output_type == "stream":
        return [output.text]
    if output.output_type == "error":
        return [output.ename, output.evalue, *output.traceback]
    data = output.get("data", {})
    return [v for k, v in data.items() if k.startswith("text/") and isinstance(v, str)]


@pytest.fixture(scope="module")
def executed() -> dict[str, nbformat.NotebookNode]:
    """Each notebook, executed once in a fresh kernel."""
    out = {}
    for path in notebook_paths():
        book = nbformat.read(path, as_version=4)
        NotebookClient(
            book,
            timeout=240,
            kernel_name="python3",
            allow_errors=True,  # report every failing cell below, not just the first
            resources={"metadata": {"path": str(NOTEBOOKS)}},
        ).execute()
        out[path.name] = book
    return out


@pytest.mark.slow
@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_and_reads_well(
    path: Path, executed: dict[str, nbformat.NotebookNode]
) -> None:
    book = executed[path.name]
    code_cells = [c for c in book.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code_cells), "every code cell ran"
    problems = []
    for number, cell in enumerate(code_cells, 1):
        where = f"{path.name} code cell {number}: {cell.source.splitlines()[0]!r}"
        for output in cell.outputs:
            if output.output_type == "error":
                problems.append(f"{where} raised {output.ename}: {output.evalue}")
            if output.output_type == "stream" and output.name == "stderr":
                problems.append(f"{where} wrote to stderr: {output.text[:300]!r}")
            for text in texts(output):
                if "Traceback" in text:
                    problems.append(f"{where} shows a traceback")
                if WARNINGS.search(text):
                    problems.append(f"{where} shows a warning: {text[:300]!r}")
                if SANDBOX_KEY in text or re.search(r"\b[sp]k_[A-Za-z0-9_]{6,}", text):
                    problems.append(f"{where} shows an API key")
                if RAW_REPRS.search(text):
                    problems.append(f"{where} shows a raw repr: {text[:300]!r}")
                if re.search(r"\b0%\|", text):
                    problems.append(f"{where} shows a progress bar stuck at 0%")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_quickstart_shows_rich_summaries_and_a_trigger(
    executed: dict[str, nbformat.NotebookNode],
) -> None:
    book = executed["quickstart.ipynb"]
    html = [
        o["data"]["text/html"]
        for c in book.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "execute_result" and "text/html" in o.get("data", {})
    ]
    summaries = [h for h in html if "spotzee-summary" in h]
    assert len(summaries) >= 5
    assert any("Trigger:" in h and "triggered" in h for h in summaries)
    assert any("spotzee-preview" in h for h in html)
    widgets = [
        o
        for c in book.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert widgets, "long operations show a widget progress bar in Jupyter"
    assert all("100%" in o["data"]["text/plain"] for o in widgets)
