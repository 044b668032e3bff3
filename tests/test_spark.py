"""`spotzee_frames.spark` on a real local Spark (`local[2,3]`: two cores, a task may run
three times) against the sandbox served on 127.0.0.1: what was stored, exactly once, and
a task killed mid-partition that applies nothing twice."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pandas as pd
import pytest

pyspark = pytest.importorskip("pyspark")

import psutil  # noqa: E402  (after the skip: the test extra brings it with dask)
from pyspark.sql import DataFrame, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

import spotzee_frames as sf  # noqa: E402
import spotzee_frames.spark as szs  # noqa: E402
from spotzee_frames.sandbox import Sandbox, ServedSandbox  # noqa: E402

from .engine_data import OPTIONS, check_stored_once, contacts  # noqa: E402

WORKER_KEY = "sk_test_spark_workers"
QUICK = {"backoff_base": 0.01, "backoff_max": 0.2, "max_retry_time": 30.0}


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    # Workers run PYSPARK_PYTHON (else `python3` from PATH): this venv's, to import the package.
    saved = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2,3]")
        .appName("spotzee-frames tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.executorEnv.SPOTZEE_API_KEY", WORKER_KEY)  # the workers' key only
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
        if saved is None:
            os.environ.pop("PYSPARK_PYTHON", None)
        else:
            os.environ["PYSPARK_PYTHON"] = saved


@pytest.fixture
def served() -> Iterator[tuple[Sandbox, ServedSandbox]]:
    sandbox = Sandbox()
    with sandbox.serve(host="127.0.0.1", port=0) as server:
        yield sandbox, server


def _by_row(result: DataFrame, frame: DataFrame) -> pd.DataFrame:
    """The result joined back to its input on `row`, in the input's order."""
    joined = frame.select("row").join(result, on="row", how="left")
    # toArrow, not toPandas: PySpark's toPandas passes pandas 3 a deprecated copy= keyword
    out = joined.toArrow().to_pandas().sort_values("row").reset_index(drop=True)
    assert len(out) == frame.count() and out["status"].notna().all()
    return out


def test_upsert_stores_every_row_once_as_pandas_would(
    spark: SparkSession, served: tuple[Sandbox, ServedSandbox]
) -> None:
    sandbox, server = served
    frame = contacts()
    sdf = spark.createDataFrame(frame)  # two input partitions: repeated users span them

    result = szs.upsert(
        sdf, base_url=server.base_url, rate_limit=None, client_options=QUICK, **OPTIONS
    )

    assert result.columns[:3] == ["row", "status", "error_code"]
    assert result.where("status = 'upserted'").count() > 10_000  # the result can be queried…
    assert sandbox.stats["requests"] == result.select("request_id").distinct().count() - 1
    got = _by_row(result, sdf)  # … and joined back, without sending again
    check_stored_once(sandbox, frame, got)
    assert got["user_id"].notna().sum() == len(sandbox.users)
    assert sandbox.stats["replays"] == 0


def _kill_a_sender(sandbox: Sandbox, port: int, after: int, killed: list[int]) -> None:
    """Once the sandbox has seen `after` requests, SIGKILL a Python worker mid-partition:
    a process under this one (Spark's JVM, its Python daemon, the workers it forks) with
    a connection to the sandbox."""
    deadline = time.monotonic() + 60
    while sandbox.stats["requests"] < after and time.monotonic() < deadline:
        time.sleep(0.01)
    for process in psutil.Process().children(recursive=True):
        try:
            sending = any(
                c.raddr and c.raddr.port == port for c in process.net_connections(kind="tcp")
            )
        except psutil.Error:
            continue
        if sending:
            os.kill(process.pid, signal.SIGKILL)
            killed.append(process.pid)
            return


def test_a_task_killed_mid_partition_applies_nothing_twice(
    spark: SparkSession, served: tuple[Sandbox, ServedSandbox]
) -> None:
    sandbox, server = served
    n = 10_000
    sdf = spark.range(n, numPartitions=2).select(
        F.col("id").alias("row"),
        F.format_string("k%05d", "id").alias("external_id"),
        F.format_string("k%d@example.com", "id").alias("email"),
    )
    killed: list[int] = []
    # 100 requests at 40/s between the two tasks: the kill lands after about a third.
    killer = threading.Thread(target=_kill_a_sender, args=(sandbox, server.port, 30, killed))
    killer.start()
    try:
        result = szs.upsert(
            sdf, base_url=server.base_url, rate_limit=40, client_options=QUICK, row_id="row"
        )
    finally:
        killer.join()

    assert killed, "no Python worker was sending when the killer looked"
    got = _by_row(result, sdf)
    assert (got["status"] == "upserted").all()
    counts = sandbox.write_counts
    assert len(counts) == n and set(counts.values()) == {1}  # nothing applied twice
    # The retried task sent its partition again from the start: the same batches under
    # the same keys, which the sandbox replayed instead of applying.
    assert sandbox.stats["replays"] > 0
    assert got["replayed"].sum() == 100 * sandbox.stats["replays"]


def test_trigger_checks_on_the_driver_then_sends_once(
    spark: SparkSession, served: tuple[Sandbox, ServedSandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, server = served
    monkeypatch.setenv("SPOTZEE_API_KEY", "sk_test_driver")  # the driver checks the campaign
    campaigns = sorted(sandbox.campaigns.items())
    live = next(c for c, v in campaigns if v["type"] == "trigger" and v["state"] == "running")
    draft = next(c for c, v in campaigns if v["type"] == "trigger" and v["state"] == "draft")
    frame = pd.DataFrame(
        {
            "row": range(300),
            "external_id": [f"t{i % 250}" if i % 41 else None for i in range(300)],
            "plan": ["gold" if i % 2 else "free" for i in range(300)],
        }
    )
    sdf = spark.createDataFrame(frame)
    options = {"base_url": server.base_url, "rate_limit": None, "client_options": QUICK}

    with pytest.raises(sf.ValidationError, match="max_recipients=100"):
        szs.trigger_campaign(sdf, live, max_recipients=100, **options)
    with pytest.raises(sf.TargetStateError, match="draft"):
        szs.trigger_campaign(sdf, draft, **options)
    assert sandbox.campaign_sends == []

    result = szs.trigger_campaign(sdf, live, attributes=["plan"], row_id="row", **options)
    got = _by_row(result, sdf)
    with sf.Client("sk_test_driver", server.base_url) as client:
        expected = sf.trigger_campaign(
            frame, live, attributes=["plan"], dry_run=True, client=client
        )
    assert (
        got["status"].tolist()
        == expected["status"].astype(str).replace("valid", "triggered").tolist()
    )
    sends = Counter(s["external_id"] for s in sandbox.campaign_sends)
    assert sends == Counter(expected["external_id"][expected["status"] == "valid"].tolist())
    assert set(sends.values()) == {1}

    again = _by_row(
        szs.trigger_campaign(sdf, live, attributes=["plan"], row_id="row", **options), sdf
    )
    sent = again["status"] == "triggered"
    assert again["replayed"][sent].all()  # the same keys: the server replays, sends nothing new
    assert Counter(s["external_id"] for s in sandbox.campaign_sends) == sends


def _no_key() -> str:
    return ""


def test_a_task_without_a_key_stops_and_the_driver_says_why(
    spark: SparkSession, served: tuple[Sandbox, ServedSandbox]
) -> None:
    sandbox, server = served
    sdf = spark.createDataFrame(pd.DataFrame({"external_id": ["a", "b", "c"], "row": [1, 2, 3]}))
    with pytest.raises(sf.ValidationError, match="pickled into every task"):
        szs.upsert(sdf, base_url=server.base_url, api_key="sk_test_in_the_plan")  # type: ignore[arg-type]
    with pytest.raises(sf.ConfigurationError, match="api_key\\(\\) returned str") as caught:
        szs.upsert(sdf, base_url=server.base_url, api_key=_no_key, row_id="row")
    assert "spark.executorEnv.SPOTZEE_API_KEY" in "\n".join(caught.value.__notes__)
    stopped = caught.value.result.toArrow().to_pandas()  # type: ignore[attr-defined]
    assert sorted(stopped["row"]) == [1, 2, 3] and (stopped["status"] == "interrupted").all()
    assert sandbox.stats["requests"] == 0


def test_track_counts_every_event_once_however_often_it_runs(
    spark: SparkSession, served: tuple[Sandbox, ServedSandbox]
) -> None:
    sandbox, server = served
    frame = pd.DataFrame(
        {
            "row": range(2_500),
            "external_id": [f"e{i % 400}" if i % 53 else None for i in range(2_500)],
            "order_id": [f"o{i}" for i in range(2_500)],
            "amount": [i / 4 for i in range(2_500)],
        }
    )
    sdf = spark.createDataFrame(frame)
    options = {"base_url": server.base_url, "rate_limit": None, "client_options": QUICK}

    got = _by_row(szs.track(sdf, "order_placed", exclude=["row"], row_id="row", **options), sdf)

    expected = sf.track(frame, "order_placed", exclude=["row"], dry_run=True)
    assert (
        got["status"].tolist() == expected["status"].astype(str).replace("valid", "queued").tolist()
    )
    stored = Counter(e["data"]["order_id"] for e in sandbox.events)
    assert stored == Counter(frame["order_id"][expected["status"] == "valid"])
    again = _by_row(szs.track(sdf, "order_placed", exclude=["row"], row_id="row", **options), sdf)
    assert again.loc[again["status"] == "queued", "replayed"].all()
    assert Counter(e["data"]["order_id"] for e in sandbox.events) == stored
