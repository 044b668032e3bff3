"""What the Spark and Dask engines share: the plan each task gets, how one partition is
sent, the key that keeps one user's rows in one task, and how tasks split the budget.

An engine (`spark.py`, `dask.py`) only moves data. On the driver it calls `plan`, which
checks every option and the frame's columns with a dry run of the operation on a frame of
no rows (and, for a trigger, counts the rows and checks the campaign or journey), before
anything is sent. Then it numbers the rows (`ROW`), gives each its `partition_key`,
shuffles by that key (`partition="by_id"`), sorts every partition by key and row, and
calls `run_partition` once per partition, in a task of its own.

`run_partition` builds the task's own `Client` from `Settings` — picklable, and holding no
key: the key is read where the task runs, from its environment or a function — and sends
the partition in chunks through the very same public operation a pandas frame goes
through (`spotzee_frames.upsert`, `trigger_campaign`, …), so the runner's batching,
content-derived keys, retries and result frame are the same code. A chunk never splits
one user's rows, so `duplicates=` holds within it exactly as in pandas.

Exactly once: a partition's rows arrive in a fixed order (by key, then row), and chunks
and batches are cut from that order alone, so a retried or speculative attempt of a task
sends the same bodies under the same idempotency keys, and the server replays them
instead of applying them again.

A task that meets a whole-call error (a refused key, a missing route, no key on the
worker) sends nothing more, marks its remaining rows `interrupted` and returns the error
in the `STOP` column of one row; the engine raises it on the driver (`raise_stop`) with
`.result` holding the job's result.
"""

from __future__ import annotations

import inspect
import math
import os
import uuid
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from . import _errors
from ._arrow import result_to_arrow
from ._client import Client
from ._errors import ConfigurationError, SpotzeeError, ValidationError
from ._mapping import ID_FIELDS, resolve_mapping
from ._normalize import normalize_id
from ._prepare import check_choice
from ._track import track
from ._trigger import TRIGGER_FIELDS, check_recipients, trigger_campaign, trigger_journey
from ._upsert import upsert

__all__ = [
    "CHUNK_ROWS",
    "ENGINE_OPTIONS",
    "KEY",
    "NOT_PER_TASK",
    "PARTITIONINGS",
    "ROW",
    "ROW_ID",
    "STOP",
    "Job",
    "Partitioning",
    "Settings",
    "partition_count",
    "partition_key",
    "plan",
    "raise_stop",
    "run_partition",
    "split_arguments",
    "tasks_at_once",
]

ROW = "__spotzee_row"  # the row's number in the job: input partition << 33 | position
KEY = "__spotzee_key"  # the id `duplicates=` goes by (`partition_key`)
STOP = "__spotzee_stop"  # on one row of a task that stopped: the error, as JSON
ROW_ID = "row_id"  # the result's row column, unless row_id= names an input column
#: Rows sent by one call of the operation in a task: bounds a task's memory whatever the
#: size of its partition, and costs one short batch per chunk.
CHUNK_ROWS = 100_000

#: What every engine function takes besides the operation's own options.
ENGINE_OPTIONS: tuple[str, ...] = (
    "rate_limit",
    "api_key",
    "base_url",
    "client_options",
    "partition",
    "partitions",
    "parallelism",
    "row_id",
)

#: The pandas functions' options an engine function does not take: a task has its own
#: client and shows no bar, and a ledger is one file with one writer at a time, which
#: tasks on many machines cannot share (a job that is run again replays instead).
NOT_PER_TASK: tuple[str, ...] = ("progress", "client", "ledger", "only_changed")

Partitioning = Literal["by_id", "as_is"]
PARTITIONINGS: tuple[str, ...] = ("by_id", "as_is")
_CLIENT_OPTIONS = (
    "timeout",
    "max_concurrency",
    "max_attempts",
    "max_retry_time",
    "backoff_base",
    "backoff_max",
)
_PLACEHOLDER_KEY = "sk_settings_check"  # checks the settings on the driver; never sent


@dataclass(frozen=True)
class Settings:
    """What a task needs to build its own `Client`. No key: `api_key` is None (the task
    reads `SPOTZEE_API_KEY` from its own environment) or a function the task calls."""

    base_url: str | None
    api_key: Callable[[], str] | None
    rate_limit: float | None
    options: tuple[tuple[str, Any], ...] = ()

    def client(self, key: str | None = None) -> Client:
        if key is None and self.api_key is not None:
            key = self.api_key()
            if not isinstance(key, str) or not key.strip():
                raise ConfigurationError(
                    f"api_key() returned {type(key).__name__}, not the key as a string"
                )
        return Client(key, self.base_url, rate_limit=self.rate_limit, **dict(self.options))

    def share(self, tasks: int) -> Settings:
        """These settings for one of `tasks` tasks running at once: the rate split evenly.
        (How many requests each keeps in flight is its client's to judge: as many as its
        pace needs at the round trip it sees, fewer when the server struggles.)"""
        rate = None if self.rate_limit is None else self.rate_limit / max(1, tasks)
        return replace(self, rate_limit=rate)


@dataclass(frozen=True)
class _Operation:
    func: Callable[..., pd.DataFrame]
    #: The columns `duplicates=` goes by, in order (the first usable id of a row counts).
    identity: Callable[[Sequence[Hashable], Mapping[str, Any]], list[Hashable]]
    #: Whether it checks its target through the client even in a dry run.
    checks_target: bool = False


def _upsert_identity(columns: Sequence[Hashable], options: Mapping[str, Any]) -> list[Hashable]:
    fields = resolve_mapping(columns, options["mapping"], exclude=options["exclude"]).fields
    return [fields[f] for f in ID_FIELDS if f in fields]


def _trigger_identity(columns: Sequence[Hashable], options: Mapping[str, Any]) -> list[Hashable]:
    fields = resolve_mapping(
        columns, options["mapping"], fields=TRIGGER_FIELDS, rest_to_data=False
    ).fields
    return [fields["external_id"]]


def _no_identity(columns: Sequence[Hashable], options: Mapping[str, Any]) -> list[Hashable]:
    return []  # events have no duplicate policy: every row keys itself


_OPERATIONS: dict[str, _Operation] = {
    "upsert": _Operation(upsert, _upsert_identity),
    "track": _Operation(track, _no_identity),
    "trigger_campaign": _Operation(trigger_campaign, _trigger_identity, checks_target=True),
    "trigger_journey": _Operation(trigger_journey, _trigger_identity, checks_target=True),
}


@dataclass(frozen=True)
class Job:
    """The plan every task of one run gets (pickled by the engine; holds no key)."""

    operation: str
    #: The operation's own arguments, by name (a campaign id, `mapping=`, `dry_run=`…).
    options: Mapping[str, Any]
    settings: Settings
    #: The operation's result for no rows: the columns and dtypes every chunk's result has.
    meta: pd.DataFrame
    #: The input column carried into the result as the row's id; None: `ROW` as `row_id`.
    row_id: Hashable | None
    #: The columns whose first usable id is a row's `KEY`.
    identity: tuple[Hashable, ...]
    #: Unique per call: a task graph names its results by their inputs (Dask keeps them
    #: while referenced), and a call made again must run again, not hand back the last one.
    run: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def needs_client(self) -> bool:
        return not self.options.get("dry_run") or _OPERATIONS[self.operation].checks_target

    @property
    def row_label(self) -> Hashable:
        return ROW_ID if self.row_id is None else self.row_id

    def send(self, frame: pd.DataFrame, client: Client | None) -> pd.DataFrame:
        func = _OPERATIONS[self.operation].func
        return func(frame, client=client, progress=False, **self.options)

    def not_reached(self, index: pd.Index) -> pd.DataFrame:
        """The result of rows a stopped task never sent: `interrupted`, nothing else known."""
        frame = self.meta.reindex(pd.RangeIndex(len(index)))
        frame.index = index
        frame["status"] = pd.Series(["interrupted"] * len(index), index=index).astype(
            self.meta["status"].dtype
        )
        return frame

    def finish(self, result: pd.DataFrame, chunk: pd.DataFrame, stop: str | None) -> pd.DataFrame:
        """`result` with the row id first and the `STOP` column last."""
        out = result.copy(deep=False)
        source = chunk[ROW] if self.row_id is None else chunk[self.row_id]
        out.insert(0, self.row_label, source.array)  # by position: labels may repeat
        stops = np.full(len(out), None, dtype=object)
        if stop is not None and len(out):
            stops[0] = stop
        out[STOP] = pd.array(stops, dtype=pd.StringDtype())
        return out

    def result_meta(self, frame_meta: pd.DataFrame) -> pd.DataFrame:
        """The result of no rows as a task returns it (row id, result columns, `STOP`)."""
        chunk = frame_meta.assign(**{ROW: np.zeros(0, dtype=np.int64)})
        return self.finish(self.meta, chunk, None)

    def arrow_schema(self, frame_meta: pd.DataFrame) -> pa.Schema:
        return result_to_arrow(self.result_meta(frame_meta)).schema


def _check_engine_options(
    frame_meta: pd.DataFrame,
    *,
    rate_limit: Any,
    api_key: Any,
    base_url: Any,
    client_options: Any,
    partition: Any,
    partitions: Any,
    parallelism: Any,
    row_id: Any,
) -> tuple[tuple[str, Any], ...]:
    check_choice("partition", partition, PARTITIONINGS)
    if rate_limit is not None and (
        isinstance(rate_limit, bool)
        or not isinstance(rate_limit, int | float)
        or not math.isfinite(rate_limit)
        or rate_limit <= 0
    ):
        raise ValidationError(
            f"rate_limit must be a positive number of requests/s for the whole job (or None: "
            f"unpaced), not {rate_limit!r}"
        )
    if isinstance(api_key, str):
        raise ValidationError(
            "api_key must be a function that returns the key where the task runs (e.g. read "
            "from a secret store), or None to read SPOTZEE_API_KEY from each task's "
            "environment: a key given as a string would be pickled into every task"
        )
    if api_key is not None and not callable(api_key):
        raise ValidationError(f"api_key must be None or a function, not {api_key!r}")
    if base_url is not None and not isinstance(base_url, str):
        raise ValidationError(f"base_url must be a string or None, not {base_url!r}")
    for name, value in (("partitions", partitions), ("parallelism", parallelism)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValidationError(f"{name} must be a positive integer or None, not {value!r}")
    if partitions is not None and partition != "by_id":
        raise ValidationError(
            'partitions= is the number of partitions to shuffle into with partition="by_id"; '
            'partition="as_is" keeps the frame\'s own'
        )
    options = dict(client_options or {})
    unknown = sorted(map(str, set(options) - set(_CLIENT_OPTIONS)))
    if unknown:
        raise ValidationError(
            f"client_options does not take {', '.join(unknown)}; it takes "
            f"{', '.join(_CLIENT_OPTIONS)} (rate_limit, api_key and base_url are arguments "
            "of their own)"
        )
    columns = list(frame_meta.columns)
    helpers = [c for c in columns if isinstance(c, str) and c.startswith("__spotzee_")]
    if helpers:
        raise ValidationError(f"column names starting with __spotzee_ are reserved: {helpers}")
    if row_id is not None:
        if row_id not in columns:
            raise ValidationError(f"row_id names {row_id!r}, which is not a column: {columns!r}")
        if columns.count(row_id) > 1:
            raise ValidationError(f"the frame has several columns labelled {row_id!r}")
    return tuple(sorted(options.items()))


def split_arguments(
    operation: str, arguments: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An engine function's arguments (less the frame) as the operation's own options
    (named as in the pandas function, less `NOT_PER_TASK`) and the engine's
    (`ENGINE_OPTIONS`)."""
    names = list(inspect.signature(_OPERATIONS[operation].func).parameters)[1:]
    own = {n: arguments[n] for n in names if n not in NOT_PER_TASK}
    return own, {n: arguments[n] for n in ENGINE_OPTIONS}


def plan(
    operation: str,
    options: Mapping[str, Any],
    frame_meta: pd.DataFrame,
    *,
    count_rows: Callable[[], int],
    rate_limit: float | None,
    api_key: Callable[[], str] | None,
    base_url: str | None,
    client_options: Mapping[str, Any] | None,
    partition: Partitioning,
    partitions: int | None,
    parallelism: int | None,
    row_id: Hashable | None,
) -> Job:
    """Check everything that can be checked before a task starts, on the driver.

    `frame_meta` is a frame of no rows with the dtypes the tasks will see; `count_rows()`
    counts the whole frame (only called for a trigger's `max_recipients`)."""
    client_settings = _check_engine_options(
        frame_meta,
        rate_limit=rate_limit,
        api_key=api_key,
        base_url=base_url,
        client_options=client_options,
        partition=partition,
        partitions=partitions,
        parallelism=parallelism,
        row_id=row_id,
    )
    settings = Settings(
        base_url or os.environ.get("SPOTZEE_BASE_URL"), api_key, rate_limit, client_settings
    )
    settings.client(_PLACEHOLDER_KEY).close()  # the URL, https, the options; sends nothing
    op = _OPERATIONS[operation]
    options = dict(options)
    check = {**options, "dry_run": True}
    if op.checks_target:
        try:
            driver = settings.client()
        except ConfigurationError as exc:
            raise ConfigurationError(
                f"{exc}. A trigger checks its campaign or journey from the driver before any "
                "task sends, so the driver needs the key too: SPOTZEE_API_KEY where the "
                "driver runs as well, or api_key=<a function that fetches it>"
            ) from None
        with driver:
            max_recipients = options.pop("max_recipients")
            what = "campaign" if operation == "trigger_campaign" else "journey"
            label = f"{what} {options[what + '_id']}"
            meta = op.func(frame_meta, client=driver, progress=False, **check)
            check_recipients(count_rows(), label, max_recipients)
        options["max_recipients"] = None  # counted over the whole frame, just now
    else:
        meta = op.func(frame_meta, progress=False, **check)
    columns = list(frame_meta.columns)
    if row_id is not None and row_id in meta.columns:
        raise ValidationError(
            f"row_id {row_id!r} would clash with the result's own {row_id!r} column; rename "
            "that input column first"
        )
    return Job(
        operation=operation,
        options=options,
        settings=settings,
        meta=meta,
        row_id=row_id,
        identity=tuple(op.identity(columns, options)),
    )


# -- where a row goes -------------------------------------------------------------------------


def partition_key(
    frame: pd.DataFrame, columns: Sequence[Hashable], own: Sequence[str] | np.ndarray
) -> np.ndarray:
    """Per row, the id `duplicates=` goes by — the first of `columns` with a usable value,
    normalised as the operation normalises it — else `own`, the row's own key: `#` and a
    hash of its values (an engine's own hash). Such rows (all rows of an operation without
    a duplicate policy, like `track`) spread over the partitions instead of piling up in
    one, and their order depends on what they hold, not on where they were: a stage run
    again over an input whose order is not fixed (after a shuffle) still cuts the same
    batches."""
    key: np.ndarray = np.asarray(own, dtype=object).copy()
    todo = np.ones(len(frame), dtype=bool)
    for column in columns:
        found = normalize_id(frame[column], column=column)
        usable = todo & ~found.missing & ~found.invalid
        key[usable] = found.values[usable]
        todo &= ~usable
    return key


def tasks_at_once(slots: int, partitions: int, *, speculative: bool = False) -> int:
    """How many tasks may send at the same time: one per slot, at most one per partition
    (unless speculative copies may run beside their originals)."""
    return max(1, slots if speculative else min(slots, partitions))


def partition_count(slots: int, partitions: int) -> int:
    """How many partitions to shuffle into: a whole number of waves of `slots` tasks
    (about as many partitions as the input has), so that no wave runs short of the budget."""
    return slots * max(1, -(-partitions // slots))


# -- one task ---------------------------------------------------------------------------------


def _cut(keys: np.ndarray, size: int) -> int | None:
    """The first position at or after `size` that starts a new key; None when the rows
    from `size` on all continue one key."""
    after, before = keys[size:], keys[size - 1 : -1]
    found = np.flatnonzero(after != before)
    return size + int(found[0]) if len(found) else None


def _chunks(frames: Iterable[pd.DataFrame], size: int) -> Iterator[pd.DataFrame]:
    """The rows of `frames` (sorted by `KEY`) in chunks of at least `size` rows (the last
    may be shorter), never cut between two rows of one key."""
    held: pd.DataFrame | None = None
    pending: list[pd.DataFrame] = []
    rows = 0
    for frame in frames:
        if not len(frame):
            continue
        pending.append(frame)
        rows += len(frame)
        if rows < size:
            continue
        held = pending[0] if len(pending) == 1 else pd.concat(pending)
        while len(held) >= size:
            cut = _cut(held[KEY].to_numpy(dtype=object), size)
            if cut is None:
                break  # one key runs on: wait for its end
            yield held.iloc[:cut]
            held = held.iloc[cut:]
        pending = [held] if len(held) else []
        rows = len(held)
    if rows:
        yield pending[0] if len(pending) == 1 else pd.concat(pending)


def _stop_record(error: SpotzeeError) -> str:
    attrs = {k: v for k, v in vars(error).items() if k != "result"}
    record = {"type": type(error).__name__, "message": str(error.args[0]) if error.args else ""}
    return orjson.dumps({**record, "attrs": attrs}, default=str).decode()


def run_partition(
    frames: Iterable[pd.DataFrame], job: Job, *, chunk_rows: int = CHUNK_ROWS
) -> Iterator[pd.DataFrame]:
    """Send one partition (frames sorted by `KEY` then `ROW`); yield its result, chunk by
    chunk, each row with its row id, indexed like the input rows."""
    client: Client | None = None
    stopped = False
    batches = 0  # `batch` counts on across the chunks of a task
    try:
        for chunk in _chunks(frames, chunk_rows):
            rows = chunk.drop(columns=[ROW, KEY])
            stop: str | None = None
            if stopped:
                result = job.not_reached(rows.index)
            else:
                try:
                    if client is None and job.needs_client:
                        client = job.settings.client()
                    result = job.send(rows, client)
                except SpotzeeError as exc:  # a whole-call error: this task sends no more
                    stopped = True
                    stop = _stop_record(exc)
                    partial = getattr(exc, "result", None)
                    result = partial if partial is not None else job.not_reached(rows.index)
            if "batch" in result.columns:
                numbers = result["batch"]
                result = result.assign(batch=numbers + batches)
                if numbers.notna().any():
                    batches += int(numbers.max()) + 1
            yield job.finish(result, chunk, stop)
    finally:
        if client is not None:
            client.close()


def raise_stop(record: str, result: Any, hint: str) -> None:
    """Raise, on the driver, the error a task stopped on; `.result` is the job's result."""
    data = orjson.loads(record)
    cls = getattr(_errors, data["type"], None)
    if not (isinstance(cls, type) and issubclass(cls, SpotzeeError)):
        cls = SpotzeeError
    error = cls.__new__(cls)
    Exception.__init__(error, data["message"])
    error.__dict__.update(data["attrs"])
    error.result = result  # type: ignore[attr-defined]  # every stop carries the job's result
    error.add_note(
        "raised by a task, which then sent no more; the other tasks stopped on their own "
        "error or finished. .result holds the job's result (rows never sent are "
        "'interrupted'; sending the same job again is safe)"
    )
    if isinstance(error, ConfigurationError):
        error.add_note(hint)
    raise error
