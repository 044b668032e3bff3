"""One sync run: pull → convert → upsert → classify → unsubscribe → log, per object.

Pages are pulled on a background thread while the previous ones are sent, and sent in
chunks of whatever has arrived (at least a page, at most `_CHUNK_MAX` records), so the
Salesforce pull hides behind the Spotzee send. Every chunk is planned as the toolkit's own
`upsert(mode="sync")` plans a frame, and all of an object's chunks go through the runner
as one stream, so the send never pauses between chunks: batching, content-derived
idempotency keys, retries, pacing and normalisation are the upsert's. A re-run after a
failure pulls the same records in the same order and so sends the same batches, which
Spotzee replays instead of applying twice.

A run is successful when no record is `failed` or `interrupted` and nothing stopped it;
only then do the watermarks move (records `invalid` or `rejected` have a final answer: a
fix in Salesforce modifies the record, which brings it back).
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import itertools
import queue
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from .._errors import Interrupted
from .._progress import ProgressLike, Reporter, make_reporter
from .._results import ResultBuilder, _text_array
from .._runner import InOrder, Operation, Part, drive, result_frame
from .._subscriptions import check_subscription, plan_set_subscription
from .._upsert import plan_upsert
from ._convert import convert_column
from ._ids import external_id, external_id_prefix
from ._plan import ObjectPlan
from ._source import Page, Selection, Source
from ._spotzee import ExistingUsers
from ._state import iso_now

if TYPE_CHECKING:
    from .._client import Client

__all__ = [
    "RESULT_COLUMNS",
    "STATUSES",
    "ObjectOutcome",
    "Rows",
    "RunOptions",
    "new_run_id",
    "run_object",
    "started_entry",
]

STATUSES: Final = (
    "imported",
    "updated",
    "valid",
    "invalid",
    "skipped",
    "rejected",
    "failed",
    "interrupted",
)
RESULT_COLUMNS: Final = (
    "object",
    "salesforce_id",
    "external_id",
    "status",
    "error_code",
    "error_field",
    "error_message",
    "warnings",
    "last_modified",
    "unsubscribed",
    "user_id",
    "attempts",
    "request_id",
)
# A chunk takes whatever has been pulled meanwhile, up to this many records: one
# upsert plan (its preparation is vectorised), one part of the runner's stream.
_CHUNK_MAX: Final = 40_000
_PREFETCH: Final = 8
#: Warnings kept per run in the log (the result frame has them all).
MAX_LOGGED_WARNINGS: Final = 1000
CODE_ALREADY_SYNCED: Final = "already_synced"
CODE_DUPLICATE: Final = "duplicate_record"
CODE_OPT_OUT: Final = "unsubscribe_failed"


class Rows:
    """The result frame, collected a chunk at a time: each chunk's columns are typed as it
    finishes (while later chunks are still being sent), so the end only joins them."""

    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []
        self._objects: list[tuple[str, int]] = []  # each part's object, and its rows
        self._statuses: Counter[str] = Counter()

    def __len__(self) -> int:
        return sum(n for _, n in self._objects)

    def add(self, obj: str, **columns: Any) -> None:
        """One chunk's rows, all of object `obj`; each column is a sequence of values,
        None (all missing) or one text for every row."""
        n = len(columns["salesforce_id"])
        self._objects.append((obj, n))
        part = _typed(columns, n)
        self._statuses.update({str(k): int(v) for k, v in part["status"].value_counts().items()})
        self._parts.append(part)

    def statuses(self) -> Counter[str]:
        return Counter({str(k): int(v) for k, v in self._statuses.items() if v})

    def to_frame(self, objects: list[str]) -> pd.DataFrame:
        parts = self._parts or [_typed({}, 0)]
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].copy()
        codes = np.repeat(
            np.array([objects.index(o) for o, _ in self._objects], dtype=np.int8),
            [n for _, n in self._objects],
        )
        column = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(objects))
        frame.insert(0, "object", pd.Series(column))
        return frame


def _typed(columns: dict[str, Any], n: int) -> pd.DataFrame:
    """Result columns (all but `object`) in their dtypes."""

    def values(name: str) -> np.ndarray:
        given = columns.get(name)
        if given is None or isinstance(given, str):
            return np.full(n, given, dtype=object)
        out = np.empty(n, dtype=object)
        out[:] = list(given)
        return out

    texts = ("error_code", "error_field", "error_message", "warnings")
    modified = values("last_modified")
    return pd.DataFrame(
        {
            "salesforce_id": _text_array(values("salesforce_id")),
            "external_id": _text_array(values("external_id")),
            "status": pd.Categorical(values("status"), categories=list(STATUSES)),
            **{name: _text_array(values(name)) for name in texts},
            "last_modified": pd.to_datetime(
                pd.Series(modified, dtype=object), utc=True, format="ISO8601"
            ).astype("datetime64[ns, UTC]"),
            "unsubscribed": pd.array(values("unsubscribed"), dtype="boolean"),
            "user_id": pd.array(values("user_id"), dtype="Int64"),
            "attempts": pd.array(values("attempts"), dtype="Int64"),
            "request_id": _text_array(values("request_id")),
        }
    )


@dataclass(frozen=True)
class RunOptions:
    integration: str
    subscription_id: int | None
    default_region: str | None
    batch_size: int
    dry_run: bool
    progress: ProgressLike
    overlap: dt.timedelta


@dataclass
class ObjectOutcome:
    """What one object's pull did, for the state and the log."""

    pulled: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    #: (salesforce id, LastModifiedDate) of every record with a final answer this run.
    done: dict[str, str | None] = field(default_factory=dict)
    warnings: list[dict[str, str]] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    lookups: int = 0


class _Prefetch:
    """Pages pulled on a background thread, `_PREFETCH` ahead at most."""

    def __init__(self, pages: Iterator[Converted]) -> None:
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=_PREFETCH)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._work, args=(pages,), name="salesforce-pull", daemon=True
        )
        self._thread.start()
        self.finished = False

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self, pages: Iterator[Converted]) -> None:
        try:
            for page in pages:
                if not self._put(("page", page)):
                    return
            self._put(("end", None))
        except BaseException as exc:  # handed to the consuming thread, which raises it
            self._put(("error", exc))

    def get(self, *, block: bool) -> Converted | None:
        """The next page; None at the end, or (not blocking) when none has arrived yet."""
        if self.finished:
            return None
        try:
            kind, item = self._queue.get(block=block)
        except queue.Empty:
            return None
        if kind == "error":
            self.finished = True
            raise item
        if kind == "end":
            self.finished = True
            return None
        page: Converted = item
        return page

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _chunks(pages: _Prefetch) -> Iterator[list[Converted]]:
    """Lists of pages: the next one (waiting for it), then any more already pulled. A pull
    that fails after some pages hands those on first, then raises."""
    while True:
        first = pages.get(block=True)
        if first is None:
            return
        chunk, size = [first], len(first)
        failure: BaseException | None = None
        while size < _CHUNK_MAX:
            try:
                more = pages.get(block=False)
            except BaseException as exc:  # raised once the pages before it are sent
                failure = exc
                break
            if more is None:
                break
            chunk.append(more)
            size += len(more)
        yield chunk
        if failure is not None:
            raise failure


@dataclass
class Converted:
    """A page made ready to send: external ids, each destination's converted values, the
    type-mismatch warnings by position, and each record's opt-out."""

    page: Page
    ext_ids: list[str]
    data: dict[str, np.ndarray]
    warnings: dict[int, list[str]]
    opted: list[bool | None]

    def __len__(self) -> int:
        return len(self.ext_ids)


def convert_page(plan: ObjectPlan, page: Page, integration: str) -> Converted:
    """Convert one page (on the pulling thread, so it overlaps the sending)."""
    n = len(page)
    data: dict[str, np.ndarray] = {}
    warnings: dict[int, list[str]] = {}
    for mapping in plan.mappings:
        values, dropped = convert_column(page.columns[mapping.field.name.lower()], mapping)
        data[mapping.destination] = values
        for i, message in dropped.items():
            warnings.setdefault(i, []).append(message)
    opted: list[bool | None] = [None] * n
    if plan.opt_out is not None:
        opted = _opted_out(plan, page)
        data[plan.opt_out] = np.array(opted, dtype=object)
    ext_ids = [external_id(integration, plan.obj, i) for i in page.ids]
    return Converted(page, ext_ids, data, warnings, opted)


def _merge(chunk: list[Converted]) -> Converted:
    if len(chunk) == 1:
        return chunk[0]
    first = chunk[0]
    warnings: dict[int, list[str]] = {}
    offset = 0
    for part in chunk:
        warnings.update({offset + i: w for i, w in part.warnings.items()})
        offset += len(part)
    page = Page(
        [i for p in chunk for i in p.page.ids],
        [m for p in chunk for m in p.page.modified],
        {},
        first.page.total,
    )
    return Converted(
        page,
        [e for p in chunk for e in p.ext_ids],
        {k: np.concatenate([p.data[k] for p in chunk]) for k in first.data},
        warnings,
        [o for p in chunk for o in p.opted],
    )


def _opted_out(plan: ObjectPlan, page: Page) -> list[bool | None]:
    """Per record: True if any opt-out checkbox says so, False if one says not, else None."""
    columns = [page.columns[f.name.lower()] for f in plan.opt_out_fields]
    out: list[bool | None] = []
    for values in zip(*columns, strict=True):
        seen = [_checkbox(v) for v in values]
        out.append(True if True in seen else False if False in seen else None)
    return out


def _checkbox(value: Any) -> bool | None:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower())
    return None


def run_object(
    plan: ObjectPlan,
    source: Source,
    client: Client | None,
    selection: Selection,
    seen_before: dict[str, str],
    rows: Rows,
    outcome: ObjectOutcome,
    options: RunOptions,
) -> None:
    """Pull and send one object's records, adding their rows to `rows` and what happened
    to `outcome` (which holds what was done even when this raises)."""
    pulled = source.pages(plan.obj, plan.fields, selection)
    pages = _Prefetch(convert_page(plan, page, options.integration) for page in pulled)
    sending = _Object(plan, client, seen_before, rows, outcome, options)
    try:
        sending.run(_chunks(pages))
    finally:
        pages.close()
        sending.close()


class _Chunk:
    """Pulled records on their way: which are held back and why, and the result columns,
    filled in as their upsert settles."""

    def __init__(
        self,
        plan: ObjectPlan,
        ready: Converted,
        seen_before: dict[str, str],
        in_run: set[str],
        outcome: ObjectOutcome,
    ) -> None:
        self.plan = plan
        self.ready = ready
        page = ready.page
        n = self.n = len(page)
        outcome.pulled += n
        # Records the overlapping window brings back unchanged, or a record twice in one pull.
        held = np.zeros(n, dtype=bool)
        self.codes = np.full(n, None, dtype=object)
        self.messages = np.full(n, None, dtype=object)
        for i, (record_id, modified) in enumerate(zip(page.ids, page.modified, strict=True)):
            if record_id in in_run:
                held[i] = True
                self.codes[i] = CODE_DUPLICATE
                self.messages[i] = "the record came twice in one pull; it was sent once"
            elif modified is not None and seen_before.get(record_id) == modified:
                held[i] = True
                self.codes[i] = CODE_ALREADY_SYNCED
                self.messages[i] = (
                    f"already synced by the previous run (LastModifiedDate {modified} "
                    "unchanged); not sent again"
                )
            in_run.add(record_id)
        warnings = ready.warnings
        for i, messages_of in sorted(warnings.items()):
            for message in messages_of:
                if not held[i] and len(outcome.warnings) < MAX_LOGGED_WARNINGS:
                    outcome.warnings.append(
                        {"object": plan.obj, "salesforce_id": page.ids[i], "warning": message}
                    )
        self.send = np.flatnonzero(~held)
        self.status = np.full(n, "skipped", dtype=object)
        self.fields = np.full(n, None, dtype=object)
        self.user_ids = np.full(n, None, dtype=object)
        self.attempts = np.full(n, None, dtype=object)
        self.request_ids = np.full(n, None, dtype=object)
        self.unsubscribed = np.full(n, None, dtype=object)
        self.warn_text = np.array(
            ["; ".join(warnings[i]) if i in warnings else None for i in range(n)]
        )
        self.already: set[str] = set()  # external ids that existed before this run
        self.builder: ResultBuilder | None = None  # the upsert's, once planned
        self.parts = 0  # runner parts (one per page) still without every outcome
        self.recorded = False

    def send_ids(self) -> list[str]:
        return [self.ready.ext_ids[i] for i in self.send]

    def frame(self) -> pd.DataFrame:
        """The rows to upsert: the external id and each destination's converted values."""
        ready = self.ready
        frame = pd.DataFrame({"external_id": ready.ext_ids, **ready.data})
        return frame.iloc[self.send].reset_index(drop=True)

    def record(self, result: pd.DataFrame) -> None:
        """The upsert's result rows (one per sent record, in order) into the columns."""
        self.recorded = True
        at, ext_ids = self.send, self.ready.ext_ids
        got = result["status"].astype(str).to_numpy()
        self.status[at] = [
            ("updated" if ext_ids[i] in self.already else "imported") if s == "upserted" else s
            for i, s in zip(at, got, strict=True)
        ]
        self.codes[at] = _objects(result["error_code"])
        self.messages[at] = _objects(result["error_message"])
        # Name the Salesforce field behind a refused value: that is what gets fixed.
        plan = self.plan
        self.fields[at] = [
            None if f is None else plan.source_of(f) or plan.source_of(f"data.{f}") or f
            for f in _objects(result["error_field"])
        ]
        for name, target in (
            ("user_id", self.user_ids),
            ("attempts", self.attempts),
            ("request_id", self.request_ids),
        ):
            if name in result.columns:
                target[at] = _objects(result[name])

    def imported(self) -> list[str]:
        return [self.ready.ext_ids[i] for i in self.send if self.status[i] == "imported"]

    def opt_outs(self, options: RunOptions) -> list[int]:
        """Once the upsert is recorded: the synced records whose opt-out is True, to
        unsubscribe (none in a dry run or without a subscription). An opt-out of False
        changes nothing: `unsubscribed` False."""
        synced = np.isin(self.status, ("imported", "updated"))
        opted = self.ready.opted
        for i, flag in enumerate(opted):
            if synced[i] and flag is False:
                self.unsubscribed[i] = False
        if options.subscription_id is None or options.dry_run:
            return []
        return [i for i, flag in enumerate(opted) if flag is True and synced[i]]

    def unsubscribed_by(
        self, targets: list[int], result: pd.DataFrame | None, subscription_id: int
    ) -> None:
        """`set_subscription`'s result rows for `targets` (in order) into the columns;
        None: the run stopped before they were planned."""
        outcomes: Iterable[tuple[Any, Any, Any]] = (
            [("interrupted", None, None)] * len(targets)
            if result is None
            else zip(result["status"], result["error_code"], result["error_message"], strict=True)
        )
        for i, (state, code, message) in zip(targets, outcomes, strict=True):
            if state == "updated":
                self.unsubscribed[i] = True
                continue
            # No outcome known: sent again by the next run. Refused: a final answer.
            self.status[i] = state if state in ("failed", "interrupted") else "rejected"
            self.codes[i] = CODE_OPT_OUT
            self.messages[i] = (
                f"the user was synced, but unsubscribing it from subscription "
                f"{subscription_id} "
                + (
                    "did not happen: the run stopped first"
                    if state == "interrupted"
                    else f"failed ({code}): {message}"
                )
            )

    def finish(self, rows: Rows, outcome: ObjectOutcome) -> None:
        """The chunk's rows into the result and its counts into the outcome."""
        page, status, codes, messages = self.ready.page, self.status, self.codes, self.messages
        rows.add(
            self.plan.obj,
            salesforce_id=page.ids,
            external_id=self.ready.ext_ids,
            status=status,
            error_code=codes,
            error_field=self.fields,
            error_message=messages,
            warnings=self.warn_text,
            last_modified=page.modified,
            unsubscribed=self.unsubscribed,
            user_id=self.user_ids,
            attempts=self.attempts,
            request_id=self.request_ids,
        )
        outcome.counts.update(Counter(status.tolist()))
        for i in range(self.n):
            if status[i] in ("imported", "updated", "invalid", "rejected", "skipped"):
                outcome.done[page.ids[i]] = page.modified[i]
            if status[i] in ("invalid", "rejected", "failed") and codes[i]:
                outcome.errors[f"{status[i]} {codes[i]}: {messages[i]}"] += 1


def _until_failure(chunks: Iterator[list[Converted]], into: _Object) -> Iterator[list[Converted]]:
    """`chunks` until the pull fails; its error goes to `into.pull_failure`, to be raised
    once the chunks before it are sent (the stream ends instead of breaking off)."""
    try:
        yield from chunks
    except Exception as exc:
        into.pull_failure = exc


@dataclass(eq=False)
class _Object:
    """One object's chunks as parts of one runner stream: the send never pauses between
    chunks (each chunk's upsert is planned while the ones before it are in flight), a
    chunk's unsubscribes follow in the same stream once its upsert has settled, and
    finished chunks go into the result in pull order."""

    plan: ObjectPlan
    client: Client | None
    seen_before: dict[str, str]
    rows: Rows
    outcome: ObjectOutcome
    options: RunOptions
    reporter: Reporter | None = None
    existing: ExistingUsers | None = None
    in_run: set[str] = field(default_factory=set)
    #: Chunks read and not yet in the result, by number.
    open: dict[int, _Chunk] = field(default_factory=dict)
    #: The pull's error, held until the chunks pulled before it are sent.
    pull_failure: Exception | None = None
    #: Unsubscribes planned for settled chunks, not yet handed to the stream.
    unsubscribes: collections.deque[Part] = field(default_factory=collections.deque)
    #: Per chunk with unsubscribes on their way: the records and their result builder.
    unsubscribing: dict[int, tuple[list[int], ResultBuilder]] = field(default_factory=dict)
    order: InOrder[_Chunk] = field(init=False)

    def __post_init__(self) -> None:
        self.order = InOrder(lambda chunk: chunk.finish(self.rows, self.outcome))

    @property
    def dry_run(self) -> bool:
        return self.options.dry_run or self.client is None

    def parts(self, chunks: Iterator[list[Converted]]) -> Iterator[Part]:
        options = self.options
        for number, chunk in enumerate(_until_failure(chunks, self)):
            yield from self._unsubscribes()
            ready = _merge(chunk)
            # Each page's first row in the chunk: its batches are cut apart from the next
            # page's, so a re-run that pulls the same pages sends the same batches.
            page_starts = np.cumsum([0, *(len(page) for page in chunk[:-1])])
            if self.reporter is None:
                desc = f"salesforce {self.plan.obj}"
                total = ready.page.total
                self.reporter = make_reporter(options.progress, desc=desc, total=total)
            state = self.open[number] = _Chunk(
                self.plan, ready, self.seen_before, self.in_run, self.outcome
            )
            if not len(state.send):
                self.reporter.advance(state.n)
                self._settled(number)
                continue
            if self.existing is not None:
                self.existing.total = ready.page.total
                state.already = self.existing.existing(state.send_ids())
            builder, op = self._plan(state.frame())
            state.builder = builder
            # op.rows are positions in the sent records; which page each comes from:
            pages = np.searchsorted(page_starts, state.send[op.rows], side="right")
            per_page = [op.rows[pages == k] for k in np.unique(pages)]
            state.parts = len(per_page)
            self.reporter.advance(state.n - len(op.rows), builder.count("invalid"))
            for rows in per_page:
                yield Part(op, builder, rows, done=functools.partial(self._done, number))
            if not per_page:  # every record held back by the preparation
                self._upserted(number, builder)
        yield from self._unsubscribes()

    def _plan(self, frame: pd.DataFrame) -> tuple[ResultBuilder, Operation]:
        """The upsert of one chunk's records (`frame`: the external id, then each
        destination's converted values)."""
        options = self.options
        _, builder, op = plan_upsert(
            frame,
            {column: column for column in frame.columns},
            mode="sync",
            batch_size=options.batch_size,
            dry_run=self.dry_run,
            nulls="omit",
            default_region=options.default_region,
            exclude=(),
            duplicates="reject",
            # A record whose email or phone Spotzee would refuse is a row to fix in
            # Salesforce (named by its field), not a user silently created without it.
            invalid_fields="reject",
            big_ints="invalid",
        )
        return builder, op

    def _warm(self) -> None:
        """What the first chunk would otherwise wait for, done while Salesforce answers
        the query (its first page takes longest): the first look-up of existing users,
        and a first plan, whose one-off set-up costs five times a warm one."""
        assert self.client is not None
        prefix = external_id_prefix(self.options.integration, self.plan.obj)
        self.existing = ExistingUsers(self.client, prefix)
        self.existing.start()
        destinations = [m.destination for m in self.plan.mappings]
        columns = dict.fromkeys(["external_id", *destinations, self.plan.opt_out])
        columns.pop(None, None)
        self._plan(pd.DataFrame({c: pd.Series([], dtype=object) for c in columns}))

    def _unsubscribes(self) -> Iterator[Part]:
        while self.unsubscribes:
            yield self.unsubscribes.popleft()

    def run(self, chunks: Iterator[list[Converted]]) -> None:
        parts = self.parts(chunks)
        try:
            self._run(parts)
            if self.pull_failure is not None:  # raised once what came before it is sent
                raise self.pull_failure
        except KeyboardInterrupt as exc:
            self.stop("interrupted")
            raise Interrupted(
                f"sync of {self.plan.obj} interrupted; records without an outcome are "
                "'interrupted'",
                result=None,
            ) from exc
        except BaseException:
            self.stop("failed")
            raise

    def _run(self, parts: Iterator[Part]) -> None:
        if self.dry_run:  # nothing to wait for
            for part in parts:
                assert part.done is not None and self.reporter is not None
                done, part.done = part.done, None
                done(part)
                self.reporter.advance(part.size)
            return
        assert self.client is not None
        if self.plan.opt_out is not None and self.options.subscription_id is not None:
            check_subscription(self.options.subscription_id, self.client)  # before any send
        self._warm()
        first = next(parts, None)  # the reporter exists once a chunk has been read
        if first is None:
            return
        assert self.reporter is not None
        drive(itertools.chain([first], parts), self.client, self.reporter)
        while self.unsubscribes:  # those of the chunks that settled after the last was sent
            drive(self._unsubscribes(), self.client, self.reporter)

    def _done(self, number: int, part: Part) -> None:
        """One page of chunk `number` has every outcome."""
        state = self.open[number]
        state.parts -= 1
        if not state.parts:  # and the chunk's other pages too
            self._upserted(number, part.builder)

    def _upserted(self, number: int, builder: ResultBuilder) -> None:
        """Chunk `number`'s upsert has every outcome: its unsubscribes follow, if any."""
        state = self.open[number]
        state.record(result_frame(builder, "upsert"))
        if self.existing is not None:
            self.existing.add(state.imported())
        targets = state.opt_outs(self.options) if self.plan.opt_out is not None else []
        if not targets:
            self._settled(number)
            return
        assert self.options.subscription_id is not None
        ids = pd.DataFrame({"external_id": [state.ready.ext_ids[i] for i in targets]})
        builder, op, _ = plan_set_subscription(
            ids, self.options.subscription_id, state=0, batch_size=self.options.batch_size
        )
        self.unsubscribing[number] = (targets, builder)
        done = functools.partial(self._unsubscribed, number)
        self.unsubscribes.append(Part(op, builder, op.rows, done=done, counted=False))

    def _unsubscribed(self, number: int, part: Part) -> None:
        targets, builder = self.unsubscribing.pop(number)
        result = result_frame(builder, "set_subscription")
        assert self.options.subscription_id is not None
        self.open[number].unsubscribed_by(targets, result, self.options.subscription_id)
        self._settled(number)

    def _settled(self, number: int) -> None:
        """Chunk `number` is finished: into the result once those before it are."""
        self.order.done(number, self.open.pop(number))

    def stop(self, unplanned: str) -> None:
        """After a stop, every chunk read so far into the result: what its upsert settled,
        `interrupted` where no outcome is known (`unplanned` where none was planned)."""
        sid = self.options.subscription_id
        for number in sorted(self.open):
            state = self.open[number]
            if number in self.unsubscribing:  # what was unsubscribed, the rest not
                targets, builder = self.unsubscribing.pop(number)
                assert sid is not None
                state.unsubscribed_by(targets, result_frame(builder, "set_subscription"), sid)
            elif not state.recorded:
                if state.builder is not None:
                    state.record(result_frame(state.builder, "upsert"))
                    if self.plan.opt_out is not None and sid is not None:
                        state.unsubscribed_by(state.opt_outs(self.options), None, sid)
                else:
                    state.status[state.send] = unplanned
            self._settled(number)

    def close(self) -> None:
        if self.reporter is not None:
            self.reporter.close()
        if self.existing is not None:
            self.outcome.lookups = self.existing.requests


def _objects(values: pd.Series) -> np.ndarray:
    """A column's values as Python objects, None where missing."""
    out = values.astype(object).to_numpy(copy=True)
    out[pd.isna(values).to_numpy()] = None
    return out


def new_run_id() -> str:
    return "run_" + uuid.uuid4().hex[:12]


def started_entry(
    run_id: str, since: dict[str, str | None], modes: dict[str, str]
) -> dict[str, Any]:
    return {
        "at": iso_now(),
        "event": "sync_started",
        "run_id": run_id,
        "message": ", ".join(f"{obj}: {mode}" for obj, mode in modes.items()),
        "details": {"since": since, "modes": modes},
    }
