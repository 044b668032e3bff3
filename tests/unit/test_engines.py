"""What the Spark and Dask engines share (`_engines`): chunks that never split a user, keys
as the operation reads ids, a plan checked on the driver and free of the key, and a task's
stop raised again on the driver."""

from __future__ import annotations

import inspect
import pickle
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spotzee_frames as sf
from spotzee_frames._engines import (
    ENGINE_OPTIONS,
    KEY,
    NOT_PER_TASK,
    ROW,
    STOP,
    Job,
    _chunks,
    partition_count,
    partition_key,
    plan,
    raise_stop,
    run_partition,
    tasks_at_once,
)
from spotzee_frames._errors import (
    AuthenticationError,
    ConfigurationError,
    TargetStateError,
    ValidationError,
)


def _plan(frame: pd.DataFrame, operation: str = "upsert", **engine: Any) -> Job:
    options: dict[str, Any] = {
        "mapping": None,
        "mode": "sync",
        "nulls": "omit",
        "default_region": None,
        "dry_run": True,
        "batch_size": 100,
        "exclude": (),
        "duplicates": "reject",
        "include_payload": False,
    }
    options.update(engine.pop("options", {}))
    defaults: dict[str, Any] = {
        "rate_limit": 100.0,
        "api_key": None,
        "base_url": "http://127.0.0.1:1/api/client",
        "client_options": None,
        "partition": "by_id",
        "partitions": None,
        "parallelism": None,
        "row_id": None,
    }
    defaults.update(engine)
    return plan(operation, options, frame.iloc[:0], count_rows=lambda: len(frame), **defaults)


@settings(max_examples=80, deadline=None)
@given(
    keys=st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=0, max_size=60),
    size=st.integers(1, 12),
    splits=st.lists(st.integers(0, 60), max_size=6),
)
def test_chunks_never_split_a_key_whatever_the_input_batches(
    keys: list[str], size: int, splits: list[int]
) -> None:
    frame = pd.DataFrame({KEY: sorted(keys), "n": range(len(keys))})
    cuts = sorted({min(s, len(frame)) for s in splits})
    pieces = [frame.iloc[a:b] for a, b in zip([0, *cuts], [*cuts, len(frame)], strict=True)]
    chunks = list(_chunks(pieces, size))
    assert [c["n"].tolist() for c in chunks] == [c["n"].tolist() for c in _chunks([frame], size)]
    rows = pd.concat(chunks)["n"].tolist() if chunks else []
    assert rows == list(range(len(frame)))  # every row once, in order
    seen: set[str] = set()
    for chunk in chunks:
        here = set(chunk[KEY])
        assert not here & seen  # a key lives in one chunk
        seen |= here
    assert all(len(c) >= size for c in chunks[:-1])


def test_partition_key_reads_ids_as_the_operation_does() -> None:
    frame = pd.DataFrame(
        {
            "ext": pd.array([7, None, 2**62 + 1, None], dtype="Int64"),
            "anon": ["x", "y", "z", "  "],
        }
    )
    own = ["#a", "#b", "#c", "#d"]
    assert partition_key(frame, ["ext", "anon"], own).tolist() == ["7", "y", str(2**62 + 1), "#d"]
    text = pd.DataFrame({"ext": ["a", "", " ", None]})
    assert partition_key(text, ["ext"], own).tolist() == ["a", "#b", "#c", "#d"]
    assert partition_key(text, [], own).tolist() == own  # track: every row keys itself


def test_tasks_split_the_budget_and_waves_are_whole() -> None:
    assert tasks_at_once(8, 3) == 3
    assert tasks_at_once(8, 3, speculative=True) == 8
    assert tasks_at_once(2, 40) == 2
    assert partition_count(2, 3) == 4
    assert partition_count(8, 1) == 8


def test_a_partition_in_chunks_gives_what_one_pandas_call_gives() -> None:
    """Chunks of 7 rows over a partition whose users repeat: the same statuses and codes as
    one pandas call (dry run), every row once, row ids carried, batches counted on."""
    n = 60
    frame = pd.DataFrame(
        {
            "external_id": [f"u{k % 23}" if k % 11 else None for k in range(n)],
            "email": [
                f"u{k % 23}@example.com" if k % 5 else f"other{k}@example.com" for k in range(n)
            ],
        }
    )
    job = _plan(frame, options={"batch_size": 3})
    rows = np.arange(n) + 1000
    own = [f"#{r}" for r in rows]
    keyed = frame.assign(**{ROW: rows, KEY: partition_key(frame, ["external_id"], own)})
    ordered = keyed.sort_values([KEY, ROW])
    result = pd.concat(list(run_partition([ordered], job, chunk_rows=7)))
    assert result.columns[0] == "row_id" and result.columns[-1] == STOP
    assert sorted(result["row_id"]) == list(range(1000, 1000 + n))
    expected = sf.upsert(frame, dry_run=True, batch_size=3)
    got = result.set_axis(result["row_id"] - 1000).sort_index()
    pd.testing.assert_series_equal(
        got["status"].astype(str), expected["status"].astype(str), check_names=False
    )
    pd.testing.assert_series_equal(got["error_code"], expected["error_code"], check_names=False)
    assert got[STOP].isna().all()
    batches = got["batch"].dropna()
    assert batches.nunique() == batches.max() + 1  # numbered on across chunks, no repeats


def test_plan_checks_options_on_the_driver() -> None:
    frame = pd.DataFrame({"external_id": ["a"], "row": [1]})
    with pytest.raises(ValidationError, match="pickled into every task"):
        _plan(frame, api_key="sk_test_not_here")
    with pytest.raises(ValidationError, match="client_options does not take rate_limit"):
        _plan(frame, client_options={"rate_limit": 5})
    with pytest.raises(ValidationError, match="partition must be one of 'by_id', 'as_is'"):
        _plan(frame, partition="hash")
    with pytest.raises(ValidationError, match="partitions= is the number"):
        _plan(frame, partition="as_is", partitions=4)
    with pytest.raises(ValidationError, match="rate_limit must be a positive number"):
        _plan(frame, rate_limit=0)
    with pytest.raises(ValidationError, match="row_id names 'nope'"):
        _plan(frame, row_id="nope")
    with pytest.raises(ValidationError, match="clash with the result's own 'external_id'"):
        _plan(frame, row_id="external_id")
    with pytest.raises(ValidationError, match="unknown field"):
        _plan(frame, options={"mapping": {"row": "nickname"}})
    with pytest.raises(sf.InsecureTransportError):
        _plan(frame, base_url="http://spotzee.example/api/client")
    # a trigger checks its target from the driver, so the driver needs a key too
    with pytest.raises(ConfigurationError, match="the driver needs the key too"):
        plan(
            "trigger_campaign",
            {"campaign_id": 1, "max_recipients": 10, "mapping": None},
            frame.iloc[:0],
            count_rows=lambda: 1,
            rate_limit=None,
            api_key=None,
            base_url=None,
            client_options=None,
            partition="by_id",
            partitions=None,
            parallelism=None,
            row_id=None,
        )


def test_the_plan_holds_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOTZEE_API_KEY", "sk_test_secret_of_the_driver")
    frame = pd.DataFrame({"external_id": ["a"]})
    job = _plan(frame, options={"dry_run": False})
    assert b"sk_test_secret_of_the_driver" not in pickle.dumps(job)
    assert job.settings.share(4).rate_limit == 25.0
    # the key is read where the task runs, into a client that refuses pickling
    with job.settings.client() as client, pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(client)


def test_a_tasks_stop_is_raised_on_the_driver_as_itself() -> None:
    from spotzee_frames._engines import _stop_record

    error = AuthenticationError(
        "invalid key", status_code=401, code="authentication_required", request_id="req_1"
    )
    result = pd.DataFrame({"status": ["interrupted"]})
    with pytest.raises(AuthenticationError) as caught:
        raise_stop(_stop_record(error), result, "hint")
    assert caught.value.status_code == 401 and caught.value.request_id == "req_1"
    assert str(caught.value) == str(error)
    assert caught.value.result is result
    target = TargetStateError("campaign 3 is a draft", state="draft")
    with pytest.raises(TargetStateError, match="draft") as state:
        raise_stop(_stop_record(target), result, "hint")
    assert state.value.state == "draft"
    with pytest.raises(ConfigurationError) as config:
        raise_stop(_stop_record(ConfigurationError("no API key")), result, "give the workers one")
    assert "give the workers one" in "\n".join(config.value.__notes__)


@pytest.mark.parametrize("engine", ["spark", "dask"])
@pytest.mark.parametrize("name", ["upsert", "track", "trigger_campaign", "trigger_journey"])
def test_engine_functions_take_the_operations_own_options(engine: str, name: str) -> None:
    """Same names, same defaults as the pandas function, then the engine's own options."""
    module = pytest.importorskip(f"spotzee_frames.{engine}")
    ours = list(inspect.signature(getattr(module, name)).parameters.values())[1:]
    theirs = [
        p
        for p in list(inspect.signature(getattr(sf, name)).parameters.values())[1:]
        if p.name not in NOT_PER_TASK
    ]
    by_name = {p.name: p for p in ours}
    for param in theirs:
        assert by_name[param.name].default == param.default, param.name
        assert by_name[param.name].kind == param.kind, param.name
    engine_options = {p.name for p in ours} - {p.name for p in theirs}
    expected = {*ENGINE_OPTIONS, *(["checkpoint"] if engine == "spark" else [])}
    assert engine_options == expected
