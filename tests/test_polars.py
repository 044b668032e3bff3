"""The `spotzee` namespace on polars frames: registered by `import spotzee_frames` without
importing polars, the pandas accessor's methods with polars results, through Arrow."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
import pyarrow as pa
import pytest

pl = pytest.importorskip("polars")

import spotzee_frames as sf  # noqa: E402
from spotzee_frames import Client  # noqa: E402
from spotzee_frames._polars import to_pandas  # noqa: E402
from spotzee_frames._results import STATUSES  # noqa: E402
from spotzee_frames.sandbox import Sandbox  # noqa: E402

from .conftest import Served  # noqa: E402
from .engine_data import check_stored_once, contacts  # noqa: E402


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_registers_the_namespace_without_importing_polars() -> None:
    out = _python(
        """
        import sys
        import spotzee_frames
        print("polars" in sys.modules)
        import polars as pl
        print(callable(pl.DataFrame({"external_id": ["a"]}).spotzee.upsert))
        """
    )
    assert out.split() == ["False", "True"]
    first = "import polars as pl, spotzee_frames; print(callable(pl.DataFrame().spotzee.summary))"
    assert _python(first).split() == ["True"]
    absent = "import sys; sys.modules['polars'] = None; import spotzee_frames; print('ok')"
    assert _python(absent).split() == ["ok"]


def test_upsert_through_arrow_with_polars_results(served: Served) -> None:
    frame = contacts()
    df = pl.from_pandas(frame)
    shared = to_pandas(df)["score"].array.__arrow_array__().chunks[0].buffers()[1]
    assert shared.address == df["score"].to_arrow().buffers()[1].address  # not copied

    result = df.spotzee.upsert(exclude=["row"], client=served.client, progress=False)

    assert isinstance(result, pl.DataFrame) and result.height == df.height
    assert result.schema["status"] == pl.String and set(result["status"]) <= set(STATUSES)
    assert result.schema["user_id"] == pl.Int64 and result.schema["replayed"] == pl.Boolean
    assert result.schema["error_code"] == pl.String
    joined = df.select("row").hstack(result)  # row i of the result is row i of the frame
    check_stored_once(served.sandbox, frame, joined.to_pandas())
    text = str(result.spotzee.summary())
    assert text.startswith(f"Upsert: {df.height:,} rows")


def test_errors_carry_polars_results(sandbox: Sandbox, client: Client) -> None:
    df = pl.DataFrame({"external_id": ["a", "b"], "email": ["a@example.com", "b@example.com"]})
    no_bearer = Client(
        "sk_test not a bearer token",  # the sandbox answers 401 to a key with spaces
        "http://localhost/api/client",
        transport=sandbox.transport(),
        backoff_base=0.01,
    )
    with pytest.raises(sf.AuthenticationError) as caught:
        df.spotzee.upsert(client=no_bearer, progress=False)
    assert isinstance(caught.value.result, pl.DataFrame)
    assert caught.value.result["status"].to_list() == ["interrupted", "interrupted"]
    no_bearer.close()

    campaigns = sorted(sandbox.campaigns.items())
    draft = next(c for c, v in campaigns if v["state"] == "draft")
    with pytest.raises(sf.TargetStateError):
        df.spotzee.trigger_campaign(draft, client=client, progress=False)
    live = next(c for c, v in campaigns if v["type"] == "trigger" and v["state"] == "running")
    dry = df.spotzee.trigger_campaign(live, dry_run=True, client=client)
    assert dry["status"].to_list() == ["valid", "valid"] and "batch" not in dry.columns
    assert to_pandas(dry)["status"].dtype == pd.ArrowDtype(pa.large_string())


def test_the_same_methods_as_the_pandas_accessor() -> None:
    import inspect

    from spotzee_frames._accessor import SpotzeeAccessor
    from spotzee_frames._polars import SpotzeeFrame

    def methods(cls: type) -> set[str]:
        return {name for name, _ in inspect.getmembers(cls, inspect.isfunction) if name[0] != "_"}

    assert methods(SpotzeeFrame) == methods(SpotzeeAccessor)
    for name in methods(SpotzeeFrame):
        ours = inspect.signature(getattr(SpotzeeFrame, name))
        assert ours == inspect.signature(getattr(SpotzeeAccessor, name)), name
