"""`spotzee_frames.dask` on a local `distributed` cluster of two worker processes, against
the sandbox served on 127.0.0.1: what was stored, exactly once, and triggers replayed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import spotzee_frames as sf  # noqa: E402
import spotzee_frames.dask as szd  # noqa: E402
from spotzee_frames.sandbox import Sandbox, ServedSandbox  # noqa: E402

from .engine_data import OPTIONS, check_stored_once, contacts  # noqa: E402

WORKER_KEY = "sk_test_dask_workers"
QUICK = {"backoff_base": 0.01, "backoff_max": 0.2, "max_retry_time": 30.0}


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.Client]:
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",  # no fixed port
            env={"SPOTZEE_API_KEY": WORKER_KEY},  # the workers' key only
        ) as local,
        distributed.Client(local) as client,
    ):
        yield client


@pytest.fixture
def served() -> Iterator[tuple[Sandbox, ServedSandbox]]:
    sandbox = Sandbox()
    with sandbox.serve(host="127.0.0.1", port=0) as server:
        yield sandbox, server


def test_upsert_stores_every_row_once_as_pandas_would(
    cluster: distributed.Client, served: tuple[Sandbox, ServedSandbox]
) -> None:
    sandbox, server = served
    frame = contacts().set_index(pd.Index([f"r{k}" for k in range(12_000)], name="label"))
    # in the frame's order (sort=False: not by label), repeated users across partitions
    ddf = dd.from_pandas(frame, npartitions=3, sort=False)

    result = szd.upsert(
        ddf, base_url=server.base_url, rate_limit=None, client_options=QUICK, **OPTIONS
    )

    assert list(result.columns[:3]) == ["row", "status", "error_code"]
    assert result.npartitions == 4  # 3 rounded up to whole waves of the two workers' tasks
    local = result.compute()
    assert local.index.sort_values().equals(frame.index.sort_values())  # indexed like the input
    got = frame[["row"]].join(local.drop(columns="row"))  # joined back on the index
    check_stored_once(sandbox, frame, got)
    assert (local["row"] == frame.loc[local.index, "row"]).all()
    assert local["status"].dtype == "string"
    assert str(local["user_id"].dtype) == "Int64"
    assert sandbox.stats["replays"] == 0


def test_trigger_journey_sends_once_and_replays_on_rerun(
    cluster: distributed.Client,
    served: tuple[Sandbox, ServedSandbox],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sandbox, server = served
    monkeypatch.setenv("SPOTZEE_API_KEY", "sk_test_driver")  # the driver checks the journey
    journey = next(j for j, v in sorted(sandbox.journeys.items()) if v["status"] == "live")
    entrance = Sandbox.DEMO_ENTRANCES[journey][0]
    frame = pd.DataFrame({"external_id": [f"j{i % 180}" for i in range(200)], "row": range(200)})
    ddf = dd.from_pandas(frame, npartitions=2)
    options = {"base_url": server.base_url, "rate_limit": None, "client_options": QUICK}

    first = szd.trigger_journey(ddf, journey, entrance_id=entrance, row_id="row", **options)
    done = first.compute().sort_values("row")
    assert Counter(done["status"].astype(str)) == {"triggered": 180, "skipped": 20}
    entered = Counter(e["external_id"] for e in sandbox.journey_entrances)
    assert entered == Counter(f"j{i}" for i in range(180))

    again = szd.trigger_journey(ddf, journey, entrance_id=entrance, row_id="row", **options)
    rerun = again.compute()
    assert rerun.loc[rerun.status == "triggered", "replayed"].all()
    assert Counter(e["external_id"] for e in sandbox.journey_entrances) == entered


def test_track_counts_every_event_once_however_often_it_runs(
    cluster: distributed.Client, served: tuple[Sandbox, ServedSandbox]
) -> None:
    sandbox, server = served
    frame = pd.DataFrame(
        {
            "external_id": [f"e{i % 90}" if i % 29 else None for i in range(700)],
            "order_id": [f"o{i}" for i in range(700)],
        }
    )
    ddf = dd.from_pandas(frame, npartitions=3, sort=False)
    options = {"base_url": server.base_url, "rate_limit": None, "client_options": QUICK}

    result = szd.track(ddf, "order_placed", **options).compute().sort_values("row_id")
    expected = sf.track(frame, "order_placed", dry_run=True)
    assert result.index.sort_values().equals(frame.index)
    statuses = result["status"].astype(str).reindex(frame.index)
    assert statuses.tolist() == expected["status"].astype(str).replace("valid", "queued").tolist()
    stored = Counter(e["data"]["order_id"] for e in sandbox.events)
    assert stored == Counter(frame["order_id"][expected["status"] == "valid"])
    again = szd.track(ddf, "order_placed", **options).compute()
    assert again.loc[again["status"] == "queued", "replayed"].all()
    assert Counter(e["data"]["order_id"] for e in sandbox.events) == stored


def _no_key() -> str:
    return ""


def test_a_task_without_a_key_stops_and_the_driver_says_why(
    cluster: distributed.Client, served: tuple[Sandbox, ServedSandbox]
) -> None:
    sandbox, server = served
    ddf = dd.from_pandas(pd.DataFrame({"external_id": ["a", "b", "c"]}), npartitions=2)
    with pytest.raises(sf.ConfigurationError, match="api_key\\(\\) returned str") as caught:
        szd.upsert(ddf, base_url=server.base_url, api_key=_no_key)
    assert "LocalCluster(env=...)" in "\n".join(caught.value.__notes__)
    stopped = caught.value.result.compute()  # type: ignore[attr-defined]
    assert len(stopped) == 3 and (stopped["status"] == "interrupted").all()
    assert sandbox.stats["requests"] == 0
