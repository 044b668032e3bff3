"""Subscriptions: which exist (`subscriptions`), who is in which (`user_subscriptions`),
and changing them from a frame (`set_subscription`, e.g. an unsubscribe list).

`set_subscription` is frame → users by `external_id` (the upsert rules and id
normalisation) and a state per row → rows held back as invalid or duplicate → the runner:
`POST /subscriptions/batch` (≤ 100 per call, keyed by its body, a result per item). A
server without that route (a plain 404/405, as on Parcelvoy) gets the same changes as
one `PATCH /users/{external_id}/subscriptions` per user instead — the runner's fallback —
and the same result frame.

States: `0` / `"unsubscribed"` / `False`, `1` / `"subscribed"` / `True`, `2` /
`"opted_in"` (double opt-in). A boolean answers "subscribed?": True subscribes, False
unsubscribes; it never means opted in.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import numpy as np
import pandas as pd

from ._batching import check_batch_size, encode_body, idempotency_key
from ._client import Call, resolve_client
from ._encoding import exact_id
from ._errors import NotFoundError, SpotzeeError, ValidationError, route_missing
from ._listing import (
    CHANNELS,
    _check_id,
    _columns,
    _filters,
    _list,
    _to_category,
    _typed_frame,
    to_int,
)
from ._normalize import _via_objects, normalize_id
from ._prepare import (
    CODE_INVALID,
    CODE_NO_ID,
    DUPLICATE_POLICIES,
    DuplicatePolicy,
    check_choice,
    combine_problems,
    duplicate_problems,
    external_ids,
)
from ._progress import ProgressLike, check_progress
from ._results import ResultBuilder
from ._runner import (
    Operation,
    Outcome,
    Planned,
    assign_batches,
    full_batches,
    one_per_row,
    record_batch,
    record_items,
    record_one,
    result_frame,
    run,
)

if TYPE_CHECKING:
    from ._client import Client

__all__ = [
    "STATE_NAMES",
    "STATUSES",
    "set_subscription",
    "subscriptions",
    "user_subscriptions",
]

logger = logging.getLogger("spotzee_frames")

#: State numbers as the API has them, by name.
STATE_NAMES: tuple[str, ...] = ("unsubscribed", "subscribed", "opted_in")
STATUSES: tuple[str, ...] = (
    "updated",  # the server applied the state (or already had it: the same again is a no-op)
    "valid",  # dry run: the row would be sent
    "invalid",  # not sent: no usable external_id or state, or a conflicting duplicate
    "skipped",  # not sent: an identical row for the same user is sent instead
    "rejected",  # the server refused this row (unknown user or subscription…)
    "failed",  # no outcome known after retries: sending the failed rows again is safe
    "interrupted",  # the run was stopped first: sending the same rows again is safe
)
KEY_PREFIX = "sfs"
_BATCH_PATH = "/subscriptions/batch"

SUBSCRIPTION_COLUMNS = _columns(
    "id:int project_id:int name:str channel:category is_public:bool "
    "created_at:time updated_at:time",
    channel=CHANNELS,
)


# -- reading -------------------------------------------------------------------------------


def subscriptions(client: Client | None = None, **filters: Any) -> pd.DataFrame:
    """Every subscription (channel a user can be subscribed to) as a typed frame:
    `id`, `project_id`, `name`, `channel` (categorical), `is_public`, `created_at`,
    `updated_at`. `filters` are query parameters (`channel=`, `q=`, …)."""
    return _typed_frame(_list("/subscriptions", _filters(filters), client), SUBSCRIPTION_COLUMNS)


def _ids_of(users: Any) -> list[str]:
    if isinstance(users, pd.DataFrame):
        if "external_id" not in users.columns:
            raise ValidationError(
                "user_subscriptions takes a list of external ids, or a frame with an "
                f"'external_id' column; columns are {list(users.columns)!r}"
            )
        users = users["external_id"]
    if isinstance(users, str) or not isinstance(users, Iterable):
        raise ValidationError(
            f"users must be a list of external ids (or a frame of them), not {users!r}"
        )
    values = pd.Series(list(users), dtype=object)
    ids = normalize_id(values, "external_id")
    if ids.messages:
        raise ValidationError("; ".join(list(ids.messages.values())[:3]))
    return list(dict.fromkeys(v for v in ids.values.tolist() if v is not None))


def _state_category(values: pd.Series) -> pd.Series:
    names = values.map(
        lambda v: STATE_NAMES[v] if isinstance(v, int) and 0 <= v < 3 else v, na_action="ignore"
    )
    return _to_category(names, STATE_NAMES)


def user_subscriptions(
    users: Sequence[str | int] | pd.Series | pd.DataFrame,
    *,
    errors: Literal["raise", "ignore"] = "raise",
    client: Client | None = None,
) -> pd.DataFrame:
    """One row per user and subscription: `external_id`, `subscription_id`, `name`,
    `channel` and `state` (categorical `unsubscribed`, `subscribed`, `opted_in`).

    `users` is a list of external ids or a frame with an `external_id` column (rows
    repeating an id count once). An id Spotzee does not know raises `NotFoundError`
    naming it (after every user was looked up); `errors="ignore"` leaves such users out.
    """
    check_choice("errors", errors, ("raise", "ignore"))
    ids = _ids_of(users)
    api = resolve_client(client)
    paths = [f"/users/{quote(i, safe='')}/subscriptions" for i in ids]
    pages: dict[int, Any] = {}
    unknown: list[str] = []
    for at, outcome in api.stream(Call("GET", p, params={"limit": 100}) for p in paths):
        if isinstance(outcome, NotFoundError) and not route_missing(outcome):
            unknown.append(ids[at])
        elif isinstance(outcome, SpotzeeError):
            raise outcome
        else:
            pages[at] = outcome.data
    if unknown and errors == "raise":
        more = f" (and {len(unknown) - 5:,} more)" if len(unknown) > 5 else ""
        raise NotFoundError(
            f"no user with external_id {', '.join(map(repr, unknown[:5]))}{more} in this "
            "project; pass errors='ignore' to leave unknown users out",
            status_code=404,
            code="resource_missing",
        )
    records: list[dict[str, Any]] = []
    for at in sorted(pages):
        data = pages[at]
        results = data.get("results") if isinstance(data, dict) else data
        rows = [r for r in results or [] if isinstance(r, dict)]
        cursor = data.get("nextCursor") if isinstance(data, dict) else None
        if cursor and rows:
            rows.extend(api.paginate(paths[at], {"cursor": cursor}))
        records.extend({"external_id": ids[at], **r} for r in rows if isinstance(r, dict))
    frame = _typed_frame(
        records,
        _columns(
            "external_id:str subscription_id:int name:str channel:category state:object",
            channel=CHANNELS,
        ),
    )
    frame["state"] = _state_category(to_int(frame["state"]).astype(object))
    return frame


# -- states ----------------------------------------------------------------------------------


def _state_value(value: Any) -> tuple[str | None, str | None]:
    """The state's name from a name, a number or a boolean; (None, why) otherwise."""
    if isinstance(value, bool | np.bool_):
        return STATE_NAMES[1 if value else 0], None
    if isinstance(value, str):
        text = value.strip().lower().replace("-", "_").replace(" ", "_")
        if text in STATE_NAMES:
            return text, None
        if text in ("0", "1", "2"):
            return STATE_NAMES[int(text)], None
        if text in ("true", "false"):  # a boolean as a CSV file writes it
            return STATE_NAMES[text == "true"], None
        if not text:
            return None, None
    elif isinstance(value, int | np.integer | float | np.floating) and value in (0, 1, 2):
        return STATE_NAMES[int(value)], None
    return None, (
        f"{value!r} is not a subscription state: use 'unsubscribed' / 0 / False, "
        "'subscribed' / 1 / True or 'opted_in' / 2"
    )


def _number(name: str) -> int:
    return STATE_NAMES.index(name)


def _states(
    frame: pd.DataFrame, state: Any, state_column: Hashable | None
) -> tuple[np.ndarray, dict[int, str], np.ndarray]:
    """(state name per row, {position: why} for bad ones, rows without a state)."""
    n = len(frame)
    if (state is None) == (state_column is None):
        raise ValidationError(
            "give the state as state='unsubscribed' (one for every row) or the column of "
            "per-row states as state_column='…' — one of the two"
        )
    if state_column is None:
        value, why = _state_value(state)
        if value is None:
            raise ValidationError(why or f"state must not be empty, got {state!r}")
        return np.full(n, value, dtype=object), {}, np.zeros(n, dtype=bool)
    if state_column not in frame.columns:
        raise ValidationError(
            f"state_column={state_column!r} is not a column of the frame; columns are "
            f"{list(frame.columns)!r}"
        )
    values = frame[state_column]
    if isinstance(values, pd.DataFrame):
        raise ValidationError(f"the frame has several columns labelled {state_column!r}")
    result = _via_objects(values.astype(object), "state", state_column, _state_value)
    return np.asarray(result.values, dtype=object), result.messages, result.missing


# -- changing them ---------------------------------------------------------------------------


def _subscription_item(item: dict[str, Any]) -> tuple[str, Any]:
    error = item.get("error")
    if error:
        return "error", error if isinstance(error, dict) else {"message": error}
    return "ok", item


def _fallback(
    sendable: np.ndarray, external_id: np.ndarray, states: np.ndarray, subscription_id: int
) -> Operation:
    """One `PATCH /users/{external_id}/subscriptions` per user, for servers without the
    bulk route."""

    def call_for(row: int) -> Call:
        path = f"/users/{quote(external_id[row], safe='')}/subscriptions"
        body = encode_body([{"subscription_id": subscription_id, "state": _number(states[row])}])
        key = idempotency_key("PATCH", path, body, prefix=KEY_PREFIX)
        return Call("PATCH", path, content=body, idempotency_key=key)

    def plan(rows: np.ndarray) -> Iterator[Planned]:
        logger.info(
            "this server has no POST %s: sending one PATCH /users/{id}/subscriptions per user",
            _BATCH_PATH,
        )
        return one_per_row(rows, call_for)

    def record(builder: ResultBuilder, planned: Planned, outcome: Outcome) -> None:
        record_one(builder, planned.rows, outcome, ok_status="updated")

    return Operation(
        name="set_subscription",
        desc=f"set subscription {subscription_id}",
        rows=sendable,
        plan=plan,
        record=record,
        success=frozenset({"updated"}),
    )


def _operation(
    sendable: np.ndarray,
    external_id: np.ndarray,
    states: np.ndarray,
    subscription_id: int,
    batch_size: int,
) -> Operation:
    items = [
        {
            "external_id": external_id[p],
            "subscription_id": subscription_id,
            "state": _number(states[p]),
        }
        for p in sendable.tolist()
    ]

    def plan(rows: np.ndarray) -> Iterator[Planned]:
        return full_batches(
            rows,
            sendable,
            lambda start, stop: encode_body(items[start:stop]),
            lambda at: encode_body([items[i] for i in at.tolist()]),
            method="POST",
            path=_BATCH_PATH,
            batch_size=batch_size,
            prefix=KEY_PREFIX,
        )

    def record(builder: ResultBuilder, planned: Planned, outcome: Outcome) -> None:
        def read(builder: ResultBuilder, rows: np.ndarray, data: Any) -> None:
            record_items(
                builder,
                rows,
                data,
                external_id[rows],
                route=f"POST {_BATCH_PATH}",
                ok_status="updated",
                read_item=_subscription_item,
            )

        record_batch(builder, planned.rows, outcome, read=read)

    return Operation(
        name="set_subscription",
        desc=f"set subscription {subscription_id}",
        rows=sendable,
        plan=plan,
        record=record,
        success=frozenset({"updated"}),
        fallback=_fallback(sendable, external_id, states, subscription_id),
    )


def check_subscription(subscription_id: int, client: Client) -> None:
    """Refuse an unknown subscription before anything is sent. A server without the
    look-up route is not asked again: the changes then say per row."""
    try:
        client.request("GET", f"/subscriptions/{subscription_id}")
    except NotFoundError as exc:
        if route_missing(exc):
            return
        raise NotFoundError(
            f"subscription {subscription_id} does not exist in this project "
            "(spotzee_frames.subscriptions() lists them). Nothing was sent.",
            status_code=exc.status_code,
            code=exc.code,
            request_id=exc.request_id,
            method=exc.method,
            path=exc.path,
        ) from None


def set_subscription(
    frame: pd.DataFrame,
    subscription_id: int,
    *,
    state: str | int | bool | None = None,
    state_column: Hashable | None = None,
    mapping: Mapping[Hashable, str | None] | None = None,
    duplicates: DuplicatePolicy = "reject",
    dry_run: bool = False,
    batch_size: int = 100,
    progress: ProgressLike = None,
    client: Client | None = None,
) -> pd.DataFrame:
    """Set each row's user's state for subscription `subscription_id`.

    Parameters
    ----------
    frame
        One user per row, named by the `external_id` column (or `mapping=`).
    subscription_id
        The subscription (`spotzee_frames.subscriptions()` lists them); an unknown one
        raises `NotFoundError` before anything is sent.
    state
        One state for every row: `"unsubscribed"` / `0` / `False`, `"subscribed"` / `1`
        / `True`, or `"opted_in"` / `2` (double opt-in). Booleans answer "subscribed?":
        True subscribes, False unsubscribes. Or:
    state_column
        The column of per-row states, in any of those spellings (names in any case, the
        digits as text, `"true"`/`"false"` as the booleans; a row whose state is missing
        or unknown is `invalid`).
    mapping
        `{column: "external_id"}` when the ids are in a column of another name.
    duplicates
        Rows for the same user: as in `upsert` (identical rows are sent once, the copies
        `skipped`; conflicting states are all `invalid` unless `"first"`/`"last"`).
    dry_run
        Check and build every change, send nothing (and look nothing up); rows are
        `valid` or `invalid`.
    batch_size
        Changes per `POST /subscriptions/batch`, 1 to 100.
    progress, client
        As in `upsert`.

    Returns
    -------
    DataFrame
        Indexed exactly like `frame`: `status` (`updated`, `valid`, `invalid`,
        `skipped`, `rejected` — e.g. a user Spotzee does not know —, `failed`,
        `interrupted`), `error_code`, `error_field`, `error_message`, `external_id`,
        `batch`, `attempts`, `request_id`, `replayed`, and `state` (the state set, by
        name). On a server without `POST /subscriptions/batch` the same changes go as one
        `PATCH /users/{external_id}/subscriptions` per user, with the same result (and
        no `batch`).
    """
    check_progress(progress)
    builder, op, sid = plan_set_subscription(
        frame,
        subscription_id,
        state=state,
        state_column=state_column,
        mapping=mapping,
        duplicates=duplicates,
        dry_run=dry_run,
        batch_size=batch_size,
    )
    if dry_run or not len(op.rows):
        return result_frame(builder, "set_subscription")
    api = resolve_client(client)
    check_subscription(sid, api)
    return run(op, builder, api, progress=progress)


def plan_set_subscription(
    frame: pd.DataFrame,
    subscription_id: int,
    *,
    state: str | int | bool | None = None,
    state_column: Hashable | None = None,
    mapping: Mapping[Hashable, str | None] | None = None,
    duplicates: DuplicatePolicy = "reject",
    dry_run: bool = False,
    batch_size: int = 100,
) -> tuple[ResultBuilder, Operation, int]:
    """`set_subscription`'s checks and plan, nothing sent: the result builder (every
    row held back already filled in), the operation for the runner, and the checked
    subscription id."""
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    if not isinstance(dry_run, bool):
        raise ValidationError(f"dry_run must be True or False, not {dry_run!r}")
    sid = exact_id(_check_id(subscription_id, "subscription_id"), "subscription_id")
    check_choice("duplicates", duplicates, DUPLICATE_POLICIES)
    check_batch_size(batch_size)
    states, state_problems, no_state = _states(frame, state, state_column)
    external_id, id_sources = external_ids(frame, mapping, purpose="whose subscription to set")
    n = len(frame)
    sources = [
        *id_sources,
        ("state", CODE_NO_ID, dict.fromkeys(np.flatnonzero(no_state).tolist(), "no state")),
        ("state", CODE_INVALID, state_problems),
    ]
    bad, problem = combine_problems(n, sources)
    candidates = np.flatnonzero(~bad)
    dropped, dup_problems = duplicate_problems(
        candidates,
        external_id,
        "external_id",
        duplicates,
        frame.index,
        lambda p: {"external_id": external_id[p], "state": states[p]},
    )
    sendable = np.array([p for p in candidates.tolist() if not dropped[p]], dtype=np.int64)
    builder = ResultBuilder(
        frame.index,
        statuses=STATUSES,
        initial="valid" if dry_run else "interrupted",
        extra={"replayed": "boolean", "state": "string"},
    )
    builder.set_text("external_id", slice(None), external_id)
    builder.set_extra("state", slice(None), states)
    builder.set_problems([*([problem] if problem is not None else []), *dup_problems])
    assign_batches(builder, sendable, batch_size)
    op = _operation(sendable, external_id, states, sid, batch_size)
    return builder, op, sid
