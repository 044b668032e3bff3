"""Dask: upsert, track and trigger from a Dask DataFrame, a task per partition on its workers.

    import spotzee_frames.dask as szd
    result = szd.upsert(contacts, mapping={"customer_id": "external_id"}, rate_limit=100)
    result[result.status != "upserted"].to_parquet("spotzee_rejects/")

Install with `pip install 'spotzee-frames[dask]'`. Rows are shuffled by user id
(`partition="by_id"`), each partition is sorted by id and row, and `map_partitions` runs
the same operation a pandas frame goes through (`spotzee_frames.upsert`, `track`,
`trigger_campaign`, `trigger_journey`) in each task, with a client the task builds itself
(see `_engines`). The call returns once every task is done, with the per-row result as a
Dask DataFrame persisted on the workers (with `distributed`; in memory with Dask's local
schedulers), indexed like the input, so using it does not send again — unless a worker
holding part of it dies and Dask recomputes that part, which replays the same requests
(the server answers them from its idempotency cache for 24 hours).

Each task reads `SPOTZEE_API_KEY` from its worker's environment (e.g.
`LocalCluster(env={...})`, the workers' service definition, or a secret mounted on them),
or calls `api_key=`, a function that fetches it where the task runs; the key is never part
of the task graph.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd

from ._encoding import BigIntPolicy, NullPolicy
from ._engines import (
    KEY,
    ROW,
    STOP,
    Job,
    Partitioning,
    partition_count,
    partition_key,
    plan,
    raise_stop,
    run_partition,
    split_arguments,
    tasks_at_once,
)
from ._errors import ValidationError
from ._mapping import MappingSpec
from ._prepare import DuplicatePolicy, InvalidFieldPolicy
from ._trigger import EventSpec
from ._upsert import Mode

__all__ = ["track", "trigger_campaign", "trigger_journey", "upsert"]

_KEY_HINT = (
    "Give the workers the key: SPOTZEE_API_KEY in their environment (LocalCluster(env=...), "
    "the workers' service definition, a mounted secret), or api_key=<a function that "
    "fetches it where the task runs>"
)


def _slots() -> int:
    """Tasks that run at once: the threads of the `distributed` cluster in use, else of
    Dask's local scheduler."""
    try:
        from distributed import default_client

        client = default_client()  # type: ignore[no-untyped-call]  # distributed is untyped
        return max(1, int(sum(client.nthreads().values())))
    except (ImportError, ValueError):  # no distributed, or no client: a local scheduler
        return int(dask.config.get("num_workers", None) or dask.system.CPU_COUNT)


def _keyed(
    frame: pd.DataFrame, identity: Sequence[Hashable], partition_info: Any = None
) -> pd.DataFrame:
    """The partition with `ROW` (input partition << 33 | position) and `KEY` columns."""
    number = 0 if partition_info is None else int(partition_info["number"])
    rows = (number << 33) + np.arange(len(frame), dtype=np.int64)
    try:
        hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        own = [f"#{h:016x}" for h in hashes.tolist()]
    except TypeError:  # unhashable cells (lists, dicts): the row's place instead
        own = [f"@{r:020d}" for r in rows.tolist()]
    keys = partition_key(frame, identity, own)
    out = frame.copy(deep=False)
    out[ROW] = rows
    out[KEY] = pd.Series(keys, index=frame.index, dtype=object)
    return out


def _send(frame: pd.DataFrame, job: Job) -> pd.DataFrame:
    """One task: the partition, in the order that makes a rerun cut the same batches."""
    ordered = frame.sort_values([KEY, ROW], kind="stable")
    results = list(run_partition([ordered], job))
    return pd.concat(results) if results else job.finish(job.meta, frame, None)


def _run(operation: str, arguments: dict[str, Any]) -> dd.DataFrame:
    """Run `operation` over `arguments["ddf"]`; `arguments` are an engine function's."""
    ddf = arguments.pop("ddf")
    options, engine = split_arguments(operation, arguments)
    if not isinstance(ddf, dd.DataFrame):
        raise ValidationError(f"expected a Dask DataFrame, got {type(ddf).__name__}")
    frame_meta = ddf._meta
    job = plan(operation, options, frame_meta, count_rows=lambda: len(ddf), **engine)
    partition, partitions = engine["partition"], engine["partitions"]
    slots = engine["parallelism"] or _slots()
    keyed_meta = _keyed(frame_meta, job.identity)
    keyed = ddf.map_partitions(_keyed, job.identity, meta=keyed_meta)  # type: ignore[no-untyped-call]
    count = ddf.npartitions
    if partition == "by_id":
        # A Dask partition lives in a worker's memory: keep about the input's count, in
        # whole waves of `slots` tasks, so no wave runs short of the budget.
        count = partitions or partition_count(slots, ddf.npartitions)
        keyed = keyed.shuffle(on=KEY, npartitions=count)
    job = replace(job, settings=job.settings.share(tasks_at_once(slots, count)))
    meta = job.result_meta(frame_meta)
    sent = keyed.map_partitions(_send, job, meta=meta)
    done = sent.persist()
    # Waits for every task; raises what a task raised that was not a whole-call error.
    stops = done.map_partitions(lambda part: part[STOP].dropna().head(1)).compute()
    result: dd.DataFrame = done.drop(columns=STOP)
    if len(stops):
        raise_stop(stops.iloc[0], result, _KEY_HINT)
    return result


def upsert(
    ddf: dd.DataFrame,
    mapping: MappingSpec | None = None,
    *,
    mode: Mode = "sync",
    nulls: NullPolicy = "omit",
    default_region: str | None = None,
    dry_run: bool = False,
    batch_size: int = 100,
    exclude: Iterable[Hashable] | Hashable | None = (),
    duplicates: DuplicatePolicy = "reject",
    invalid_fields: InvalidFieldPolicy = "omit",
    include_payload: bool = False,
    big_ints: BigIntPolicy = "invalid",
    rate_limit: float | None = 100.0,
    api_key: Callable[[], str] | None = None,
    base_url: str | None = None,
    client_options: Mapping[str, Any] | None = None,
    partition: Partitioning = "by_id",
    partitions: int | None = None,
    parallelism: int | None = None,
    row_id: Hashable | None = None,
) -> dd.DataFrame:
    """Create or update one Spotzee user per row of `ddf`; return one result row per row.

    `mapping` through `include_payload` are `spotzee_frames.upsert`'s, and mean the same.
    The rest are `spotzee_frames.spark.upsert`'s, except:

    partitions
        Partitions to shuffle into with `partition="by_id"`; default the input's count
        rounded up to a whole number of waves of `parallelism` tasks.
    parallelism
        Tasks that run at once (and split `rate_limit`); default the threads of the
        `distributed` cluster in use (else of Dask's local scheduler). Never give fewer
        than really run at once: the job would exceed `rate_limit`.

    Returns a Dask DataFrame indexed like `ddf` (its partitions in id order): `row_id`
    (or the `row_id=` column) and the columns of `spotzee_frames.upsert`'s result;
    `batch` counts the requests of one task.
    """
    return _run("upsert", locals())  # every argument, by name


def trigger_campaign(
    ddf: dd.DataFrame,
    campaign_id: int,
    *,
    event: EventSpec = None,
    attributes: Sequence[Hashable] | Mapping[Hashable, str] | None = None,
    mapping: MappingSpec | None = None,
    send_id: str | int | None = None,
    dry_run: bool = False,
    max_recipients: int | None = 10_000,
    default_region: str | None = None,
    duplicates: DuplicatePolicy = "reject",
    big_ints: BigIntPolicy = "invalid",
    rate_limit: float | None = 100.0,
    api_key: Callable[[], str] | None = None,
    base_url: str | None = None,
    client_options: Mapping[str, Any] | None = None,
    partition: Partitioning = "by_id",
    partitions: int | None = None,
    parallelism: int | None = None,
    row_id: Hashable | None = None,
) -> dd.DataFrame:
    """Trigger campaign `campaign_id` once for each row of `ddf`; one result row per row.

    As `spotzee_frames.spark.trigger_campaign`, with this module's `upsert` options.
    """
    return _run("trigger_campaign", locals())  # every argument, by name


def trigger_journey(
    ddf: dd.DataFrame,
    journey_id: int,
    *,
    entrance_id: int,
    event: EventSpec = None,
    attributes: Sequence[Hashable] | Mapping[Hashable, str] | None = None,
    mapping: MappingSpec | None = None,
    send_id: str | int | None = None,
    dry_run: bool = False,
    max_recipients: int | None = 10_000,
    default_region: str | None = None,
    duplicates: DuplicatePolicy = "reject",
    big_ints: BigIntPolicy = "invalid",
    rate_limit: float | None = 100.0,
    api_key: Callable[[], str] | None = None,
    base_url: str | None = None,
    client_options: Mapping[str, Any] | None = None,
    partition: Partitioning = "by_id",
    partitions: int | None = None,
    parallelism: int | None = None,
    row_id: Hashable | None = None,
) -> dd.DataFrame:
    """Enter each row of `ddf` into journey `journey_id` at step `entrance_id`.

    As `spotzee_frames.spark.trigger_journey`, with this module's `upsert` options.
    """
    return _run("trigger_journey", locals())  # every argument, by name


def track(
    ddf: dd.DataFrame,
    name: str | None = None,
    *,
    name_column: Hashable | None = None,
    created_at: Hashable | None = None,
    timezone: str | None = None,
    mapping: Mapping[Hashable, str | None] | None = None,
    user: Sequence[Hashable] | Mapping[Hashable, str] | None = None,
    exclude: Iterable[Hashable] | Hashable | None = (),
    default_region: str | None = None,
    dry_run: bool = False,
    batch_size: int = 100,
    include_payload: bool = False,
    big_ints: BigIntPolicy = "invalid",
    rate_limit: float | None = 100.0,
    api_key: Callable[[], str] | None = None,
    base_url: str | None = None,
    client_options: Mapping[str, Any] | None = None,
    partition: Partitioning = "by_id",
    partitions: int | None = None,
    parallelism: int | None = None,
    row_id: Hashable | None = None,
) -> dd.DataFrame:
    """Send one event per row of `ddf` (`POST /events`); one result row per row.

    The options before `rate_limit` are `spotzee_frames.track`'s; the rest are this
    module's `upsert`'s. Events have no duplicate policy, so `partition="by_id"` spreads
    the rows evenly over `partitions` by a hash of their values, and `"as_is"` sends each
    partition as it is; either way a partition is sent in the order of those hashes (not
    the input's), so a retried task — even one whose input was recomputed in another
    order — cuts the same batches of events and replays them: no event counts twice.
    """
    return _run("track", locals())  # every argument, by name
