"""One sync run: pull → convert → upsert → classify → unsubscribe → log, per object.

Pages are pulled on a background thread while the previous ones are sent, and sent in
chunks of whatever has arrived (at least a page, at most `_CHUNK_MAX` records), so the
Salesforce pull hides behind the Spotzee send. Every chunk goes through the toolkit's own
`upsert(mode="sync")`: batching, content-derived idempotency keys, retries, pacing and
normalisation are the upsert's. A re-run after a failure pulls the same records in the
same order and so sends the same batches, which Spotzee replays instead of applying twice.

A run is successful when no record is `failed` or `interrupted` and nothing stopped it;
only then do the watermarks move (records `invalid` or `rejected` have a final answer: a
fix in Salesforce modifies the record, which brings it back).
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from .._errors import APIError, Interrupted, SpotzeeError
from .._progress import ProgressLike, make_reporter
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
# Each chunk is one upsert call, whose start and end cost a little pace; a chunk takes
# whatever has been pulled meanwhile, up to this many records.
_CHUNK_MAX: Final = 40_000
_PREFETCH: Final = 8
#: Warnings kept per run in the log (the result frame has them all).
MAX_LOGGED_WARNINGS: Final = 1000
CODE_ALREADY_SYNCED: Final = "already_synced"
CODE_DUPLICATE: Final = "duplicate_record"
CODE_OPT_OUT: Final = "unsubscribe_failed"


class Rows:
    """The result frame, collected a chunk at a time."""

    def __init__(self) -> None:
        self._cols: dict[str, list[Any]] = {name: [] for name in RESULT_COLUMNS}

    def __len__(self) -> int:
        return len(self._cols["status"])

    def add(self, **columns: Any) -> None:
        n = len(columns["salesforce_id"])
        for name in RESULT_COLUMNS:
            values = columns.get(name)
            if values is None:
                self._cols[name].extend([None] * n)
            elif isinstance(values, str):
                self._cols[name].extend([values] * n)
            else:
                self._cols[name].extend(list(values))

    def statuses(self) -> Counter[str]:
        return Counter(self._cols["status"])

    def to_frame(self, objects: list[str]) -> pd.DataFrame:
        c = self._cols
        frame = pd.DataFrame(
            {
                "object": pd.Categorical(c["object"], categories=objects),
                "salesforce_id": pd.array(c["salesforce_id"], dtype="string"),
                "external_id": pd.array(c["external_id"], dtype="string"),
                "status": pd.Categorical(c["status"], categories=list(STATUSES)),
                **{
                    name: pd.array(c[name], dtype="string")
                    for name in ("error_code", "error_field", "error_message", "warnings")
                },
                "last_modified": pd.to_datetime(
                    pd.Series(c["last_modified"], dtype=object), utc=True, format="ISO8601"
                ).astype("datetime64[ns, UTC]"),
                "unsubscribed": pd.array(c["unsubscribed"], dtype="boolean"),
                "user_id": pd.array(c["user_id"], dtype="Int64"),
                "attempts": pd.array(c["attempts"], dtype="Int64"),
                "request_id": pd.array(c["request_id"], dtype="string"),
            }
        )
        return frame


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
    from .._upsert import upsert

    obj = plan.obj
    prefix = external_id_prefix(options.integration, obj)
    pulled = source.pages(obj, plan.fields, selection)
    pages = _Prefetch(convert_page(plan, page, options.integration) for page in pulled)
    existing: ExistingUsers | None = None
    reporter = None
    in_run: set[str] = set()
    try:
        for chunk in _chunks(pages):
            ready = _merge(chunk)
            total = ready.page.total
            if reporter is None:
                reporter = make_reporter(options.progress, desc=f"salesforce {obj}", total=total)
            if existing is None and client is not None and not options.dry_run:
                existing = ExistingUsers(client, prefix, total)
            bad = _send_chunk(
                plan, ready, client, existing, seen_before, in_run, rows, outcome, options, upsert
            )
            reporter.advance(done=len(ready), failed=bad)
    finally:
        pages.close()
        if reporter is not None:
            reporter.close()
        if existing is not None:
            outcome.lookups = existing.requests


def _send_chunk(
    plan: ObjectPlan,
    ready: Converted,
    client: Client | None,
    existing: ExistingUsers | None,
    seen_before: dict[str, str],
    in_run: set[str],
    rows: Rows,
    outcome: ObjectOutcome,
    options: RunOptions,
    upsert: Any,
) -> int:
    obj = plan.obj
    page = ready.page
    n = len(page)
    outcome.pulled += n
    ext_ids = ready.ext_ids
    # Records the overlapping window brings back unchanged, or a record twice in one pull.
    held = np.zeros(n, dtype=bool)
    codes = np.full(n, None, dtype=object)
    messages = np.full(n, None, dtype=object)
    for i, (record_id, modified) in enumerate(zip(page.ids, page.modified, strict=True)):
        if record_id in in_run:
            held[i] = True
            codes[i] = CODE_DUPLICATE
            messages[i] = "the record came twice in one pull; it was sent once"
        elif modified is not None and seen_before.get(record_id) == modified:
            held[i] = True
            codes[i] = CODE_ALREADY_SYNCED
            messages[i] = (
                f"already synced by the previous run (LastModifiedDate {modified} unchanged); "
                "not sent again"
            )
        in_run.add(record_id)
    warnings = ready.warnings
    for i, messages_of in sorted(warnings.items()):
        for message in messages_of:
            if not held[i] and len(outcome.warnings) < MAX_LOGGED_WARNINGS:
                outcome.warnings.append(
                    {"object": obj, "salesforce_id": page.ids[i], "warning": message}
                )
    opted = ready.opted
    frame = pd.DataFrame({"external_id": ext_ids, **ready.data})
    send = np.flatnonzero(~held)
    targets = {column: column for column in frame.columns}
    status = np.full(n, "skipped", dtype=object)
    fields = np.full(n, None, dtype=object)
    user_ids = np.full(n, None, dtype=object)
    attempts = np.full(n, None, dtype=object)
    request_ids = np.full(n, None, dtype=object)
    unsubscribed = np.full(n, None, dtype=object)
    warn_text = np.array(["; ".join(warnings[i]) if i in warnings else None for i in range(n)])

    def record(result: pd.DataFrame, already: set[str]) -> None:
        at = send
        got = result["status"].astype(str).to_numpy()
        status[at] = [
            ("updated" if ext_ids[i] in already else "imported") if s == "upserted" else s
            for i, s in zip(at, got, strict=True)
        ]
        codes[at] = _objects(result["error_code"])
        messages[at] = _objects(result["error_message"])
        # Name the Salesforce field behind a refused value: that is what gets fixed.
        fields[at] = [
            None if f is None else plan.source_of(f) or plan.source_of(f"data.{f}") or f
            for f in _objects(result["error_field"])
        ]
        for name, target in (
            ("user_id", user_ids),
            ("attempts", attempts),
            ("request_id", request_ids),
        ):
            if name in result.columns:
                target[at] = _objects(result[name])

    def finish() -> int:
        rows.add(
            object=obj,
            salesforce_id=page.ids,
            external_id=ext_ids,
            status=status,
            error_code=codes,
            error_field=fields,
            error_message=messages,
            warnings=warn_text,
            last_modified=page.modified,
            unsubscribed=unsubscribed,
            user_id=user_ids,
            attempts=attempts,
            request_id=request_ids,
        )
        counts = Counter(status.tolist())
        outcome.counts.update(counts)
        for i in range(n):
            if status[i] in ("imported", "updated", "invalid", "rejected", "skipped"):
                outcome.done[page.ids[i]] = page.modified[i]
            if status[i] in ("invalid", "rejected", "failed") and codes[i]:
                outcome.errors[f"{status[i]} {codes[i]}: {messages[i]}"] += 1
        return sum(counts[s] for s in ("invalid", "rejected", "failed", "interrupted"))

    if len(send) == 0:
        return finish()
    already: set[str] = set()
    part = frame.iloc[send].reset_index(drop=True)
    try:
        if existing is not None:
            already = existing.existing([ext_ids[i] for i in send])
        result = upsert(
            part,
            targets,
            mode="sync",
            # A record whose email or phone Spotzee would refuse is a row to fix in
            # Salesforce (named by its field), not a user silently created without it.
            invalid_fields="reject",
            dry_run=options.dry_run,
            default_region=options.default_region,
            batch_size=options.batch_size,
            progress=False,
            client=client,
        )
    except (Interrupted, APIError) as exc:
        partial = exc.result if isinstance(exc.result, pd.DataFrame) else None
        if partial is not None:
            record(partial, already)
        else:
            status[send] = "interrupted" if isinstance(exc, Interrupted) else "failed"
        finish()
        raise
    except SpotzeeError:
        status[send] = "failed"
        finish()
        raise
    record(result, already)
    if existing is not None:
        existing.add([ext_ids[i] for i in send if status[i] == "imported"])
    if plan.opt_out is not None:
        _unsubscribe(plan, opted, status, codes, messages, unsubscribed, ext_ids, client, options)
    return finish()


def _unsubscribe(
    plan: ObjectPlan,
    opted: list[bool | None],
    status: np.ndarray,
    codes: np.ndarray,
    messages: np.ndarray,
    unsubscribed: np.ndarray,
    ext_ids: list[str],
    client: Client | None,
    options: RunOptions,
) -> None:
    """Opt-out True ⇒ unsubscribe the user from the subscription; False ⇒ change nothing."""
    synced = np.isin(status, ("imported", "updated"))
    for i, flag in enumerate(opted):
        if synced[i] and flag is False:
            unsubscribed[i] = False
    if options.subscription_id is None or client is None or options.dry_run:
        return
    targets = [i for i, flag in enumerate(opted) if flag is True and synced[i]]
    if not targets:
        return
    from .._subscriptions import set_subscription

    frame = pd.DataFrame({"external_id": [ext_ids[i] for i in targets]})
    result = set_subscription(
        frame, options.subscription_id, state=0, client=client, progress=False
    )
    for i, state, code, message in zip(
        targets, result["status"], result["error_code"], result["error_message"], strict=True
    ):
        if state == "updated":
            unsubscribed[i] = True
            continue
        # No success known: sent again by the next run. Refused: a final answer.
        status[i] = "failed" if state in ("failed", "interrupted") else "rejected"
        codes[i] = CODE_OPT_OUT
        messages[i] = (
            f"the user was synced, but unsubscribing it from subscription "
            f"{options.subscription_id} failed ({code}): {message}"
        )


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
