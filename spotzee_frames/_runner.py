"""The one runner every sending operation goes through: rows → calls → result frame.

An operation (upsert, track, delete, set_subscription, a trigger) is an `Operation`: a
*description* of which calls carry which rows (`plan`: full batches of ≤ 100 with
content-derived keys, one row per call, URL-length-bounded groups of ids…) and of how one
call's answer becomes per-row statuses (`record`). `run` owns everything else, once:

- streaming the calls through `Client.stream` (concurrent, paced, retried, lazily built);
- progress (`make_reporter`: rows done and rows not successful);
- Ctrl-C: `Interrupted`, whose `.result` is the partial result frame;
- a key that stops working (401/403): raised as is, with `.result`;
- a route the server lacks (`_errors.route_missing`): one `MissingRouteError` naming the
  method, the path and the operation's `hint`, with `.result` — never rows marked `failed`
  and "safe to resend" that cannot succeed — unless the operation declares a `fallback`,
  which then sends every row that has no outcome yet;
- calls that ended without any outcome (`failed`, code `no_outcome`), and the result frame.

The ledger (`_ledger.py`, `ledger=` on the operations) goes through two seams here, so no
operation holds a copy of its logic: before sending, `Session.admit` decides which rows
go (and gives the ledger's statuses to those that do not) and which recorded calls are
sent again first, exactly; while sending, every call is recorded (`Session.sending`,
committed before the call is handed to the client: groups of `_RECORD_AHEAD` calls, one
commit each) and every outcome reported (`Session.settled`: the rows the server confirmed,
and whether the answer was a verdict). An `Operation` says how the ledger sees its rows
(`ledger`, a `LedgerSpec`).

Other seams: `run(op, …, rows=subset)` sends any ascending subset of `op.rows` (every plan
cuts its calls, full batches included, from the rows it is given), and
`on_settled(planned, confirmed)` is told after each call which of its rows got a
confirmed outcome. `drive` sends several `Part`s (an operation, its builder and rows:
the chunks of a source larger than memory) through one stream, so sending never pauses
between them. Engines (Spark, Dask) run the same operation once per partition: an
`Operation` holds no client and no shared state besides its rows, and nothing here is
global.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np
import pandas as pd

from ._batching import iter_batches
from ._client import Call, Client, Response
from ._errors import (
    APIError,
    AuthenticationError,
    Interrupted,
    MissingRouteError,
    PermissionDeniedError,
    SpotzeeError,
    is_transient,
    route_missing,
)
from ._ledger import LedgerSpec, Session, open_session
from ._progress import ProgressLike, Reporter, make_reporter
from ._results import STATUSES, ResultBuilder, refusal, text_or

if TYPE_CHECKING:
    from ._prepare import Prepared

__all__ = [
    "CODE_MISSING_RESULT",
    "CODE_NO_OUTCOME",
    "CODE_ROUTE_MISSING",
    "CODE_UNEXPECTED",
    "InOrder",
    "Operation",
    "Outcome",
    "Part",
    "Planned",
    "admit",
    "assign_batches",
    "batches_of",
    "drive",
    "full_batches",
    "is_failure",
    "look",
    "one_per_row",
    "prepared_builder",
    "record_batch",
    "record_error",
    "record_items",
    "record_one",
    "record_queued",
    "result_frame",
    "run",
    "send_prepared",
]

Outcome = Response | SpotzeeError

# Codes for outcomes the toolkit itself decides (the server's codes are passed through).
CODE_MISSING_RESULT = "missing_result"
CODE_UNEXPECTED = "unexpected_response"
CODE_NO_OUTCOME = "no_outcome"
CODE_ROUTE_MISSING = "route_missing"
_ITEM_PARAM = re.compile(r"^(?:items\.|\[)?(\d+)\]?(?:\.(.+))?$")
# With a ledger, calls are recorded this many at a time (one commit), ahead of the client.
_RECORD_AHEAD = 32

#: Where a result frame says which operation made it (read by `summary`).
OPERATION_ATTR = "spotzee_operation"
#: Where a result frame carries the preparation's notes (headers matched by name…).
NOTES_ATTR = "spotzee_notes"


@dataclass(frozen=True)
class Planned:
    """One call and the rows (positions in the input frame) its answer speaks for.

    `number` is the call's batch number for the result's `batch` column (None: the
    operation does not batch, and the column is left empty)."""

    rows: np.ndarray
    call: Call
    number: int | None = None


Record = Callable[[ResultBuilder, Planned, Outcome], None]


@dataclass(frozen=True)
class Operation:
    """What the runner needs to know about an operation.

    `rows` are the positions (in the input frame) of the rows to send, ascending.
    `plan(rows)` cuts any ascending subset of them into calls, lazily. `record` writes one
    call's outcome (a Response, or the SpotzeeError it ended with after retries) into
    the builder. `success` are the statuses that mean the server confirmed the row.
    `hint` completes the message of a `MissingRouteError`; `fallback`, when given, is the
    operation that sends the rows instead when the server lacks this one's route.
    `resend` says, in an `Interrupted` message, what is safe to do next. `ledger` says
    how a ledger sees the rows (None: the operation keeps none)."""

    name: str
    desc: str
    rows: np.ndarray
    plan: Callable[[np.ndarray], Iterable[Planned]]
    record: Record
    success: frozenset[str]
    hint: str = ""
    fallback: Operation | None = None
    drop_columns: tuple[str, ...] = ()
    resend: str = "sending them again is safe"
    ledger: LedgerSpec | None = None


@dataclass(eq=False)  # parts are told apart by identity (they hold arrays)
class Part:
    """Rows of one operation to send, with the builder their outcomes go to: the whole
    frame, or one chunk of a larger source. `resume` are recorded calls (from a ledger)
    sent first, exactly as they were. `done(part)` is told once every call of the part
    has an outcome. A part not `counted` is left out of the progress (a follow-up call
    for rows another part already counted)."""

    op: Operation
    builder: ResultBuilder
    rows: np.ndarray
    resume: Sequence[Planned] = ()
    done: Callable[[Part], Any] | None = None
    counted: bool = True

    @property
    def size(self) -> int:
        """Rows this part sends (the recorded calls' included)."""
        return len(self.rows) + sum(len(one.rows) for one in self.resume)


T = TypeVar("T")


class InOrder(Generic[T]):
    """Parts finish out of order; their results go on in order: item `number` is handed
    to `then` once every item numbered before it has been (numbers count from 0)."""

    def __init__(self, then: Callable[[T], Any]) -> None:
        self._then = then
        self._waiting: dict[int, T] = {}
        self.next = 0  # the number handed on next

    def done(self, number: int, item: T) -> None:
        self._waiting[number] = item
        while self.next in self._waiting:
            ready = self._waiting.pop(self.next)
            self.next += 1
            self._then(ready)

    @property
    def numbered(self) -> int:
        """How many numbers are taken: handed on, or waiting for one before them."""
        return self.next + len(self._waiting)


def admit(
    op: Operation,
    builder: ResultBuilder,
    rows: np.ndarray,
    journal: Session | None,
    *,
    only_changed: bool = False,
    done: Callable[[Part], Any] | None = None,
) -> Part:
    """The part that sends `rows` of `op`: all of them, or what the ledger lets through."""
    if journal is None:
        return Part(op, builder, rows, done=done)
    todo, resume = journal.admit(op, builder, rows, only_changed=only_changed)
    return Part(op, builder, todo, resume, done)


def result_frame(builder: ResultBuilder, name: str, drop: Sequence[str] = ()) -> pd.DataFrame:
    """The result frame of operation `name`, less the columns it does not use."""
    frame = builder.to_frame()
    if drop:
        frame = frame.drop(columns=list(drop))
    frame.attrs[OPERATION_ATTR] = name
    return frame


def run(
    op: Operation,
    builder: ResultBuilder,
    client: Client,
    *,
    progress: ProgressLike,
    rows: np.ndarray | None = None,
    on_settled: Callable[[Planned, np.ndarray], Any] | None = None,
    ledger: Path | None = None,
    only_changed: bool = False,
) -> pd.DataFrame:
    """Send `rows` (default: all of `op.rows`) as `op` describes; return the result frame.

    Rows start (and, if never reached, stay) `interrupted` in `builder`; see the module
    docstring for what stops a run and how. With `ledger` (a path, see `_ledger.py`), the
    ledger decides what goes and learns what the server confirmed; `only_changed` keeps
    back rows whose payload it holds confirmed."""
    todo = op.rows if rows is None else np.asarray(rows, dtype=np.int64)
    with contextlib.ExitStack() as stack:
        journal = stack.enter_context(open_session(ledger, client)) if ledger is not None else None
        part = admit(op, builder, todo, journal, only_changed=only_changed)
        reporter = make_reporter(progress, desc=op.desc, total=part.size)
        try:
            drive([part], client, reporter, journal=journal, on_settled=on_settled)
        except KeyboardInterrupt as exc:
            with contextlib.suppress(Exception, KeyboardInterrupt):  # already stopping
                reporter.close()
            waiting = int(np.count_nonzero(builder.is_status(todo, ("interrupted",))))
            raise Interrupted(
                f"{op.name} interrupted: {len(todo) - waiting:,} of {len(todo):,} rows have "
                f"an outcome, {waiting:,} are 'interrupted' (they may or may not have been "
                f"applied; {op.resend}). The partial result is in .result",
                result=result_frame(builder, op.name, op.drop_columns),
            ) from exc
        except (AuthenticationError, PermissionDeniedError, MissingRouteError) as exc:
            reporter.close()
            exc.result = result_frame(builder, op.name, op.drop_columns)  # what was done
            raise
        except BaseException:
            reporter.close()
            raise
        reporter.close()
    return result_frame(builder, op.name, op.drop_columns)


def look(
    op: Operation, builder: ResultBuilder, client: Client, *, ledger: Path, only_changed: bool
) -> None:
    """A dry run's reading of the ledger: the statuses it would give rows it keeps back
    (`unchanged`, `already_triggered`, `unconfirmed`), nothing written, no lock taken."""
    with open_session(ledger, client, write=False) as journal:
        journal.admit(op, builder, op.rows, only_changed=only_changed)


@dataclass(eq=False)
class _Open:
    """A part being sent: which of its rows have an outcome, and how many calls wait."""

    part: Part
    settled: np.ndarray
    waiting: int = 0
    planned_all: bool = False

    def unsettled(self) -> np.ndarray:
        """The part's rows (recorded calls' included) that have no outcome yet."""
        rows = np.unique(np.concatenate([self.part.rows, *(o.rows for o in self.part.resume)]))
        left: np.ndarray = rows[~self.settled[rows]]
        return left

    def finished(self) -> bool:
        """Whether every call of the part has an outcome; tells the part's `done` once."""
        if not self.planned_all or self.waiting:
            return False
        if self.part.done is not None:
            done, self.part.done = self.part.done, None
            done(self.part)
        return True


def drive(
    parts: Iterable[Part],
    client: Client,
    reporter: Reporter,
    *,
    journal: Session | None = None,
    on_settled: Callable[[Planned, np.ndarray], Any] | None = None,
) -> None:
    """Send every part through one stream, lazily: a part is taken (and may be built)
    only when the calls before it have been handed to the client. A part whose route is
    missing goes on through its operation's `fallback`, with every part after it."""
    source = iter(parts)
    while True:
        broken = _drive(source, client, reporter, journal, on_settled)
        if broken is None:
            return
        # The route is missing and the operation has a fallback: its rows without an
        # outcome, and every part after, go through the fallback instead.
        source = itertools.chain(
            (
                replace(p, op=p.op.fallback or p.op, rows=left, resume=())
                for p, left in broken
                if len(left)
            ),
            (replace(p, op=p.op.fallback) if p.op.fallback else p for p in source),
        )


def _drive(
    parts: Iterator[Part],
    client: Client,
    reporter: Reporter,
    journal: Session | None,
    on_settled: Callable[[Planned, np.ndarray], Any] | None,
) -> list[tuple[Part, np.ndarray]] | None:
    """Send the parts; None when done, or each open part with the rows its operation's
    fallback must send (the route is missing)."""
    planned: dict[int, tuple[_Open, Planned]] = {}
    opened: list[_Open] = []  # parts with calls still waiting for an outcome

    def _finish(state: _Open) -> None:
        if state.finished():
            opened.remove(state)

    recorded: list[list[Planned]] = []  # recorded, not yet all handed to the client

    def calls() -> Iterator[Call]:
        position = 0
        for part in parts:
            state = _Open(part, np.zeros(len(part.builder), dtype=bool))
            opened.append(state)
            for one in part.resume:  # recorded already: sent again as they are
                planned[position] = (state, one)
                state.waiting += 1
                position += 1
                yield one.call
            group = 1 if journal is None else _RECORD_AHEAD
            for chunk in _chunked(part.op.plan(part.rows), group):
                if journal is not None:
                    journal.sending(part.op, chunk)
                    recorded.append(chunk)
                while chunk:
                    one = chunk.pop(0)
                    planned[position] = (state, one)
                    state.waiting += 1
                    position += 1
                    yield one.call
                if recorded:
                    recorded.pop()
            state.planned_all = True
            _finish(state)
            del part, state  # a finished part is not kept while the next one is built

    stream = client.stream(calls())
    try:
        for position, outcome in stream:
            state, one = planned.pop(position)
            op, builder = state.part.op, state.part.builder
            builder.set_int("batch", one.rows, one.number)
            if isinstance(outcome, SpotzeeError) and route_missing(outcome):
                if journal is not None:  # nothing went through a route that is not there
                    journal.settled(one, one.rows[:0], verdict=True)
                if op.fallback is not None:
                    return [(s.part, s.unsettled()) for s in opened]
                raise _missing_route(op, builder, one, outcome)
            op.record(builder, one, outcome)
            state.settled[one.rows] = True
            ok = builder.is_status(one.rows, op.success)
            confirmed = one.rows[ok]
            if journal is not None:  # before progress, whose callback may stop the run
                verdict = isinstance(outcome, Response) or not is_failure(outcome)
                journal.settled(one, confirmed, verdict=verdict)
            if on_settled is not None:
                on_settled(one, confirmed)
            if state.part.counted:
                reporter.advance(len(one.rows), int(len(one.rows) - np.count_nonzero(ok)))
            state.waiting -= 1
            _finish(state)
        for state, one in planned.values():  # the client gave no outcome at all: say so
            state.part.builder.set_int("batch", one.rows, one.number)
            state.part.builder.set_error(
                one.rows,
                "failed",
                CODE_NO_OUTCOME,
                message="the request ended without an outcome; sending again is safe",
            )
            state.waiting -= 1
        planned.clear()
        for state in list(opened):
            _finish(state)
        return None
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # cancels what is still pending when we leave early
        if journal is not None:
            for chunk in recorded:
                journal.unsent(chunk)  # recorded, but never handed to the client
            journal.flush()


def _chunked(items: Iterable[Planned], size: int) -> Iterator[list[Planned]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _missing_route(
    op: Operation, builder: ResultBuilder, one: Planned, outcome: Outcome
) -> MissingRouteError:
    error = outcome if isinstance(outcome, APIError) else None
    method = (error.method if error else None) or one.call.method
    path = (error.path if error else None) or one.call.path
    status = getattr(outcome, "status_code", None)
    # The client's reading of a page that is not the envelope says more (what the server
    # allows there, a base_url hint on a first request): keep it.
    said = (
        error.message
        if error is not None and not error.enveloped
        else f"the server has no {method} {path} route (it answered {status} without the "
        "API's error body)"
    )
    message = f"{said}, so no row can be sent through it; nothing was applied by it" + (
        f". {op.hint}" if op.hint else ""
    )
    builder.set_error(one.rows, "interrupted", CODE_ROUTE_MISSING, message=message)
    return MissingRouteError(
        message,
        status_code=status or 404,
        code=CODE_ROUTE_MISSING,
        request_id=getattr(outcome, "request_id", None),
        attempts=getattr(outcome, "attempts", 1) or 1,
        enveloped=False,
        method=method,
        path=path,
    )


def prepared_builder(
    prepared: Prepared,
    *,
    extra: dict[str, str],
    statuses: Sequence[str] = STATUSES,
    dry_run: bool,
    include_payload: bool,
    batch_size: int,
) -> ResultBuilder:
    """The result builder of a batched operation over a `Prepared` (upsert, track):
    held-back rows filled in, batch numbers, the payloads when asked."""
    extra = {**extra, **({"payload": "object"} if include_payload else {})}
    builder = prepared.result_builder(
        sendable_status="valid" if dry_run else "interrupted", extra=extra, statuses=statuses
    )
    assign_batches(builder, prepared.sendable, batch_size)
    if include_payload:
        builder.set_extra("payload", prepared.sendable, prepared.payloads())
    return builder


def send_prepared(
    prepared: Prepared,
    operation: Callable[[], Operation],
    *,
    name: str,
    extra: dict[str, str],
    statuses: Sequence[str] = STATUSES,
    dry_run: bool,
    include_payload: bool,
    batch_size: int,
    client: Client | None,
    progress: ProgressLike,
    ledger: Path | None = None,
    only_changed: bool = False,
) -> pd.DataFrame:
    """A batched operation over a `Prepared` (upsert, track), from the result builder on:
    `prepared_builder`, the dry run (no client needed, unless a ledger is to be read),
    then `run`."""
    builder = prepared_builder(
        prepared,
        extra=extra,
        statuses=statuses,
        dry_run=dry_run,
        include_payload=include_payload,
        batch_size=batch_size,
    )
    if prepared.n_sendable == 0 or (dry_run and ledger is None):
        result = result_frame(builder, name)
    else:
        from ._client import resolve_client

        api = resolve_client(client)
        if dry_run:
            assert ledger is not None  # what the ledger would keep back
            look(operation(), builder, api, ledger=ledger, only_changed=only_changed)
            result = result_frame(builder, name)
        else:
            result = run(
                operation(),
                builder,
                api,
                progress=progress,
                ledger=ledger,
                only_changed=only_changed,
            )
    # which headers were matched by name, for `summary()` and the previews to show
    result.attrs[NOTES_ATTR] = list(prepared.notes)
    return result


# -- cutting rows into calls ---------------------------------------------------------------


def assign_batches(builder: ResultBuilder, rows: np.ndarray, batch_size: int) -> None:
    """Number the batches `rows` go in, full batches first (for dry runs and previews)."""
    n_batches = -(-len(rows) // batch_size)
    builder.set_int("batch", rows, np.repeat(np.arange(n_batches), batch_size)[: len(rows)])


def full_batches(
    rows: np.ndarray,
    sendable: np.ndarray,
    body: Callable[[int, int], bytes],
    body_at: Callable[[np.ndarray], bytes],
    *,
    method: str,
    path: str,
    batch_size: int,
    prefix: str,
) -> Iterator[Planned]:
    """Full batches of `rows` (an ascending subset of `sendable`), each keyed by its body.

    `body(start, stop)` writes the items `sendable[start:stop]`; `body_at(items)` the
    items at positions `items` of `sendable` (used when `rows` skips some). Only the
    body decides the key, so the same rows cut the same way replay on a re-run."""
    items = np.searchsorted(sendable, rows)
    whole = len(items) == len(sendable)

    def encode(start: int, stop: int) -> bytes:
        if whole:
            return body(start, stop)
        part = items[start:stop]
        if part[-1] - part[0] == stop - start - 1:  # contiguous after all
            return body(int(part[0]), int(part[-1]) + 1)
        return body_at(part)

    for batch in iter_batches(
        len(rows), encode, method=method, path=path, batch_size=batch_size, prefix=prefix
    ):
        yield Planned(rows[batch.start : batch.stop], batch.call(), batch.number)


def batches_of(
    prepared: Prepared, *, method: str, path: str, batch_size: int, prefix: str
) -> Callable[[np.ndarray], Iterator[Planned]]:
    """The plan of a batched operation over a `Prepared`: `full_batches` of its bodies."""
    sendable = prepared.sendable

    def plan(rows: np.ndarray) -> Iterator[Planned]:
        return full_batches(
            rows,
            sendable,
            prepared.body,
            prepared.body_at,
            method=method,
            path=path,
            batch_size=batch_size,
            prefix=prefix,
        )

    return plan


def one_per_row(
    rows: np.ndarray, call_for: Callable[[int], Call], *, numbered: bool = False
) -> Iterator[Planned]:
    """One call per row; `call_for(position)` builds it."""
    for number, row in enumerate(rows.tolist()):
        yield Planned(np.array([row], dtype=np.int64), call_for(row), number if numbered else None)


# -- reading answers -----------------------------------------------------------------------


def is_failure(error: SpotzeeError) -> bool:
    """Failed (worth re-running) rather than rejected (the server said no): network
    trouble or an unreadable answer after retries, an answer that may pass on its own, or
    one that is no verdict at all (a redirect)."""
    if not isinstance(error, APIError) or is_transient(error):
        return True
    return not 400 <= error.status_code < 500


def record_one(
    builder: ResultBuilder,
    rows: np.ndarray,
    outcome: Outcome,
    *,
    ok_status: str,
    message: Callable[[SpotzeeError], str] | None = None,
) -> None:
    """The outcome of a call for one row (or rows that share one call and one fate): a 2xx
    is `ok_status` unless its body says no (`rejected`); an error is `failed` when worth
    re-running (`is_failure`) and `rejected` when the server said no."""
    if isinstance(outcome, Response):
        said_no = refusal(outcome.data, default_code="unsuccessful")
        if said_no is not None:
            code, param, text = said_no
            builder.set_error(rows, "rejected", code, field=param, message=text)
        else:
            builder.set_status(rows, ok_status)
        if builder.has_extra("replayed"):
            builder.set_extra("replayed", rows, outcome.replayed)
        builder.set_sent(rows, attempts=outcome.attempts, request_id=outcome.request_id)
        return
    builder.set_error(
        rows,
        "failed" if is_failure(outcome) else "rejected",
        getattr(outcome, "code", None) or type(outcome).__name__,
        field=getattr(outcome, "param", None),
        message=message(outcome) if message else getattr(outcome, "message", None) or str(outcome),
    )
    builder.set_sent(
        rows,
        attempts=getattr(outcome, "attempts", None),
        request_id=getattr(outcome, "request_id", None),
    )


def record_batch(
    builder: ResultBuilder,
    rows: np.ndarray,
    outcome: Outcome,
    *,
    read: Callable[[ResultBuilder, np.ndarray, Any], None] | None = None,
) -> None:
    """The outcome of a batch call: an error through `record_error`; a 2xx whose body says
    no is `failed` for every row; any other 2xx is `queued` (the route is asynchronous)
    unless `read(builder, rows, data)` reads per-item results from it."""
    if isinstance(outcome, SpotzeeError):
        record_error(builder, rows, outcome)
        return
    builder.set_sent(rows, attempts=outcome.attempts, request_id=outcome.request_id)
    if builder.has_extra("replayed"):
        builder.set_extra("replayed", rows, bool(outcome.replayed))
    said_no = refusal(outcome.data, default_code=CODE_UNEXPECTED)
    if said_no is not None:  # a 2xx whose body says no: no success to report for any row
        code, param, message = said_no
        builder.set_error(rows, "failed", code, field=param, message=message)
    elif read is None:
        builder.set_status(rows, "queued")
        builder.clear_error(rows)
    else:
        read(builder, rows, outcome.data)


def record_queued(builder: ResultBuilder, planned: Planned, outcome: Outcome) -> None:
    """The `record` of an asynchronous batch route (a 2xx queues every row of the call)."""
    record_batch(builder, planned.rows, outcome)


def record_error(builder: ResultBuilder, rows: np.ndarray, exc: SpotzeeError) -> None:
    """A batch that ended in an error: every row `failed`, except that a request refused
    as invalid (400/422) naming the items at fault marks those `rejected` (the others
    were not applied, and are fine to resend once the bad rows are fixed). A 5xx or 429
    judged no item, whatever its body lists."""
    code = text_or(getattr(exc, "code", None), type(exc).__name__)
    message = text_or(getattr(exc, "message", None), str(exc))
    builder.set_sent(
        rows,
        attempts=getattr(exc, "attempts", None),
        request_id=text_or(getattr(exc, "request_id", None)),
    )
    status_code = getattr(exc, "status_code", None)
    builder.set_error(
        rows,
        "failed",
        code,
        field=text_or(getattr(exc, "param", None)),
        message=f"{status_code} {message}" if status_code else message,
    )
    if isinstance(exc, APIError) and exc.status_code in (400, 422):
        for item in exc.errors:
            if not isinstance(item, dict):
                continue
            match = _ITEM_PARAM.match(text_or(item.get("param"), "") or "")
            if not match or int(match.group(1)) >= len(rows):
                continue
            row = rows[int(match.group(1))]
            builder.set_error(
                [row],
                "rejected",
                text_or(item.get("code"), code),
                field=match.group(2),
                message=text_or(item.get("message"), message),
            )


ItemReader = Callable[[dict[str, Any]], tuple[str, Any]]


def _result_rows(results: list[Any], sent_ids: np.ndarray) -> list[int | None] | None:
    """The batch position each result speaks for (None: unusable), or None when the
    results cannot be matched to the items at all.

    By `index` (a digit string is read as a number). A server that leaves `index` out of
    every one of exactly n results is read in request order, as the contract says, unless
    the `external_id`s they carry say otherwise: then by those ids, when each names a
    different item of the batch."""
    n = len(sent_ids)
    if len(results) == n and not any(isinstance(r, dict) and "index" in r for r in results):
        echoed = [r.get("external_id") if isinstance(r, dict) else None for r in results]
        in_order = all(
            not isinstance(e, str) or sent is None or e == sent
            for e, sent in zip(echoed, sent_ids, strict=True)
        )
        if in_order:
            return list(range(n))
        where = {sent: i for i, sent in enumerate(sent_ids) if sent is not None}
        rows = [where.get(e) if isinstance(e, str) else None for e in echoed]
        if None in rows or len(set(rows)) != n:
            return None
        return list(rows)
    out: list[int | None] = []
    for r in results:
        index = r.get("index") if isinstance(r, dict) else None
        if isinstance(index, str) and index.isdigit():
            index = int(index)
        ok = isinstance(index, int) and not isinstance(index, bool) and 0 <= index < n
        out.append(index if ok else None)
    return out


def record_items(
    builder: ResultBuilder,
    rows: np.ndarray,
    data: Any,
    sent_ids: np.ndarray,
    *,
    route: str,
    ok_status: str,
    read_item: ItemReader,
    on_ok: Callable[[np.ndarray, list[Any]], None] | None = None,
) -> None:
    """Per-item results of a synchronous batch (`{"results": [{"index", …}]}`).

    `read_item(result)` gives `("ok", detail)`, `("error", {code, param, message})` or
    `("bad", why)`; ok items become `ok_status` and `on_ok(rows, details)` may record
    more about them. An item the answer says nothing (usable) about is `failed`."""
    results = data.get("results") if isinstance(data, dict) else None
    matched = _result_rows(results, sent_ids) if isinstance(results, list) else None
    if not isinstance(results, list) or matched is None:
        why = (
            f"the answer to {route} had no 'results' list"
            if not isinstance(results, list)
            else "the answer's results have no index and their external_ids do not match "
            "the items sent"
        )
        builder.set_error(rows, "failed", CODE_UNEXPECTED, message=why)
        return
    outcomes: dict[int, list[tuple[str, Any]]] = {}
    for item, at in zip(results, matched, strict=True):
        if at is not None and isinstance(item, dict):
            outcomes.setdefault(at, []).append(read_item(item))
    ok_at: list[int] = []
    details: list[Any] = []
    for at, found in sorted(outcomes.items()):
        kind, detail = found[0]
        if len({k for k, _ in found}) > 1:  # one item, contradictory results: no verdict
            kind, detail = "bad", "the answer holds contradictory results for this item"
        if kind == "ok":
            ok_at.append(at)
            details.append(detail)
        elif kind == "error":
            builder.set_error(
                [rows[at]],
                "rejected",
                text_or(detail.get("code"), "rejected"),
                field=text_or(detail.get("param")),
                message=text_or(detail.get("message"), text_or(detail)),
            )
        else:
            builder.set_error([rows[at]], "failed", CODE_UNEXPECTED, message=detail)
    if ok_at:
        at_rows = rows[np.asarray(ok_at, dtype=np.int64)]
        builder.set_status(at_rows, ok_status)
        builder.clear_error(at_rows)
        if on_ok is not None:
            on_ok(at_rows, details)
    seen = np.zeros(len(rows), dtype=bool)
    seen[list(outcomes)] = True
    if not seen.all():
        builder.set_error(
            rows[~seen],
            "failed",
            CODE_MISSING_RESULT,
            message="the answer had no result for this item; it may not have been applied, "
            "sending it again is safe",
        )
