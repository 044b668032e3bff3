"""Trigger a campaign, or enter a journey, once for each row of a frame — exactly once.

The API takes one user per trigger call, so this fans out: frame → mapping (first-class
fields, the upsert rules) → normalised fields, encoded attributes and event (the upsert
normalisers and encoder) → rows held back as invalid or duplicate → one POST per row with
a deterministic idempotency key → a result frame indexed like the input.

Idempotency keys are built from the target, the user and `send_id`:

    cmp:<campaign_id>:<external_id>:<send_id>
    jny:<journey_id>:<entrance_id>:<external_id>:<send_id>

Without a `send_id`, `#<sha256 of the request body>` stands in for it. Re-running the
same call (or a retry after a lost response) replays the stored answer instead of sending
again; a new `send_id` deliberately sends again. In the key, `:`, `%`, spaces and
non-ASCII characters of the external id and send id are percent-encoded, so two different
users can never share a key, and a part that would make the key longer than 255
characters is replaced by `#<its sha256>`. The server keeps keys for 24 hours.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import numpy as np
import orjson
import pandas as pd

from . import _spelling as spell
from ._client import Call, Client, resolve_client
from ._encoding import (
    BIG_INT_POLICIES,
    MISSING,
    BigIntPolicy,
    UnencodableValue,
    encode_column,
    encode_object,
    exact_id,
)
from ._errors import SpotzeeError, TargetStateError, ValidationError
from ._ledger import Ledger, LedgerSpec, check_ledger
from ._listing import fetch_campaign, fetch_journey, journey_status, positive_int
from ._mapping import MappingSpec, conventional_keys, named_columns, resolve_mapping
from ._normalize import FieldResult, check_region, normalize_field, normalize_id
from ._prepare import (
    CODE_INVALID,
    CODE_NO_ID,
    CODE_NOT_ENCODABLE,
    DUPLICATE_POLICIES,
    EXTENSION_KEY,
    DuplicatePolicy,
    RowProblem,
    check_choice,
    combine_problems,
    duplicate_problems,
    missing_id_message,
    warn_numeric_ids,
)
from ._progress import ProgressLike, check_progress
from ._results import ResultBuilder
from ._runner import (
    Operation,
    Outcome,
    Planned,
    look,
    one_per_row,
    record_one,
    result_frame,
    run,
)

__all__ = [
    "STATUSES",
    "TRIGGER_FIELDS",
    "EventSpec",
    "check_recipients",
    "idempotency_key",
    "trigger_campaign",
    "trigger_journey",
]

#: First-class fields of a trigger's `user` (the contract adds `device_token` to upsert's).
TRIGGER_FIELDS: tuple[str, ...] = (
    "external_id",
    "email",
    "phone",
    "timezone",
    "locale",
    "device_token",
)
#: Names an attribute may not take: they mean something else in the `user` object.
_RESERVED = frozenset({*TRIGGER_FIELDS, "anonymous_id", "data"})

STATUSES: tuple[str, ...] = (
    "triggered",  # the server accepted the trigger (or replayed its earlier acceptance)
    "already_triggered",  # not sent: the ledger holds it confirmed by an earlier run
    "valid",  # dry run: the row would be sent
    "invalid",  # not sent: a value failed validation here, or a conflicting duplicate
    "skipped",  # not sent: an identical row for the same user is sent instead
    "rejected",  # the server refused this row (4xx); error_code says why
    "failed",  # no answer after retries (5xx, 429, network): re-running is safe
    "interrupted",  # the run was stopped first; re-running the same call is safe
    "unconfirmed",  # not sent: an earlier run's call for it may have arrived (see the ledger)
)
CODE_EVENT_ERROR = "event_callable_failed"
KEY_MAX = 255

EventSpec = (
    Mapping[str, Any] | Sequence[Hashable] | Callable[[pd.Series], Mapping[str, Any] | None] | None
)

# Printable ASCII that may stay as is in a key part; ":" separates parts, "%" escapes,
# "#" marks a hash.
_KEY_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in ":%#")


def _key_part(text: str) -> str:
    return quote(text, safe=_KEY_SAFE)


def _hashed(text: str) -> str:
    return "#" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def idempotency_key(prefix: str, external_id: str, send_id: str | None, body: bytes) -> str:
    """The key of one trigger call (see the module docstring); at most 255 characters.

    `prefix` is `cmp:<campaign_id>` or `jny:<journey_id>:<entrance_id>`.
    """
    user = _key_part(external_id)
    tail = "#" + hashlib.sha256(body).hexdigest() if send_id is None else _key_part(send_id)
    room = KEY_MAX - len(prefix) - 2
    if len(user) + len(tail) > room:
        # hash the longer part first; a hashed part is 65 characters
        if len(user) >= len(tail):
            user = _hashed(external_id)
            if len(user) + len(tail) > room:
                tail = _hashed(send_id or "")
        else:
            tail = _hashed(send_id or "")
            if len(user) + len(tail) > room:
                user = _hashed(external_id)
    return f"{prefix}:{user}:{tail}"


@dataclass(frozen=True)
class _Target:
    kind: Literal["campaign", "journey"]
    id: int
    entrance_id: int | None = None

    @property
    def path(self) -> str:
        return f"/{self.kind}s/{self.id}/trigger"

    @property
    def key_prefix(self) -> str:
        if self.kind == "campaign":
            return f"cmp:{self.id}"
        return f"jny:{self.id}:{self.entrance_id}"

    @property
    def label(self) -> str:
        return f"{self.kind} {self.id}"


# -- checking the arguments -----------------------------------------------------------------


def _check_options(
    frame: Any,
    send_id: Any,
    dry_run: Any,
    max_recipients: Any,
    duplicates: Any,
    progress: Any,
    big_ints: Any,
) -> str | None:
    check_progress(progress)
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    if not isinstance(dry_run, bool):
        raise ValidationError(f"dry_run must be True or False, not {dry_run!r}")
    check_choice("duplicates", duplicates, DUPLICATE_POLICIES)
    check_choice("big_ints", big_ints, BIG_INT_POLICIES)
    if max_recipients is not None:
        positive_int(max_recipients, "max_recipients")
    if send_id is None:
        return None
    if isinstance(send_id, bool) or not isinstance(send_id, str | int | np.integer):
        raise ValidationError(f"send_id must be a string or an integer, not {send_id!r}")
    text = str(send_id)
    if not text.strip():
        raise ValidationError("send_id must not be empty")
    return text


def check_recipients(n_rows: int, label: str, max_recipients: int | None) -> None:
    """Refuse to trigger `label` ("campaign 7") for more than `max_recipients` rows (the
    engines count a whole distributed frame with this, before any task sends)."""
    if max_recipients is not None and n_rows > max_recipients:
        raise ValidationError(
            f"refusing to trigger {label} for {n_rows:,} rows: that is more than "
            f"{spell.option('max_recipients', max_recipients)}. If every row is meant to "
            f"receive it, pass {spell.option('max_recipients', n_rows)} (or more); "
            "otherwise filter the frame first."
        )


def _attribute_names(
    frame: pd.DataFrame, attributes: Sequence[Hashable] | Mapping[Hashable, str] | None
) -> dict[Hashable, str]:
    """`{column: attribute name}` from `attributes=` (a list of columns, or a dict).

    A listed column is named after its header, and one that spells a conventional `data`
    key otherwise (`First Name`) takes that key (`first_name`), as an upsert files it,
    unless another listed column already has that name."""
    if attributes is None:
        return {}
    pairs = named_columns(frame.columns, attributes, option="attributes", meaning="attribute name")
    if not isinstance(attributes, Mapping):
        for column, target in conventional_keys(pairs, set(pairs.values())).items():
            pairs[column] = target.removeprefix("data.")
    for column, name in pairs.items():
        if name in _RESERVED:
            raise ValidationError(
                f"attribute {name!r} (column {column!r}) clashes with the user field of that "
                + (
                    "name; first-class fields come from the file's columns or --map: leave "
                    "the column out of --attributes"
                    if spell.is_cli()
                    else "name; first-class fields come from the frame's columns or mapping=, "
                    f"so give the attribute another name: attributes={{{column!r}: 'other_name'}}"
                )
            )
    return pairs


def _user_fields(frame: pd.DataFrame, mapping: MappingSpec | None) -> dict[str, Hashable]:
    resolved = resolve_mapping(frame.columns, mapping, fields=TRIGGER_FIELDS, rest_to_data=False)
    if resolved.data:
        columns = sorted(map(str, resolved.data.values()))
        example = "--attributes Plan" if spell.is_cli() else "attributes={'Plan': 'plan'}"
        raise ValidationError(
            f"the mapping sends column(s) {columns} to data: in a trigger, custom attributes "
            f"come only from {spell.option('attributes')} (e.g. {example}); the mapping is "
            f"for the user fields {', '.join(TRIGGER_FIELDS)}"
        )
    if "external_id" not in resolved.fields:
        raise ValidationError(
            missing_id_message(frame.columns, "external_id, which a trigger needs for every user")
        )
    return resolved.fields


# -- building the request bodies -----------------------------------------------------------


def _normalise(field: str, values: pd.Series, column: Hashable, region: str | None) -> FieldResult:
    if field == "device_token":
        # a token is opaque text: the id rules (strings kept, integers as text) fit it
        return normalize_id(values, "device_token", column=column)
    return normalize_field(field, values, default_region=region, column=column)


@dataclass
class _Events:
    """The event of every row: one shared value, or per-row values (MISSING = no event)."""

    shared: Any
    per_row: list[Any] | None
    problems: list[tuple[str, str, dict[int, str]]]

    def at(self, position: int) -> Any:
        return self.shared if self.per_row is None else self.per_row[position]


def _events(
    frame: pd.DataFrame, event: EventSpec, *, default: Any, big_ints: BigIntPolicy
) -> _Events:
    n = len(frame)
    if event is None:
        return _Events(default, None, [])
    if isinstance(event, Mapping):
        try:
            encoded = encode_object(event, nulls="omit", big_ints=big_ints)
        except UnencodableValue as exc:
            raise ValidationError(f"event cannot be sent as JSON: {exc}") from None
        return _Events(encoded, None, [])
    if callable(event):
        values: list[Any] = [MISSING] * n
        messages: dict[int, str] = {}
        unencodable: dict[int, str] = {}
        for position in range(n):
            try:
                produced = event(frame.iloc[position])
            except Exception as exc:  # a row's failure is data, not a crash
                messages[position] = f"event(row) raised {type(exc).__name__}: {exc}"
                continue
            if produced is None:
                values[position] = default
                continue
            if not isinstance(produced, Mapping):
                messages[position] = (
                    f"event(row) must return a dict (or None), not {type(produced).__name__}"
                )
                continue
            try:
                values[position] = encode_object(produced, nulls="omit", big_ints=big_ints)
            except UnencodableValue as exc:
                unencodable[position] = f"event: {exc}"
        return _Events(
            None,
            values,
            [("event", CODE_EVENT_ERROR, messages), ("event", CODE_NOT_ENCODABLE, unencodable)],
        )
    if isinstance(event, str) or not isinstance(event, Sequence):
        raise ValidationError(
            "event must be a dict (the same for every row), a list of column names (per-row "
            f"values) or a function row -> dict, not {event!r}"
        )
    columns = list(frame.columns)
    problems: list[tuple[str, str, dict[int, str]]] = []
    encoded_columns: list[tuple[str, Sequence[Any] | np.ndarray]] = []
    for column in event:
        if column not in columns:
            raise ValidationError(
                f"event names column {column!r}, which is not in the frame; columns are {columns!r}"
            )
        if columns.count(column) > 1:
            raise ValidationError(f"the frame has several columns labelled {column!r}")
        enc = encode_column(frame[column], nulls="omit", column=str(column), big_ints=big_ints)
        if enc.messages:
            problems.append((f"event.{column}", CODE_NOT_ENCODABLE, enc.messages))
        encoded_columns.append((str(column), enc.values))
    per_row = [
        {name: vals[i] for name, vals in encoded_columns if vals[i] is not MISSING}
        for i in range(n)
    ]
    return _Events(None, per_row, problems)


@dataclass
class _Prepared:
    index: pd.Index
    external_id: np.ndarray
    sendable: np.ndarray
    bodies: list[bytes]
    keys: list[str]
    problems: list[RowProblem]


def _prepare(
    frame: pd.DataFrame,
    target: _Target,
    *,
    event: EventSpec,
    attributes: Sequence[Hashable] | Mapping[Hashable, str] | None,
    mapping: MappingSpec | None,
    send_id: str | None,
    default_region: str | None,
    duplicates: DuplicatePolicy,
    big_ints: BigIntPolicy,
) -> _Prepared:
    n = len(frame)
    fields = _user_fields(frame, mapping)
    warn_numeric_ids(frame, fields)
    attribute_names = _attribute_names(frame, attributes)
    sources: list[tuple[str, str, dict[int, str]]] = []

    user_columns: list[tuple[str, np.ndarray, np.ndarray]] = []
    external_id: np.ndarray = np.full(n, None, dtype=object)
    has_id = np.zeros(n, dtype=bool)
    for field, column in fields.items():
        res = _normalise(field, frame[column], column, default_region)
        sources.append((field, CODE_INVALID, res.messages))
        if field == "external_id":
            external_id = np.asarray(res.values, dtype=object)
            has_id = ~res.missing & ~res.invalid
        user_columns.append((field, res.values, res.missing | res.invalid))
        if res.extensions is not None and EXTENSION_KEY not in attribute_names.values():
            # E.164 has no room for an extension: it rides along as an attribute, which
            # lands in the user's data as an upsert would put it.
            no_extension = np.asarray(pd.isna(res.extensions), dtype=bool)
            user_columns.append((EXTENSION_KEY, res.extensions, no_extension))

    attribute_columns: list[tuple[str, Sequence[Any] | np.ndarray]] = []
    for column, name in attribute_names.items():
        enc = encode_column(frame[column], nulls="omit", column=str(column), big_ints=big_ints)
        if enc.messages:
            sources.append((name, CODE_NOT_ENCODABLE, enc.messages))
        attribute_columns.append((name, enc.values))

    default_event: Any = {} if target.kind == "campaign" else None
    events = _events(frame, event, default=default_event, big_ints=big_ints)
    sources.extend(events.problems)

    bad, problem = combine_problems(n, sources)
    problems = [problem] if problem is not None else []
    no_id = ~bad & ~has_id
    if no_id.any():
        pos = np.flatnonzero(no_id)
        problems.append(
            RowProblem(
                positions=pos,
                status="invalid",
                codes=np.full(len(pos), CODE_NO_ID, dtype=object),
                fields=np.full(len(pos), "external_id", dtype=object),
                messages=np.full(
                    len(pos), "the row has no external_id; a trigger needs one", dtype=object
                ),
            )
        )
    candidates = np.flatnonzero(~bad & has_id)

    bodies: dict[int, bytes] = {}
    for position in candidates.tolist():
        user: dict[str, Any] = {}
        for field, values, gap in user_columns:
            if not gap[position]:
                user[field] = values[position]
        for name, encoded in attribute_columns:
            value = encoded[position]
            if value is not MISSING:
                user[name] = value
        body: dict[str, Any] = {"user": user, "event": events.at(position)}
        if target.entrance_id is not None:
            body["entrance_id"] = target.entrance_id
        # sorted keys: the same row gives the same bytes on every run, so the same key
        bodies[position] = orjson.dumps(
            body, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY
        )

    dropped, dup_problems = duplicate_problems(
        candidates,
        external_id,
        "external_id",
        duplicates,
        frame.index,
        lambda position: orjson.Fragment(bodies[position]),
    )
    problems.extend(dup_problems)
    sendable = np.array([p for p in candidates.tolist() if not dropped[p]], dtype=np.int64)
    sent_bodies = [bodies[p] for p in sendable.tolist()]
    keys = [
        idempotency_key(target.key_prefix, external_id[p], send_id, body)
        for p, body in zip(sendable.tolist(), sent_bodies, strict=True)
    ]
    return _Prepared(frame.index, external_id, sendable, sent_bodies, keys, problems)


# -- the target ------------------------------------------------------------------------------


def _check_campaign(campaign_id: int, client: Client) -> None:
    campaign = fetch_campaign(campaign_id, client=client)
    name = f" ({campaign['name']!r})" if campaign.get("name") else ""
    kind, state = campaign.get("type"), campaign.get("state")
    if kind is not None and kind != "trigger":
        raise TargetStateError(
            f"campaign {campaign_id}{name} is a {kind} campaign: only campaigns of type "
            "'trigger' can be sent per user. Pick a trigger campaign "
            "(spotzee_frames.campaigns(type='trigger') lists them). Nothing was sent.",
            state=state,
        )
    if state == "draft":
        raise TargetStateError(
            f"campaign {campaign_id}{name} is in state 'draft', and a draft cannot be "
            f"triggered. Promote it with {spell.call('schedule_campaign', campaign_id)} "
            "(or in the Spotzee UI), then run this again. Nothing was sent.",
            state=state,
        )
    if state in _STOPPED:
        # The contract refuses these too (409); checked here as well because a lenient
        # server (a self-hosted Parcelvoy) sends whatever the campaign's state.
        raise TargetStateError(
            f"campaign {campaign_id}{name} is in state {state!r}: it no longer sends. "
            "Pick a running trigger campaign (spotzee_frames.campaigns(type='trigger') "
            "lists them). Nothing was sent.",
            state=state,
        )


# Campaign states that take no more sends (the contract's 409 for a trigger).
_STOPPED = frozenset({"finished", "aborting", "aborted"})


def _check_journey(journey_id: int, client: Client) -> None:
    journey = fetch_journey(journey_id, client=client)
    name = f" ({journey['name']!r})" if journey.get("name") else ""
    status = journey_status(journey)
    if status is not None and status != "live":
        # Checked here, not left to the server: a self-hosted Parcelvoy enters users into
        # an unpublished journey without a word.
        said = f"{status!r}" if journey.get("status") == status else "not published"
        raise TargetStateError(
            f"journey {journey_id}{name} is {said}: only live journeys accept entrances. "
            "Set it live in the Spotzee UI (open the journey and publish it), then run this "
            "again. Nothing was sent.",
            state=status,
        )


# -- sending ---------------------------------------------------------------------------------


def _message(error: SpotzeeError, send_id: str | None) -> str:
    code = getattr(error, "code", None)
    if code == "idempotency_key_mismatch":
        if send_id is not None:
            return (
                f"{spell.option('send_id', send_id)} was already used for this user with "
                "different data (event or attributes changed since): the server refused to "
                f"send again. Use a new {spell.option('send_id')} to send deliberately, or "
                "re-run with the original data."
            )
        return "the idempotency key was already used with a different body; nothing was sent"
    return getattr(error, "message", None) or str(error)


def _operation(prepared: _Prepared, target: _Target, *, send_id: str | None) -> Operation:
    """A trigger as the runner sees it: one keyed POST per sendable row."""
    sendable = prepared.sendable
    where = {int(p): i for i, p in enumerate(sendable.tolist())}

    def call_for(row: int) -> Call:
        i = where[row]
        return Call(
            "POST", target.path, content=prepared.bodies[i], idempotency_key=prepared.keys[i]
        )

    def record(builder: ResultBuilder, planned: Planned, outcome: Outcome) -> None:
        record_one(
            builder,
            planned.rows,
            outcome,
            ok_status="triggered",
            message=lambda error: _message(error, send_id),
        )

    def keys(rows: np.ndarray) -> np.ndarray:
        out = np.empty(len(rows), dtype=object)
        out[:] = [prepared.keys[where[row]] for row in rows.tolist()]
        return out

    return Operation(
        name="trigger",
        desc=f"trigger {target.label}",
        rows=sendable,
        plan=lambda rows: one_per_row(rows, call_for),
        record=record,
        success=frozenset({"triggered"}),
        drop_columns=("batch",),  # triggers have no batches: one call per row
        resend=(
            "running the same call again is safe: the idempotency keys make applied rows "
            "replay instead of sending twice"
        ),
        # A trigger is one send: its key (target, user, send_id) is its ledger item, and
        # once confirmed it is never sent again, even past the server's 24 hours.
        ledger=LedgerSpec(
            route=f"POST {target.path}",
            items=keys,
            item_bytes=lambda rows: [prepared.bodies[where[row]] for row in rows.tolist()],
            once=True,
            skip_status="already_triggered",
        ),
    )


def _trigger(
    frame: pd.DataFrame,
    target: _Target,
    check_target: Callable[[Client], None],
    *,
    event: EventSpec,
    attributes: Sequence[Hashable] | Mapping[Hashable, str] | None,
    mapping: MappingSpec | None,
    send_id: Any,
    dry_run: bool,
    max_recipients: int | None,
    progress: ProgressLike,
    client: Client | None,
    default_region: str | None,
    duplicates: DuplicatePolicy,
    big_ints: BigIntPolicy,
    ledger: str | os.PathLike[str] | Ledger | None,
) -> pd.DataFrame:
    send_key = _check_options(
        frame, send_id, dry_run, max_recipients, duplicates, progress, big_ints
    )
    path = check_ledger(ledger, False)
    default_region = check_region(default_region)
    check_recipients(len(frame), target.label, max_recipients)
    prepared = _prepare(
        frame,
        target,
        event=event,
        attributes=attributes,
        mapping=mapping,
        send_id=send_key,
        default_region=default_region,
        duplicates=duplicates,
        big_ints=big_ints,
    )
    api = resolve_client(client)
    check_target(api)  # before anything is sent; raises TargetStateError / NotFoundError

    builder = ResultBuilder(
        prepared.index, statuses=STATUSES, initial="interrupted", extra={"replayed": "boolean"}
    )
    builder.set_text("external_id", slice(None), prepared.external_id)
    builder.set_problems(prepared.problems)
    op = _operation(prepared, target, send_id=send_key)
    if dry_run:
        builder.set_status(prepared.sendable, "valid")
        if path is not None and len(prepared.sendable):  # what the ledger would keep back
            look(op, builder, api, ledger=path, only_changed=False)
        return result_frame(builder, "trigger", ("batch",))
    return run(op, builder, api, progress=progress, ledger=path)


def trigger_campaign(
    frame: pd.DataFrame,
    campaign_id: int,
    *,
    event: EventSpec = None,
    attributes: Sequence[Hashable] | Mapping[Hashable, str] | None = None,
    mapping: MappingSpec | None = None,
    send_id: str | int | None = None,
    dry_run: bool = False,
    max_recipients: int | None = 10_000,
    progress: ProgressLike = None,
    client: Client | None = None,
    default_region: str | None = None,
    duplicates: DuplicatePolicy = "reject",
    big_ints: BigIntPolicy = "invalid",
    ledger: str | os.PathLike[str] | Ledger | None = None,
) -> pd.DataFrame:
    """Trigger campaign `campaign_id` once for each row of `frame`; one call per row.

    The user of each row is its `external_id` (required) and first-class fields (`email`,
    `phone`, `timezone`, `locale`, `device_token`: columns of those names, or `mapping=`,
    normalised as `upsert` does), plus custom attributes from the columns named in
    `attributes=` only (a list of columns, or `{column: attribute name}`). `event` is a
    dict (the same for every row), a list of column names, or a function `row -> dict`;
    it is sent as `{}` when not given.

    The campaign is looked up first: a draft or a non-`trigger` campaign raises
    `TargetStateError` and nothing is sent. More rows than `max_recipients` (None: no
    limit) raises `ValidationError`. Rows sharing an external_id follow `duplicates=`
    (as in `upsert`: identical rows are sent once and the copies `skipped`; conflicting
    ones are all `invalid` unless `"first"`/`"last"` says which to send).

    Integers beyond ±(2**53 - 1) in attributes or the event follow `big_ints=` as in
    `upsert`: by default the row is `invalid` (a server reading JSON numbers as doubles
    would get another number), with `"string"` they are sent as exact text.

    Every call carries a deterministic idempotency key (see the module docstring), so
    re-running the call never sends twice; pass a new `send_id` to send again on purpose.
    The server keeps keys for 24 hours; `ledger="sends.ledger"` (a file, created on the
    first run) keeps "never twice" beyond that and across crashes: a row confirmed for
    this target and `send_id` is never sent again (`already_triggered`), each call is
    recorded before it is sent, and a run killed at any point resends its unanswered
    calls under their keys. A recorded call older than 23 hours, or to a server that
    shows no sign of honouring idempotency keys, is not resent: its row is
    `unconfirmed` until `spotzee_frames.Ledger(path).resolve(key, applied=…)` settles it.
    (On a server that ignores the key, such as a self-hosted Parcelvoy, the client warns
    once with `IdempotencyNotHonouredWarning`: there a re-run without a ledger sends
    again; with one, a confirmed row is never sent again and an unanswered one waits.)

    Returns one row per input row, indexed like `frame`: `status` (`triggered`,
    `already_triggered`, `valid` on a dry run, `invalid`, `skipped`, `rejected`,
    `failed`, `interrupted`, `unconfirmed`), `error_code`, `error_field`,
    `error_message`, `external_id`, `attempts`, `request_id`, `replayed`.
    """
    target = _Target("campaign", positive_int(campaign_id, "campaign_id"))
    return _trigger(
        frame,
        target,
        lambda api: _check_campaign(target.id, api),
        event=event,
        attributes=attributes,
        mapping=mapping,
        send_id=send_id,
        dry_run=dry_run,
        max_recipients=max_recipients,
        progress=progress,
        client=client,
        default_region=default_region,
        duplicates=duplicates,
        big_ints=big_ints,
        ledger=ledger,
    )


def trigger_journey(
    frame: pd.DataFrame,
    journey_id: int,
    *,
    entrance_id: int,
    event: EventSpec = None,
    attributes: Sequence[Hashable] | Mapping[Hashable, str] | None = None,
    mapping: MappingSpec | None = None,
    send_id: str | int | None = None,
    dry_run: bool = False,
    max_recipients: int | None = 10_000,
    progress: ProgressLike = None,
    client: Client | None = None,
    default_region: str | None = None,
    duplicates: DuplicatePolicy = "reject",
    big_ints: BigIntPolicy = "invalid",
    ledger: str | os.PathLike[str] | Ledger | None = None,
) -> pd.DataFrame:
    """Enter each row of `frame` into journey `journey_id` at step `entrance_id`.

    Same options and result as `trigger_campaign`; the journey must be `live`
    (otherwise `TargetStateError`, nothing sent), and `event` is sent as null when not
    given.
    """
    entrance = exact_id(positive_int(entrance_id, "entrance_id"), "entrance_id")
    target = _Target("journey", positive_int(journey_id, "journey_id"), entrance)
    return _trigger(
        frame,
        target,
        lambda api: _check_journey(target.id, api),
        event=event,
        attributes=attributes,
        mapping=mapping,
        send_id=send_id,
        dry_run=dry_run,
        max_recipients=max_recipients,
        progress=progress,
        client=client,
        default_region=default_region,
        duplicates=duplicates,
        big_ints=big_ints,
        ledger=ledger,
    )
