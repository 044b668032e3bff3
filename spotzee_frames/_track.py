"""`track`: one Spotzee event per row of a frame (`POST /events`), replayed, never re-applied.

Frame → mapping (the upsert rules: ids and profile fields by name or `mapping=`, every
other column to the event's `data`) → the upsert normalisers and encoder, plus the event
name and time (`created_at`) → a `Prepared` of sendable rows → the runner (full batches
of ≤ 100, each keyed by a hash of its exact body) → a result frame indexed like the input.

Events are not idempotent the way upserts are: the same event applied twice counts an
order twice. What keeps it exactly once is that a call is keyed by its body, and the body
depends only on the rows sent and their order:

- re-running the same call cuts the same sendable rows into the same full batches, so
  every batch carries the same key and is replayed, not applied again;
- a retry after a lost answer resends the same bytes under the same key;
- rows end `failed` or `interrupted` a whole batch at a time, and every batch but the
  last is full, so re-sending just those rows (`df.loc[result.status.isin(["failed",
  "interrupted"])]`, in the same order, with the same `batch_size`) cuts exactly the
  same batches again: one that was applied before its answer was lost replays.

Spotzee keeps idempotency keys for 24 hours; past that, a re-sent batch is applied again
— unless the call keeps a ledger (`ledger=`): then an event the server confirmed (its
exact item bytes) is never sent again (`already_tracked`), at any age, and a crash
part-way resends only the calls that had no answer, exactly as they were.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Hashable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._batching import check_batch_size
from ._encoding import BIG_INT_POLICIES, MISSING, BigIntPolicy, encode_column
from ._errors import ValidationError
from ._ledger import Ledger, LedgerSpec, check_ledger, item_hashes
from ._mapping import _exclusions, check_labels, named_columns, resolve_mapping
from ._normalize import (
    FieldResult,
    _is_stringish,
    _via_dictionary,
    check_region,
    normalize_field,
    normalize_timezone,
)
from ._prepare import (
    CODE_INVALID,
    CODE_NO_ID,
    CODE_NOT_ENCODABLE,
    Prepared,
    _compile_structs,
    check_choice,
    combine_problems,
    missing_id_message,
    warn_numeric_ids,
)
from ._progress import ProgressLike, check_progress
from ._runner import Operation, batches_of, record_queued, send_prepared

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["PROFILE_FIELDS", "STATUSES", "track"]

STATUSES: tuple[str, ...] = (
    "queued",  # the server accepted the event (204: it is stored asynchronously)
    "valid",  # dry run: the row would be sent
    "invalid",  # not sent: a value failed validation here
    "rejected",  # the server refused this row's item (the whole batch was then refused)
    "failed",  # no acceptance known after retries: re-sending the failed rows is safe
    "interrupted",  # the run was stopped first: re-sending the same rows is safe
    "already_tracked",  # not sent: the ledger holds this exact event confirmed
    "unconfirmed",  # not sent: an earlier run's call for it may have arrived (see the ledger)
)
#: The profile fields an event's `user` takes (besides its custom `data`).
PROFILE_FIELDS: tuple[str, ...] = ("email", "phone", "timezone", "locale")
_ID_FIELDS = ("external_id", "anonymous_id")
# What `mapping=` may name: the upsert fields, plus the event's time.
_FIELDS = (*_ID_FIELDS, *PROFILE_FIELDS, "created_at")
KEY_PREFIX = "sfe"
_PATH = "/events"


# -- the event time ---------------------------------------------------------------------------


def _zone(timezone: Any) -> str | None:
    if timezone is None:
        return None
    result = normalize_timezone(pd.Series([timezone], dtype=object))
    if result.invalid[0] or result.missing[0]:
        raise ValidationError(
            f"timezone must be an IANA time zone name such as 'Australia/Sydney' or 'UTC' "
            f"(the zone the naive created_at values are in); got {timezone!r}"
        )
    return str(result.values[0])


def _rfc3339(moment: dt.datetime) -> str:
    """An aware datetime as RFC 3339 with its own offset (an offset with seconds, which
    RFC 3339 cannot spell, as the same instant in UTC)."""
    offset = moment.utcoffset()
    if offset is not None and offset.total_seconds() % 60:
        moment = moment.astimezone(dt.UTC)
    return moment.isoformat()


def _localize(naive: dt.datetime, zone: str) -> tuple[str | None, str | None]:
    """A wall time in `zone`, refused when a daylight-saving change makes it ambiguous
    (it happened twice) or non-existent (it never happened)."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    first, second = naive.replace(tzinfo=tz), naive.replace(tzinfo=tz, fold=1)
    # In a gap the wall time does not survive a round trip through UTC; in a fold it
    # does, but its two readings have different offsets.
    if first.astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None) != naive:
        return None, f"{naive.isoformat()} never happened in {zone} (a daylight-saving change)"
    if first.utcoffset() != second.utcoffset():
        return None, f"{naive.isoformat()} happened twice in {zone} (a daylight-saving change)"
    return _rfc3339(first), None


_ISO_HINT = "write ISO 8601 with an offset, e.g. 2026-04-28T09:30:00+10:00"


def _time_value(zone: str | None, seen: dict[str, int]) -> Any:
    """The per-value reader of a created_at column that is not datetime64."""

    def read(value: Any) -> tuple[str | None, str | None]:
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return None, None
            # Only the unambiguous ISO 8601 forms: a date first, then a time (day-first
            # and month-first dates, and named months, are not guessed at).
            if len(text) < 10 or text[4] != "-" or text[7] != "-" or not text[:4].isdigit():
                return None, f"{value!r} is not an ISO 8601 timestamp; {_ISO_HINT}"
            try:
                moment: Any = dt.datetime.fromisoformat(text)
            except ValueError:
                return None, f"{value!r} is not a valid ISO 8601 timestamp; {_ISO_HINT}"
        elif isinstance(value, dt.datetime):  # pd.Timestamp too
            moment = value
        elif isinstance(value, dt.date):
            moment = dt.datetime(value.year, value.month, value.day)
        elif isinstance(value, np.datetime64):
            moment = pd.Timestamp(value).to_pydatetime()
        else:
            return None, (
                f"{type(value).__name__} value {value!r} is not a time (a number's unit and "
                "epoch would be a guess); convert it, e.g. pd.to_datetime(col, unit='s', "
                "utc=True)"
            )
        if moment.tzinfo is not None and moment.utcoffset() is not None:
            seen["aware"] += 1
            return _rfc3339(moment), None
        seen["naive"] += 1
        if zone is None:
            return None, (
                f"{value!s} has no UTC offset, so the instant it means is unknown; say which "
                "zone it is in with timezone='Europe/London' (or write the offset)"
            )
        return _localize(moment.replace(tzinfo=None), zone)

    return read


def _naive_refusal(column: Hashable) -> ValidationError:
    return ValidationError(
        f"created_at column {column!r} holds naive times (no time zone), so the instant each "
        "one means is unknown and sending it as UTC could be hours off. Say which zone they "
        "are in with timezone= (e.g. timezone='Australia/Sydney'), or tz_localize the column "
        "first. Nothing was sent."
    )


def event_times(values: pd.Series, *, zone: str | None, column: Hashable) -> FieldResult:
    """RFC 3339 texts (with an offset) for a column of event times; see `track`."""
    dtype = values.dtype
    if isinstance(dtype, pd.ArrowDtype):
        tz = getattr(dtype.pyarrow_dtype, "tz", False)
        if tz is False:  # dates and the like: read value by value
            values = values.astype(object)
        else:
            values = values.astype(pd.DatetimeTZDtype("ns", tz) if tz else np.dtype("M8[ns]"))
        dtype = values.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        na = np.asarray(values.isna(), dtype=bool)
        messages: dict[int, str] = {}
        if not isinstance(dtype, pd.DatetimeTZDtype):
            if zone is None:
                raise _naive_refusal(column)
            local = values.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
            lost = np.flatnonzero(np.asarray(local.isna(), dtype=bool) & ~na)
            messages = {
                int(p): f"created_at: {values.iloc[p].isoformat()} happened twice or never in "
                f"{zone} (a daylight-saving change); give that row an offset"
                for p in lost
            }
            values = local
        encoded = encode_column(values, nulls="omit", column=str(column))
        out = np.asarray(encoded.values, dtype=object).copy()
        out[encoded.missing] = None
        invalid = np.zeros(len(values), dtype=bool)
        invalid[list(messages)] = True
        return FieldResult(out, na & ~invalid, invalid, messages)
    if isinstance(dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if not (_is_stringish(values) or pd.api.types.is_object_dtype(values.dtype)):
        raise ValidationError(
            f"created_at column {column!r} has dtype {dtype}, which holds no times; give a "
            "datetime column (or ISO 8601 text), e.g. pd.to_datetime(col, unit='s', utc=True) "
            "for epoch seconds"
        )
    seen = {"naive": 0, "aware": 0}
    result = _via_dictionary(values, "created_at", column, _time_value(zone, seen))
    if zone is None and seen["naive"] and not seen["aware"]:
        raise _naive_refusal(column)  # not one value with an offset: a naive column
    return result


# -- checking the arguments ------------------------------------------------------------------


def _one_column(frame: pd.DataFrame, label: Any, what: str) -> Hashable:
    check_labels([label], f"{what} must name a column")
    columns = list(frame.columns)
    if label not in columns:
        raise ValidationError(
            f"{what}={label!r} is not a column of the frame; columns are {columns!r}"
        )
    if columns.count(label) > 1:
        raise ValidationError(f"the frame has several columns labelled {label!r}")
    hashable: Hashable = label
    return hashable


def _user_columns(
    frame: pd.DataFrame, user: Sequence[Hashable] | Mapping[Hashable, str] | None
) -> dict[Hashable, str]:
    """`{column: target}` from `user=`: a profile field, or a key of the user's `data`."""
    if user is None:
        return {}
    pairs = named_columns(
        frame.columns, user, option="user", meaning="user field or attribute name"
    )
    for column, name in pairs.items():
        if name in (*_ID_FIELDS, "data"):
            raise ValidationError(
                f"user={{{column!r}: {name!r}}}: the event's user is named by its "
                "external_id / anonymous_id columns; give the attribute another name"
            )
    return pairs


def _check_options(
    frame: Any,
    name: Any,
    name_column: Any,
    dry_run: Any,
    batch_size: Any,
    progress: Any,
    big_ints: Any,
) -> None:
    check_progress(progress)
    check_choice("big_ints", big_ints, BIG_INT_POLICIES)
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    if not isinstance(dry_run, bool):
        raise ValidationError(f"dry_run must be True or False, not {dry_run!r}")
    check_batch_size(batch_size)
    if (name is None) == (name_column is None):
        raise ValidationError(
            "give the event name as name='order_placed' (the same for every row) or the "
            "column holding each row's name as name_column='event' — one of the two"
        )
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValidationError(f"name must be a non-empty string, not {name!r}")


# -- preparing -------------------------------------------------------------------------------


def _name_value(value: Any) -> tuple[str | None, str | None]:
    if isinstance(value, str):
        return (value, None) if value.strip() else (None, None)
    return None, f"{value!r} is not an event name (text)"


def _names(values: pd.Series, column: Hashable) -> FieldResult:
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    return _via_dictionary(values, "name", column, _name_value)


def _gap_filled(result: FieldResult) -> np.ndarray:
    values = np.asarray(result.values, dtype=object)
    gap = result.missing | result.invalid
    if gap.any():
        values = values.copy()
        values[gap] = MISSING
    return values


def _prepare(
    frame: pd.DataFrame,
    name: str | None,
    *,
    name_column: Hashable | None,
    created_at: Hashable | None,
    zone: str | None,
    mapping: Mapping[Hashable, str | None] | None,
    user: Sequence[Hashable] | Mapping[Hashable, str] | None,
    exclude: Iterable[Hashable] | Hashable | None,
    default_region: str | None,
    big_ints: BigIntPolicy,
) -> Prepared:
    n = len(frame)
    user_targets = _user_columns(frame, user)
    special: list[Hashable] = list(user_targets)
    if name_column is not None:
        special.append(_one_column(frame, name_column, "name_column"))
    merged: dict[Hashable, str | None] = dict(mapping or {})
    if created_at is not None:
        label = _one_column(frame, created_at, "created_at")
        if merged.get(label, "created_at") != "created_at":
            raise ValidationError(
                f"column {label!r} is created_at= and also mapped to {merged[label]!r}; choose one"
            )
        merged[label] = "created_at"
    for label in special:
        if merged.get(label) is not None:
            raise ValidationError(
                f"column {label!r} is given to name_column= or user= and also mapped to "
                f"{merged[label]!r}; choose one"
            )
    excluded = [c for c in _exclusions(exclude) if c not in special]
    resolved = resolve_mapping(
        [c for c in frame.columns if c not in special],
        {k: v for k, v in merged.items() if k not in special},
        exclude=excluded,
        fields=_FIELDS,
    )
    if not any(f in resolved.fields for f in _ID_FIELDS):
        raise ValidationError(
            missing_id_message(frame.columns, "external_id or anonymous_id, which names the user")
        )
    warn_numeric_ids(frame, resolved.fields)
    if "created_at" not in resolved.fields and zone is not None:
        raise ValidationError(
            "timezone= says which zone the created_at times are in, but no column gives "
            "created_at; pass created_at='<column>' too"
        )
    profile_targets = {t: c for c, t in user_targets.items() if t in PROFILE_FIELDS}
    for field, column in profile_targets.items():
        if field in resolved.fields:
            raise ValidationError(
                f"columns {resolved.fields[field]!r} and {column!r} both give user.{field}"
            )
    user_data = {t: c for c, t in user_targets.items() if t not in PROFILE_FIELDS}

    def normalised(field: str, column: Hashable) -> FieldResult:
        if field == "created_at":
            return event_times(frame[column], zone=zone, column=column)
        return normalize_field(field, frame[column], default_region=default_region, column=column)

    # Columns are independent, and most of the work is in Arrow and numpy, which release
    # the GIL: two at a time (as `prepare` does).
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="spotzee-track") as pool:
        field_jobs = {
            f: pool.submit(normalised, f, c)
            for f, c in {**resolved.fields, **profile_targets}.items()
        }
        data_jobs = [
            (
                prefix + key,
                pool.submit(
                    encode_column, frame[c], nulls="omit", column=str(c), big_ints=big_ints
                ),
            )
            for prefix, columns in (("data.", resolved.data), ("user.data.", user_data))
            for key, c in columns.items()
        ]
        fields = {f: job.result() for f, job in field_jobs.items()}
        encoded = [(target, job.result()) for target, job in data_jobs]
    sources: list[tuple[str, str, dict[int, str]]] = [
        (f if f not in profile_targets else f"user.{f}", CODE_INVALID, r.messages)
        for f, r in fields.items()
    ]
    if name_column is not None:
        names = _names(frame[name_column], name_column)
        sources.insert(len(resolved.fields), ("name", CODE_INVALID, names.messages))
        name_values = _gap_filled(names)
        no_name = names.missing
    else:
        name_values = np.full(n, name, dtype=object)
        no_name = np.zeros(n, dtype=bool)
    sources.extend((t, CODE_NOT_ENCODABLE, e.messages) for t, e in encoded if e.messages)
    data_cols = [e for t, e in encoded if t.startswith("data.")]
    user_data_cols = [e for t, e in encoded if t.startswith("user.data.")]

    has_id = np.zeros(n, dtype=bool)
    for field in _ID_FIELDS:
        if field in fields:
            has_id |= ~fields[field].missing & ~fields[field].invalid
    no_id = ~has_id
    for field in _ID_FIELDS:
        if field in fields:
            no_id[list(fields[field].messages)] = False  # a malformed id says more
    if no_id.any():
        id_field = "external_id" if "external_id" in fields else "anonymous_id"
        text = "the row has neither an external_id nor an anonymous_id"
        sources.insert(
            0, (id_field, CODE_NO_ID, dict.fromkeys(np.flatnonzero(no_id).tolist(), text))
        )
    if no_name.any():
        text = "the row has no event name"
        sources.insert(
            0, ("name", CODE_NO_ID, dict.fromkeys(np.flatnonzero(no_name).tolist(), text))
        )
    bad, problem = combine_problems(n, sources)
    sendable = np.flatnonzero(~bad)

    everything = len(sendable) == n

    def compact(values: np.ndarray) -> np.ndarray:
        return values if everything else values[sendable]

    top_keys = ["name"]
    top_cols = [compact(name_values)]
    for field in (*_ID_FIELDS, "created_at"):
        if field in fields:
            top_keys.append(field)
            top_cols.append(compact(_gap_filled(fields[field])))
    profile = [f for f in PROFILE_FIELDS if f in fields]
    if profile or user_data_cols:
        top_keys.append("user")
        top_cols.append(
            _users(
                profile,
                [compact(_gap_filled(fields[f])) for f in profile],
                [compact(fields[f].missing | fields[f].invalid) for f in profile],
                list(user_data),
                [compact(np.asarray(c.values, dtype=object)) for c in user_data_cols],
                [compact(c.missing) for c in user_data_cols],
            )
        )
    no_data = (
        np.logical_and.reduce([c.missing for c in data_cols])
        if data_cols
        else np.zeros(n, dtype=bool)
    )
    external_id = np.asarray(
        fields["external_id"].values if "external_id" in fields else np.full(n, None), object
    )
    return Prepared(
        index=frame.index,
        mapping=resolved,
        nulls="omit",
        sendable=sendable,
        external_id=external_id,
        problems=[problem] if problem is not None else [],
        warnings=None,
        notes=[f"{c!r} → {t}" for c, t in resolved.matched.items()],
        _columns=[*top_cols, *(compact(np.asarray(c.values, dtype=object)) for c in data_cols)],
        _structs=_compile_structs(top_keys, list(resolved.data)),
        _empty_data=np.flatnonzero(compact(no_data)).tolist(),
    )


def _users(
    profile: list[str],
    profile_cols: list[np.ndarray],
    profile_gaps: list[np.ndarray],
    data_keys: list[str],
    data_cols: list[np.ndarray],
    data_gaps: list[np.ndarray],
) -> np.ndarray:
    """The `user` object of each sendable row: a Struct of its profile fields and custom
    `data` (no `data` key when it has none), MISSING where it would be empty."""
    n = len((profile_cols or data_cols)[0])
    users = _compile_structs(profile, data_keys)(
        list(zip(*(c.tolist() for c in [*profile_cols, *data_cols]), strict=True))
    )
    no_data = np.ones(n, dtype=bool)
    if data_gaps:
        no_data = np.logical_and.reduce(data_gaps)
        for at in np.flatnonzero(no_data).tolist():
            users[at].data = MISSING
    empty = np.logical_and.reduce([*profile_gaps, no_data])
    out = np.empty(n, dtype=object)
    out[:] = users
    out[empty] = MISSING
    return out


# -- sending ---------------------------------------------------------------------------------


def _event_items(prepared: Prepared, rows: np.ndarray) -> np.ndarray:
    """Each event as the ledger knows it: the hash of its exact item bytes (an event has
    no id of its own; the same bytes are the same event)."""
    hashes = item_hashes(prepared.items_at(np.searchsorted(prepared.sendable, rows)))
    out = np.empty(len(rows), dtype=object)
    out[:] = [f"event:{h:016x}" for h in hashes.view(np.uint64).tolist()]
    return out


def _operation(prepared: Prepared, *, batch_size: int) -> Operation:
    return Operation(
        name="track",
        desc="track",
        rows=prepared.sendable,
        plan=batches_of(
            prepared, method="POST", path=_PATH, batch_size=batch_size, prefix=KEY_PREFIX
        ),
        record=record_queued,
        success=frozenset({"queued"}),
        resend=(
            "re-running the same call, or sending just the interrupted and failed rows "
            "again in the same order, replays what was applied instead of counting it twice"
        ),
        ledger=LedgerSpec(
            route=f"POST {_PATH}",
            items=lambda rows: _event_items(prepared, rows),
            item_bytes=lambda rows: prepared.items_at(np.searchsorted(prepared.sendable, rows)),
            once=True,
            skip_status="already_tracked",
        ),
    )


def track(
    frame: pd.DataFrame,
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
    progress: ProgressLike = None,
    client: Client | None = None,
    include_payload: bool = False,
    big_ints: BigIntPolicy = "invalid",
    ledger: str | os.PathLike[str] | Ledger | None = None,
) -> pd.DataFrame:
    """Send one event per row of `frame` (`POST /events`); one result row per input row.

    Parameters
    ----------
    frame
        The events, one per row. Any index and any column dtypes.
    name
        The event name of every row (e.g. `"order_placed"`). Or:
    name_column
        The column holding each row's event name, for frames that mix events.
    created_at
        The column of event times. Aware datetimes are sent as RFC 3339 with their own
        offset (`2026-04-28T09:30:00+10:00`); ISO 8601 text with an offset likewise. A
        naive column is refused before anything is sent unless `timezone=` names its zone
        (never sent as UTC on a guess); a naive value in a text column, text that is not
        ISO 8601 (`05/06/2026` is not guessed at) and a wall time a daylight-saving change
        makes ambiguous or impossible make their row invalid. Missing values leave the
        field out: the server stamps the time it received the event. A column named
        `created_at` is used without being named here.
    timezone
        The IANA zone naive `created_at` values are in (e.g. `"Europe/London"`); not the
        user's profile time zone, which comes from a `timezone` column as in `upsert`.
    mapping
        `{column: field}` as in `upsert`: `external_id` and `anonymous_id` name the user
        (at least one per row), `email`, `phone`, `timezone`, `locale` go to the event's
        `user` (normalised as `upsert` does), `data.<key>` to the event's `data`,
        `created_at` names the time column, None leaves a column out. Columns named like
        a field map themselves; every other column goes to the event's `data`.
    user
        Columns sent in the event's `user` object: a list (each under its own name) or
        `{column: name}`; a name that is `email`, `phone`, `timezone` or `locale` is
        that profile field, any other name a key of the user's custom `data`.
    exclude
        Columns to leave out.
    default_region
        Region for phone numbers written in national format, e.g. `"AU"`.
    dry_run
        Validate and build every payload, send nothing; rows are `valid` or `invalid`.
    batch_size
        Events per request, 1 to 100 (full batches of the sendable rows).
    progress, client
        As in `upsert`.
    include_payload
        Add a `payload` column with the item sent (or that would be sent) for each row.
    big_ints
        Integers beyond ±(2**53 - 1) in `data` or `user`, as in `upsert`: `"invalid"`
        (default) holds the row back, `"string"` sends exact text (I-JSON, RFC 7493).
    ledger
        A ledger file (as in `upsert`): an event the server confirmed is never sent
        again (`already_tracked`), even past the server's 24 hours, and a run killed at
        any point resends only its unanswered calls, exactly. A recorded call older than
        23 hours, to a server that shows no sign of honouring idempotency keys, or
        holding events this call does not, is not resent: its rows are `unconfirmed`
        until `spotzee_frames.Ledger(path).resolve(key, applied=…)` settles it.

    Returns
    -------
    DataFrame
        Indexed exactly like `frame`: `status` (`queued` — accepted, 204; `valid` in a
        dry run; `invalid`; `rejected` — the server refused this row's item, so the
        batch was refused; `failed`; `interrupted`; with a ledger `already_tracked` and
        `unconfirmed`), `error_code`, `error_field`,
        `error_message`, `external_id`, `batch`, `attempts`, `request_id`, `replayed`.

    Re-running the same call replays instead of counting anything twice, and so does
    re-sending just the rows that `failed` or were `interrupted` (see the module
    docstring for why) — within the server's 24-hour idempotency window. After 24 hours
    a re-sent batch is applied again.
    """
    _check_options(frame, name, name_column, dry_run, batch_size, progress, big_ints)
    path = check_ledger(ledger, False)
    prepared = _prepare(
        frame,
        name,
        name_column=name_column,
        created_at=created_at,
        zone=_zone(timezone),
        mapping=mapping,
        user=user,
        exclude=exclude,
        default_region=check_region(default_region),
        big_ints=big_ints,
    )
    return send_prepared(
        prepared,
        lambda: _operation(prepared, batch_size=batch_size),
        name="track",
        extra={"replayed": "boolean"},
        statuses=STATUSES,
        dry_run=dry_run,
        include_payload=include_payload,
        batch_size=batch_size,
        client=client,
        progress=progress,
        ledger=path,
    )
