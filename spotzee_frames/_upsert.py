"""`upsert`: a frame of contacts → Spotzee users, with one result row per input row.

The flow is frame → `prepare` (validate, normalise, encode) → `iter_batches` (full batches
of sendable rows, exact bodies, content-derived idempotency keys) → `Client.stream`
(concurrent, paced, retried) → `ResultBuilder` (per-row outcome).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Hashable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ._batching import Batch, check_batch_size, iter_batches
from ._encoding import NULL_POLICIES, NullPolicy
from ._errors import (
    APIError,
    AuthenticationError,
    Interrupted,
    PermissionDeniedError,
    SpotzeeError,
    ValidationError,
)
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
from ._progress import ProgressLike, check_progress, make_reporter
from ._results import ResultBuilder, refusal, text_or

if TYPE_CHECKING:
    from ._client import Client, Response

__all__ = ["MODES", "Mode", "preview_payloads", "upsert"]

Mode = Literal["sync", "async"]
MODES: tuple[str, ...] = ("sync", "async")

_ENDPOINT = {"sync": ("POST", "/users/batch"), "async": ("PATCH", "/users")}
_EXTRA = {"user_id": "Int64", "replayed": "boolean"}

# Codes for outcomes the toolkit itself decides (the server's codes are passed through).
CODE_MISSING_RESULT = "missing_result"
CODE_UNEXPECTED = "unexpected_response"
CODE_NO_OUTCOME = "no_outcome"
_ITEM_PARAM = re.compile(r"^(?:items\.|\[)?(\d+)\]?(?:\.(.+))?$")


def _check_options(
    mode: Any,
    nulls: Any,
    duplicates: Any,
    invalid_fields: Any,
    batch_size: Any,
    default_region: Any,
    progress: Any,
) -> str | None:
    check_progress(progress)
    check_choice("mode", mode, MODES)
    check_choice("nulls", nulls, NULL_POLICIES)
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

    Returns
    -------
    DataFrame
        Indexed exactly like `frame`. `status` is one of `upserted`, `queued`, `valid`
        (dry run), `invalid` (held back: a value failed validation), `skipped` (held back:
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
    AuthenticationError, PermissionDeniedError
        The key was refused; the run stopped.
    Interrupted
        KeyboardInterrupt during the run; `.result` holds the partial result frame.
    """
    region = _check_options(
        mode, nulls, duplicates, invalid_fields, batch_size, default_region, progress
    )
    if not isinstance(dry_run, bool):
        raise ValidationError(f"dry_run must be True or False, not {dry_run!r}")
    prepared = prepare(
        frame,
        mapping,
        nulls=nulls,
        default_region=region,
        exclude=exclude,
        duplicates=duplicates,
        invalid_fields=invalid_fields,
    )
    extra = dict(_EXTRA)
    if include_payload:
        extra["payload"] = "object"
    builder = prepared.result_builder(
        sendable_status="valid" if dry_run else "interrupted", extra=extra
    )
    n_batches = -(-prepared.n_sendable // batch_size)
    batch_of_row = np.repeat(np.arange(n_batches), batch_size)[: prepared.n_sendable]
    builder.set_int("batch", prepared.sendable, batch_of_row)
    if include_payload:
        builder.set_extra("payload", prepared.sendable, prepared.payloads())
    if dry_run or prepared.n_sendable == 0:
        return _with_notes(builder.to_frame(), prepared)

    from ._client import resolve_client

    api = resolve_client(client)
    method, path = _ENDPOINT[mode]
    _send(
        api,
        prepared,
        builder,
        method=method,
        path=path,
        mode=mode,
        batch_size=batch_size,
        progress=progress,
    )
    return _with_notes(builder.to_frame(), prepared)


def _with_notes(result: pd.DataFrame, prepared: Prepared) -> pd.DataFrame:
    """The result, carrying in `attrs` which headers were matched by name, for
    `summary()` and the previews to show."""
    result.attrs["spotzee_notes"] = list(prepared.notes)
    return result


def _send(
    api: Client,
    prepared: Prepared,
    builder: ResultBuilder,
    *,
    method: str,
    path: str,
    mode: str,
    batch_size: int,
    progress: ProgressLike,
) -> None:
    sendable = prepared.sendable
    batches: dict[int, Batch] = {}

    def calls() -> Iterator[Any]:
        for batch in iter_batches(
            prepared.n_sendable,
            prepared.body,
            method=method,
            path=path,
            batch_size=batch_size,
        ):
            batches[batch.number] = batch
            yield batch.call()

    reporter = make_reporter(progress, desc=f"upsert ({mode})", total=prepared.n_sendable)
    stream = api.stream(calls())
    try:
        for number, outcome in stream:
            batch = batches.pop(number)
            rows = sendable[batch.start : batch.stop]
            bad = _record(builder, rows, outcome, mode=mode, sent_ids=prepared.external_id[rows])
            reporter.advance(done=len(rows), failed=bad)
    except KeyboardInterrupt as exc:
        _close(stream)
        with contextlib.suppress(Exception, KeyboardInterrupt):  # already stopping
            reporter.close()
        left = builder.count("interrupted")
        raise Interrupted(
            f"upsert interrupted: {prepared.n_sendable - left} of {prepared.n_sendable} rows "
            f"have an outcome, {left} are 'interrupted' (they may or may not have been "
            "applied; sending them again is safe). The partial result is in .result",
            result=builder.to_frame(),
        ) from exc
    except (AuthenticationError, PermissionDeniedError) as exc:
        _close(stream)
        reporter.close()
        exc.result = builder.to_frame()  # what was done before the key stopped working
        raise
    except BaseException:
        _close(stream)
        reporter.close()
        raise
    reporter.close()
    for batch in batches.values():  # the client gave no outcome at all: say so
        rows = sendable[batch.start : batch.stop]
        builder.set_error(
            rows,
            "failed",
            CODE_NO_OUTCOME,
            message="the request ended without an outcome; sending again is safe",
        )


def _close(stream: Iterator[Any]) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()


def _record(
    builder: ResultBuilder, rows: np.ndarray, outcome: Any, *, mode: str, sent_ids: np.ndarray
) -> int:
    """Write one batch's outcome into the builder; return how many rows did not succeed.
    `sent_ids` are the external ids the batch's items carried (None where none)."""
    if isinstance(outcome, SpotzeeError):
        return _record_error(builder, rows, outcome)
    response: Response = outcome
    builder.set_sent(rows, attempts=response.attempts, request_id=response.request_id)
    builder.set_extra("replayed", rows, bool(response.replayed))
    data = response.data
    said_no = refusal(data, default_code=CODE_UNEXPECTED)
    if said_no is not None:  # a 2xx whose body says no: no success to report for any row
        code, param, message = said_no
        builder.set_error(rows, "failed", code, field=param, message=message)
        return len(rows)
    if mode == "async" and not (isinstance(data, dict) and isinstance(data.get("results"), list)):
        builder.set_status(rows, "queued")
        builder.clear_error(rows)
        return 0
    # Sync mode, or an async answer that reports per item after all: read the items.
    return _record_items(builder, rows, data, sent_ids)


def _record_error(builder: ResultBuilder, rows: np.ndarray, exc: SpotzeeError) -> int:
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
    # A request refused as invalid (400/422) that names the items at fault: those are
    # `rejected`, the others stay `failed` (not applied, fine to resend once the bad rows
    # are fixed). A 5xx or 429 judged no item, whatever its body lists.
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
    return len(rows)


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


def _record_items(builder: ResultBuilder, rows: np.ndarray, data: Any, sent_ids: np.ndarray) -> int:
    results = data.get("results") if isinstance(data, dict) else None
    matched = _result_rows(results, sent_ids) if isinstance(results, list) else None
    if not isinstance(results, list) or matched is None:
        why = (
            "the answer to POST /users/batch had no 'results' list"
            if not isinstance(results, list)
            else "the answer's results have no index and their external_ids do not match "
            "the items sent"
        )
        builder.set_error(rows, "failed", CODE_UNEXPECTED, message=why)
        return len(rows)
    outcomes: dict[int, list[tuple[str, Any]]] = {}
    for item, at in zip(results, matched, strict=True):
        if at is not None and isinstance(item, dict):
            outcomes.setdefault(at, []).append(_item_outcome(item))
    ok_at: list[int] = []
    user_ids: list[Any] = []
    bad = 0
    for at, found in sorted(outcomes.items()):
        kind, detail = found[0]
        if len({k for k, _ in found}) > 1:  # one item, contradictory results: no verdict
            kind, detail = "bad", "the answer holds contradictory results for this item"
        if kind == "ok":
            ok_at.append(at)
            uid = detail.get("id")
            user_ids.append(uid if isinstance(uid, int) and not isinstance(uid, bool) else None)
            continue
        bad += 1
        if kind == "error":
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
        builder.set_status(at_rows, "upserted")
        builder.clear_error(at_rows)
        builder.set_extra("user_id", at_rows, user_ids)
    seen = np.zeros(len(rows), dtype=bool)
    seen[list(outcomes)] = True
    if not seen.all():
        missing = rows[~seen]
        builder.set_error(
            missing,
            "failed",
            CODE_MISSING_RESULT,
            message="the answer had no result for this item; it may not have been applied, "
            "sending it again is safe",
        )
        bad += len(missing)
    return bad


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
    out.attrs["spotzee_notes"] = result.attrs.get("spotzee_notes", [])
    return out
