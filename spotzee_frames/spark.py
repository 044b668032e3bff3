"""Spark: upsert, track and trigger straight from a Spark DataFrame, without collecting it.

    import spotzee_frames.spark as szs
    result = szs.upsert(contacts, mapping={"customer_id": "external_id"}, rate_limit=100,
                        row_id="customer_id")
    result.where("status != 'upserted'").write.saveAsTable("crm.spotzee_rejects")

Each call is one Spark job (install with `pip install 'spotzee-frames[spark]'`). Rows are
hash-partitioned by user id (`partition="by_id"`), each partition is sorted by id and row,
and `mapInArrow` runs the same operation a pandas frame goes through (`spotzee_frames
.upsert`, `track`, `trigger_campaign`, `trigger_journey`) once per partition, in a task that builds
its own client (see `_engines`). The per-row result comes back as a Spark DataFrame —
`row_id` (or the column `row_id=` names), `status`, `error_code`, `error_field`,
`error_message`, `external_id`, … — checkpointed on the executors before the call returns,
so filtering, counting or writing it never sends anything again.

`mapInArrow` rather than PySpark 4's Python data source writer: a writer's tasks hand back
one commit message each, so the per-row result would need a table of its own; a map gives
it back as a DataFrame, Arrow batch in and Arrow batch out, with no Python object per row.

The key never travels with the job: each task reads `SPOTZEE_API_KEY` from its own
environment (set it for the executors: `spark.executorEnv.SPOTZEE_API_KEY`, or a cluster
environment variable filled from a secret scope), or calls `api_key=`, a function that
fetches it where the task runs. Workers run the Python `PYSPARK_PYTHON` names (else
`python3` on PATH): point it at the environment where spotzee-frames is installed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal, cast

import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.pandas.functions import arrow_udf
from pyspark.sql.pandas.types import from_arrow_schema
from pyspark.sql.types import MapType

from ._arrow import frame_from_arrow, result_to_arrow
from ._encoding import BigIntPolicy, NullPolicy
from ._engines import (
    KEY,
    ROW,
    STOP,
    Job,
    Partitioning,
    partition_key,
    plan,
    raise_stop,
    run_partition,
    split_arguments,
    tasks_at_once,
)
from ._errors import ValidationError
from ._mapping import MappingSpec
from ._prepare import DuplicatePolicy, InvalidFieldPolicy, check_choice
from ._trigger import EventSpec
from ._upsert import Mode

__all__ = ["track", "trigger_campaign", "trigger_journey", "upsert"]

Checkpoint = Literal["local", "reliable"]
CHECKPOINTS: tuple[str, ...] = ("local", "reliable")

_KEY_HINT = (
    "Give the executors the key: spark.executorEnv.SPOTZEE_API_KEY, a cluster environment "
    "variable filled from a secret scope (on Databricks SPOTZEE_API_KEY={{secrets/<scope>/"
    "<key>}}), or api_key=<a function that fetches it where the task runs>"
)


def _column(name: Hashable) -> Column:
    return F.col("`" + str(name).replace("`", "``") + "`")  # any name, dots included


def _keys(ids: pa.Array) -> pa.Array:
    """The partition key of each row, from a struct of its own key and its id columns,
    read through the same Arrow-to-pandas conversion as the task reads them."""
    frame = frame_from_arrow(pa.RecordBatch.from_struct_array(ids))
    keys = partition_key(frame, list(frame.columns[1:]), frame["own"].to_numpy(dtype=object))
    return pa.array(keys, type=pa.string())


def _own_key(sdf: DataFrame) -> Column:
    """`#` and a hash of the row's values (maps as JSON: Spark hashes no maps)."""
    values = [
        F.to_json(_column(f.name)) if isinstance(f.dataType, MapType) else _column(f.name)
        for f in sdf.schema.fields
    ]
    return F.format_string("#%016x", F.xxhash64(*values))


def _task(
    job: Job, schema: pa.Schema, batches: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    """One task: the partition's Arrow batches in, its result's Arrow batches out."""
    frames = (frame_from_arrow(batch) for batch in batches)
    for result in run_partition(frames, job):
        yield from result_to_arrow(result, schema).to_batches()


def _slots(sdf: DataFrame) -> int:
    """Task slots of the cluster now: executors' cores over `spark.task.cpus`."""
    try:
        context = sdf.sparkSession.sparkContext
    except Exception:  # Spark Connect: the client has no SparkContext to ask
        raise ValidationError(
            "this Spark session (Spark Connect?) does not say how many tasks run at once: "
            "pass parallelism=<the cluster's task slots>, which split rate_limit"
        ) from None
    try:
        scala = context._jsc.sc()
        profile = scala.resourceProfileManager().defaultResourceProfile()
        return max(1, int(scala.maxNumConcurrentTasks(profile)))
    except Exception:  # a Spark without that (private) method: count cores instead
        cpus = int(context.getConf().get("spark.task.cpus", "1"))
        return max(1, context.defaultParallelism // max(1, cpus))


def _run(operation: str, arguments: dict[str, Any]) -> DataFrame:
    """Run `operation` over `arguments["sdf"]`; `arguments` are an engine function's."""
    sdf, checkpoint = arguments.pop("sdf"), arguments.pop("checkpoint")
    options, engine = split_arguments(operation, arguments)
    if not isinstance(sdf, DataFrame):
        raise ValidationError(f"expected a Spark DataFrame, got {type(sdf).__name__}")
    check_choice("checkpoint", checkpoint, CHECKPOINTS)
    spark = sdf.sparkSession
    if checkpoint == "reliable" and spark.sparkContext.getCheckpointDir() is None:
        raise ValidationError(
            'checkpoint="reliable" needs a checkpoint directory: '
            "spark.sparkContext.setCheckpointDir(...)"
        )
    frame_meta = frame_from_arrow(sdf.limit(0).toArrow())
    job = plan(operation, options, frame_meta, count_rows=sdf.count, **engine)
    partition, partitions = engine["partition"], engine["partitions"]
    slots = engine["parallelism"] or _slots(sdf)
    # cast: the stubs know only the deprecated functionType= form, not type hints
    keys = cast(Any, arrow_udf)("string")(_keys)
    ids = [_column(c).alias(f"id{i}") for i, c in enumerate(job.identity)]
    keyed = sdf.withColumn(ROW, F.monotonically_increasing_id())
    keyed = keyed.withColumn(KEY, keys(F.struct(_own_key(sdf).alias("own"), *ids)))
    at_once = slots  # "as_is": the frame's partition count is unknown until it runs
    if partition == "by_id":
        count = partitions or slots
        keyed = keyed.repartition(count, F.col(KEY))
        speculative = spark.conf.get("spark.speculation", "false") == "true"
        at_once = tasks_at_once(slots, count, speculative=speculative)
    job = replace(job, settings=job.settings.share(at_once))
    schema = job.arrow_schema(frame_meta)
    sent = keyed.sortWithinPartitions(KEY, ROW).mapInArrow(
        functools.partial(_task, job, schema), from_arrow_schema(schema)
    )
    # Checkpointed, not cached: an evicted cache block would be recomputed, i.e. sent again.
    done = sent.localCheckpoint(eager=True) if checkpoint == "local" else sent.checkpoint(True)
    stops = done.where(F.col(STOP).isNotNull()).select(STOP).limit(1).collect()
    result = done.drop(STOP)
    if stops:
        raise_stop(stops[0][0], result, _KEY_HINT)
    return result


def upsert(
    sdf: DataFrame,
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
    row_id: str | None = None,
    checkpoint: Checkpoint = "local",
) -> DataFrame:
    """Create or update one Spotzee user per row of `sdf`; return one result row per row.

    `mapping` through `include_payload` are `spotzee_frames.upsert`'s, and mean the same
    (a payload comes back as its JSON text). The rest say how the job runs:

    rate_limit
        Requests/s for the whole job (default 100, the API's budget per host: a cluster
        behind one NAT address shares it). Split evenly between the tasks that run at
        once; None: unpaced.
    api_key
        None: each task reads `SPOTZEE_API_KEY` from its environment. Or a function,
        called where each task runs, that returns the key (from a secret store). Never
        the key itself: it would be pickled into every task.
    base_url
        The API's URL; default `SPOTZEE_BASE_URL` as the driver sees it, else Spotzee's.
    client_options
        More `Client` settings for every task: `timeout`, `max_concurrency` (per task),
        `max_attempts`, `max_retry_time`, `backoff_base`, `backoff_max`.
    partition
        `"by_id"` (default): hash-partition the rows by user id (external_id, else
        anonymous_id, normalised as the upsert normalises them) so that all rows of one
        user meet in one task and `duplicates=` holds across the whole frame, as in
        pandas; costs a shuffle of the frame. `"as_is"`: keep the frame's partitions —
        `duplicates=` then holds within each partition only, and rows of one user in two
        partitions are both sent (both applied, in no set order): only for a frame
        already partitioned by id, or with unique ids.
    partitions
        Partitions to shuffle into with `"by_id"`; default one per task slot (one wave:
        the whole budget in use until the end). More make a failed task cheaper to
        redo: a retried task replays its partition from the start.
    parallelism
        Tasks that run at once (and split `rate_limit`); default the cluster's task slots
        now (executors' cores / `spark.task.cpus`). With `"by_id"` the frame is cut into
        that many partitions (unless `partitions=` says), so no more tasks can send at
        once; with `"as_is"`, never give fewer than the slots, which may all send.
    row_id
        A column of `sdf` (unique per row) to carry into the result, to join it back:
        `sdf.join(result, "customer_id")`; it is sent like any other column unless
        mapped or excluded. None: a `row_id` column numbers the rows as
        `monotonically_increasing_id()` does.
    checkpoint
        Where the result is kept: `"local"` (default; executors' storage, lost with an
        executor) or `"reliable"` (the checkpoint directory). Either way, using the
        result never sends again.

    Task retries and speculative copies are safe: a partition's rows are sorted by id and
    row, so a second attempt cuts the same batches, whose content-derived idempotency keys
    make the server replay them instead of applying them twice (within 24 hours).

    Returns
    -------
    pyspark.sql.DataFrame
        `row_id` (or the `row_id=` column) and the columns of `spotzee_frames.upsert`'s
        result, `status` as a string; `batch` counts the requests of one task.

    Raises
    ------
    ValidationError, ConfigurationError
        A bad option, mapping or setting, found on the driver before any task starts.
    AuthenticationError, PermissionDeniedError, MissingRouteError, ConfigurationError
        A task stopped on it (no more sending from that task); `.result` holds the job's
        result, its unsent rows `interrupted`.
    """
    return _run("upsert", locals())  # every argument, by name


def trigger_campaign(
    sdf: DataFrame,
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
    row_id: str | None = None,
    checkpoint: Checkpoint = "local",
) -> DataFrame:
    """Trigger campaign `campaign_id` once for each row of `sdf`; one result row per row.

    The options before `rate_limit` are `spotzee_frames.trigger_campaign`'s; the rest are
    `upsert`'s (here, `partition="by_id"` goes by `external_id`). Before any task starts,
    the driver checks the campaign (a draft or a non-trigger campaign raises
    `TargetStateError`), so it needs the key as well, and counts the rows against
    `max_recipients` (one pass over `sdf`). Each task checks the campaign again before
    each chunk it sends (one GET per 100,000 rows, within `rate_limit`). Every trigger
    is keyed by campaign, user and `send_id`, so a retried task replays, never sends twice.
    """
    return _run("trigger_campaign", locals())  # every argument, by name


def trigger_journey(
    sdf: DataFrame,
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
    row_id: str | None = None,
    checkpoint: Checkpoint = "local",
) -> DataFrame:
    """Enter each row of `sdf` into journey `journey_id` at step `entrance_id`.

    As `trigger_campaign` (the journey must be live), with
    `spotzee_frames.trigger_journey`'s options.
    """
    return _run("trigger_journey", locals())  # every argument, by name


def track(
    sdf: DataFrame,
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
    row_id: str | None = None,
    checkpoint: Checkpoint = "local",
) -> DataFrame:
    """Send one event per row of `sdf` (`POST /events`); one result row per row.

    The options before `rate_limit` are `spotzee_frames.track`'s; the rest are
    `upsert`'s. Events have no duplicate policy, so `partition="by_id"` spreads the
    rows evenly over `partitions` by a hash of their values, and `"as_is"` sends each
    partition as it is; either way a partition is sent in the order of those hashes (not
    the input's), so a retried task — even one whose input was recomputed in another
    order — cuts the same batches of events and replays them: no event counts twice.
    """
    return _run("track", locals())  # every argument, by name
