"""`upsert`: a frame of contacts → Spotzee users, with one result row per input row.

The flow is frame → `prepare` (validate, normalise, encode) → an `Operation` for the runner
(full batches of sendable rows, exact bodies, content-derived idempotency keys; per-item
results read into statuses) → `run` (streamed, paced, retried; the result frame).
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ._batching import KEY_PREFIX, check_batch_size
from ._encoding import BIG_INT_POLICIES, NULL_POLICIES, BigIntPolicy, NullPolicy
from ._errors import ValidationError
from ._ledger import Ledger, LedgerSpec, check_ledger
from ._mapping import MappingSpec
from ._normalize import check_region
from ._prepare import (
    DUPLICATE_POLICIES,
    INVALID_FIELD_POLICIES,
    DuplicatePolicy,
    InvalidFieldPolicy,
    Prepared,
    check_choice,
    prepare,
)
from ._progress import ProgressLike, check_progress
from ._results import ResultBuilder
from ._runner import (
    NOTES_ATTR,
    Operation,
    Outcome,
    Planned,
    batches_of,
    prepared_builder,
    record_batch,
    record_items,
    send_prepared,
)

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["MODES", "Mode", "plan_upsert", "preview_payloads", "upsert"]

Mode = Literal["sync", "async"]
MODES: tuple[str, ...] = ("sync", "async")

_ENDPOINT = {"sync": ("POST", "/users/batch"), "async": ("PATCH", "/users")}
_EXTRA = {"user_id": "Int64", "replayed": "boolean"}


def _check_options(
    mode: Any,
    nulls: Any,
    duplicates: Any,
    invalid_fields: Any,
    batch_size: Any,
    default_region: Any,
    progress: Any,
    big_ints: Any,
) -> str | None:
    check_progress(progress)
    check_choice("mode", mode, MODES)
    check_choice("nulls", nulls, NULL_POLICIES)
    check_choice("big_ints", big_ints, BIG_INT_POLICIES)
    check_choice("duplicates", duplicates, DUPLICATE_POLICIES)
    check_choice("invalid_fields", invalid_fields, INVALID_FIELD_POLICIES)
    check_batch_size(batch_size)
    return check_region(default_region)


def upsert(
    frame: pd.DataFrame,
    mapping: MappingSpec | None = None,
    *,
    mode: Mode = "sync",
    nulls: NullPolicy = "omit",
    default_region: str | None = None,
    dry_run: bool = False,
    batch_size: int = 100,
    progress: ProgressLike = None,
    client: Client | None = None,
    exclude: Iterable[Hashable] | Hashable | None = (),
    duplicates: DuplicatePolicy = "reject",
    invalid_fields: InvalidFieldPolicy = "omit",
    include_payload: bool = False,
    big_ints: BigIntPolicy = "invalid",
    ledger: str | os.PathLike[str] | Ledger | None = None,
    only_changed: bool = False,
) -> pd.DataFrame:
    """Create or update one Spotzee user per row; return one result row per input row.

    Parameters
    ----------
    frame
        The contacts. Any index (duplicate labels included) and any column dtypes.
    mapping
        `{column: field}`, where a field is `external_id`, `anonymous_id`, `email`,
        `phone`, `timezone`, `locale` or `data.<key>` (`first_name`/`last_name` mean
        `data.first_name`/`data.last_name`), a list of fields (one column feeding
        several: `{"Email": ["external_id", "email"]}`), or None to leave the column
        out. Columns named like a first-class field map themselves (`E-mail`,
        `Phone Number`), and so do the conventional `data` keys (`First Name`, `fname`
        → `data.first_name`; `Surname` → `data.last_name`) where no column already
        gives them; every other column goes to `data.<column>` unless excluded. Unknown
        fields, unknown columns and two columns for one field raise `ValidationError`
        before anything is sent. An id from a numeric column (its leading zeros are
        gone) raises a `NumericIdWarning`.
    mode
        `"sync"`: `POST /users/batch`, a per-row outcome (`upserted` or `rejected`).
        `"async"`: `PATCH /users`, queued by Spotzee (`queued`; no per-row outcome).
    nulls
        `"omit"` (default): a missing value (None, NaN, NA, NaT) leaves the field out, so
        a partial frame never wipes data in Spotzee. `"clear"`: send `null`, which clears
        the field (identifiers are never sent as null).
    default_region
        Region for phone numbers written in national format, e.g. `"AU"`. A number's
        extension (`x88321`) is sent as `data.phone_extension` unless the frame gives
        that key itself.
    dry_run
        Validate and build every payload, send nothing; rows are `valid` or `invalid`.
    batch_size
        Items per request, 1 to 100. Batches are cut from the sendable rows only, so
        every batch but the last is full.
    progress
        None (a bar in Jupyter or a terminal, nothing otherwise), True, False, or a
        callable receiving `ProgressEvent`s.
    client
        A `spotzee_frames.Client`; by default one built from `SPOTZEE_API_KEY`.
    exclude
        Columns to leave out (same as mapping them to None): a list of labels, or one
        label.
    duplicates
        Rows sharing an `external_id` (or, without one, an `anonymous_id`):
        `"reject"` (default) holds back every such row whose values differ, as `invalid`
        with code `duplicate_external_id`, and sends one of a set of identical rows
        (the copies are `skipped`); `"first"` / `"last"` send the first / last of them
        and mark the others `skipped`. Never are two rows for one user sent in one call.
    invalid_fields
        A row whose email, phone, timezone or locale cannot be used: `"omit"` (default)
        sends the row without that field (it is left out, so the value stored in Spotzee
        is kept) and names it in `warning_field` / `warning_message`; `"reject"` holds
        the whole row back as `invalid`. An unusable id always holds the row back.
    include_payload
        Add a `payload` column with the dict sent (or that would be sent) for each row.
    big_ints
        What becomes of a data integer beyond ±(2**53 - 1), which a JSON number carries
        exactly only between readers that do not use doubles (I-JSON, RFC 7493): a server
        that parses numbers as doubles (Parcelvoy does, Spotzee very likely) would store
        its neighbour (`9007199254740993` → `…992`) without a word. `"invalid"` (default)
        holds the row back as `invalid`, code `value_not_encodable`, naming the column and
        the value it would become; `"string"` sends the exact decimal text instead
        (`"9007199254740993"`), as I-JSON recommends. Dry runs and previews show either.
    ledger
        A ledger file (created on the first run; a `spotzee_frames.Ledger` also works)
        that records, per destination (API host, project key, route) and user, the hash
        of the payload the server confirmed, and every call before it is handed to the
        client. A run killed at any point and run again resends its unanswered calls
        exactly as they were (the server replays what it had applied), then the rest.
        One run writes a ledger at a time (another raises `LedgerBusyError`).
    only_changed
        With `ledger=`: rows whose payload equals the one the ledger holds confirmed are
        not sent and are `unchanged`. Without it every row is sent (and recorded).

    Returns
    -------
    DataFrame
        Indexed exactly like `frame`. `status` is one of `upserted`, `queued`,
        `unchanged` (`only_changed`: confirmed before, not sent), `valid` (dry run),
        `invalid` (held back: a value failed validation), `skipped` (held back:
        another row with the same id was sent), `rejected` (the server refused the item),
        `failed` (the batch never succeeded after retries; safe to resend) or
        `interrupted` (the run stopped before the row's outcome was known). Then
        `error_code`, `error_field`, `error_message`, `warning_code`, `warning_field`,
        `warning_message` (a field the row was sent without, and why), `external_id`,
        `batch`, `attempts`,
        `request_id`, `user_id` (Spotzee's numeric id, sync mode) and `replayed` (the
        answer was a replay of an earlier identical request). `frame.loc[result.status
        .eq("failed")]` selects the rows to send again.

    Raises
    ------
    ValidationError
        A bad mapping or option; nothing was sent.
    LedgerError, LedgerBusyError
        The ledger cannot be used, or another run is writing it; nothing was sent.
    AuthenticationError, PermissionDeniedError
        The key was refused; the run stopped.
    MissingRouteError
        The server has no such route (e.g. no `POST /users/batch`: try `mode="async"`);
        the run stopped, `.result` holds the result frame (unsent rows `interrupted`).
    Interrupted
        KeyboardInterrupt during the run; `.result` holds the partial result frame.
    """
    region = _check_options(
        mode, nulls, duplicates, invalid_fields, batch_size, default_region, progress, big_ints
    )
    if not isinstance(dry_run, bool):
        raise ValidationError(f"dry_run must be True or False, not {dry_run!r}")
    path = check_ledger(ledger, only_changed)
    prepared = prepare(
        frame,
        mapping,
        nulls=nulls,
        default_region=region,
        exclude=exclude,
        duplicates=duplicates,
        invalid_fields=invalid_fields,
        big_ints=big_ints,
    )
    return send_prepared(
        prepared,
        lambda: _operation(prepared, mode=mode, batch_size=batch_size),
        name="upsert",
        extra=_EXTRA,
        dry_run=dry_run,
        include_payload=include_payload,
        batch_size=batch_size,
        client=client,
        progress=progress,
        ledger=path,
        only_changed=only_changed,
    )


def plan_upsert(
    frame: pd.DataFrame,
    mapping: MappingSpec | None,
    *,
    mode: str,
    batch_size: int,
    dry_run: bool,
    **options: Any,
) -> tuple[Prepared, ResultBuilder, Operation]:
    """One chunk of a larger source, prepared for upsert (`options` are `prepare`'s,
    already checked): the rows, the result builder with every held-back row filled in,
    and the operation."""
    prepared = prepare(frame, mapping, **options)
    builder = prepared_builder(
        prepared, extra=_EXTRA, dry_run=dry_run, include_payload=False, batch_size=batch_size
    )
    return prepared, builder, _operation(prepared, mode=mode, batch_size=batch_size)


def _ledger_items(prepared: Prepared, rows: np.ndarray) -> np.ndarray:
    """Who each row is to the ledger: its external_id, or its anonymous_id without one."""
    external = prepared.external_id[rows].tolist()
    anonymous = (
        prepared.anonymous_id[rows].tolist()
        if prepared.anonymous_id is not None
        else [None] * len(rows)
    )
    out = np.empty(len(rows), dtype=object)
    out[:] = [
        f"external_id:{e}" if e is not None else f"anonymous_id:{a}"
        for e, a in zip(external, anonymous, strict=True)
    ]
    return out


def _operation(prepared: Prepared, *, mode: str, batch_size: int) -> Operation:
    """Upsert as the runner sees it: full batches of the sendable rows to one route."""
    method, path = _ENDPOINT[mode]

    def record(builder: ResultBuilder, planned: Planned, outcome: Outcome) -> None:
        rows = planned.rows
        sync = mode == "sync"

        def read(builder: ResultBuilder, rows: np.ndarray, data: Any) -> None:
            if not sync and not (isinstance(data, dict) and isinstance(data.get("results"), list)):
                builder.set_status(rows, "queued")
                builder.clear_error(rows)
                return
            # Sync mode, or an async answer that reports per item after all: read the items.
            record_items(
                builder,
                rows,
                data,
                prepared.external_id[rows],
                route="POST /users/batch",
                ok_status="upserted",
                read_item=_item_outcome,
                on_ok=lambda at_rows, users: builder.set_extra(
                    "user_id", at_rows, [_user_id(u) for u in users]
                ),
            )

        record_batch(builder, rows, outcome, read=read)

    return Operation(
        name="upsert",
        desc=f"upsert ({mode})",
        rows=prepared.sendable,
        plan=batches_of(
            prepared, method=method, path=path, batch_size=batch_size, prefix=KEY_PREFIX
        ),
        record=record,
        success=frozenset({"upserted", "queued"}),
        ledger=LedgerSpec(
            route=f"{method} {path}",
            items=lambda rows: _ledger_items(prepared, rows),
            item_bytes=lambda rows: prepared.items_at(np.searchsorted(prepared.sendable, rows)),
        ),
        hint=(
            'Upsert with mode="async" (CLI: --mode async), which sends PATCH /users and '
            "needs no per-row answers"
            if mode == "sync"
            else ""
        ),
    )


def _user_id(user: dict[str, Any]) -> int | None:
    uid = user.get("id")
    return uid if isinstance(uid, int) and not isinstance(uid, bool) else None


def _item_outcome(item: dict[str, Any]) -> tuple[str, Any]:
    """("ok", user), ("error", {code, param, message}) or ("bad", why) for one result."""
    error = item.get("error")
    user = item.get("user") or item.get("contact")  # the docs use both names
    if error and user:
        return "bad", "the result for this item had both 'user' and 'error'"
    if error:
        return "error", error if isinstance(error, dict) else {"message": error}
    if isinstance(user, dict):
        return "ok", user
    return "bad", "the result for this item had neither 'user' nor 'error'"


def preview_payloads(
    frame: pd.DataFrame,
    mapping: MappingSpec | None = None,
    *,
    n: int | None = 5,
    nulls: NullPolicy = "omit",
    default_region: str | None = None,
    exclude: Iterable[Hashable] | Hashable | None = (),
    duplicates: DuplicatePolicy = "reject",
    invalid_fields: InvalidFieldPolicy = "omit",
    big_ints: BigIntPolicy = "invalid",
) -> pd.DataFrame:
    """The first `n` rows (all with None) beside what `upsert` would send for each.

    Columns: the frame's own, then `status`, `error_message`, `warning_message` (a field
    the row would be sent without) and `payload` (the JSON text of the item, or NA for
    rows that would not be sent). Nothing is sent. `attrs["spotzee_notes"]` lists the
    headers matched to a field by name.
    """
    import orjson

    sample = frame if n is None else frame.iloc[:n]
    result = upsert(
        sample,
        mapping,
        nulls=nulls,
        default_region=default_region,
        exclude=exclude,
        duplicates=duplicates,
        invalid_fields=invalid_fields,
        dry_run=True,
        include_payload=True,
        big_ints=big_ints,
    )
    text = [
        None if p is None else orjson.dumps(p, option=orjson.OPT_INDENT_2).decode()
        for p in result["payload"]
    ]
    out = sample.copy()
    for name, values in (
        ("status", result["status"].array),
        ("error_message", result["error_message"].array),
        ("warning_message", result["warning_message"].array),
        ("payload", pd.array(text, dtype="string")),
    ):
        label = name if name not in sample.columns else f"upsert_{name}"
        out[label] = values  # positional: the index may repeat labels
    out.attrs[NOTES_ATTR] = result.attrs.get(NOTES_ATTR, [])
    return out
