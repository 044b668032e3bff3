"""Frame → per-row upsert payloads, plus the reason each row that cannot be sent is held back.

Runs column by column: each first-class column through its normaliser, each data column
through the encoder, then one pass decides which rows are sendable (every value usable,
an identifier present, the duplicate policy satisfied). Request bodies are written lazily,
a slice at a time, from the sendable rows only, so batches are always full: `body()` goes
from the columns to msgspec Structs to bytes; `payloads()` builds the same rows as dicts
(for previews and dry runs), and encoding those gives exactly the same bytes.

Duplicate policy (`duplicates=`), applied to rows that are otherwise valid and share an
identity (their `external_id`, or their `anonymous_id` when they have no `external_id`):

- `"reject"` (default): rows whose payloads differ are all held back as `invalid` with
  code `duplicate_external_id` and a message naming the other rows, so nothing is sent in
  an arbitrary order and nothing is lost silently; rows that are exact copies of each
  other are not a conflict: the first is sent and the copies are `skipped`.
- `"first"` / `"last"`: the first / last of the rows is sent; the others are `skipped`
  with code `duplicate_external_id` and a message naming the row that was sent.
"""

from __future__ import annotations

import bisect
import contextvars
import gc
import itertools
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
import numpy as np
import orjson
import pandas as pd

from . import _spelling as spell
from ._batching import encode_body
from ._encoding import (
    BIG_INT_POLICIES,
    MISSING,
    NULL_POLICIES,
    BigIntPolicy,
    NullPolicy,
    encode_column,
)
from ._errors import ValidationError
from ._mapping import (
    FIRST_CLASS,
    ID_FIELDS,
    MappingSpec,
    ResolvedMapping,
    id_suggestions,
    resolve_mapping,
)
from ._normalize import FieldResult, normalize_field
from ._results import STATUSES, ResultBuilder, place_word
from ._schema import (
    DTYPE_CHECK,
    FIELD_FAMILIES,
    IDENTITY_CHECK,
    identity_schema,
    row_failures,
    source_schema,
)
from ._warnings import NumericIdWarning, warn

__all__ = [
    "DUPLICATE_POLICIES",
    "INVALID_FIELD_POLICIES",
    "OMITTABLE_FIELDS",
    "DuplicatePolicy",
    "InvalidFieldPolicy",
    "Prepared",
    "RowProblem",
    "combine_problems",
    "duplicate_problems",
    "external_ids",
    "missing_id_message",
    "prepare",
    "split_invalid_fields",
    "warn_numeric_ids",
]

DuplicatePolicy = Literal["reject", "first", "last"]
DUPLICATE_POLICIES: tuple[str, ...] = ("reject", "first", "last")
InvalidFieldPolicy = Literal["omit", "reject"]
INVALID_FIELD_POLICIES: tuple[str, ...] = ("omit", "reject")
#: Fields a row may be sent without when their value is unusable (`invalid_fields="omit"`);
#: never an id: without it the row would be another user, or none.
OMITTABLE_FIELDS: tuple[str, ...] = ("email", "phone", "timezone", "locale")
#: Where a phone's extension goes, since E.164 has no room for one.
EXTENSION_KEY = "phone_extension"

# Error codes for rows held back before sending (the server's own codes where one fits).
CODE_INVALID = "parameter_invalid_format"
CODE_NO_ID = "parameter_missing"
CODE_NOT_ENCODABLE = "value_not_encodable"
CODE_DUPLICATE = "duplicate_external_id"
CODE_EXTENSION_NOT_SENT = "phone_extension_not_sent"

#: One column's problems: (target, error code, {row position: message}).
Source = tuple[str, str, dict[int, str]]
Sources = list[Source]


@dataclass(frozen=True)
class RowProblem:
    """Why rows are held back: parallel arrays over the affected row positions."""

    positions: np.ndarray
    status: str
    codes: np.ndarray
    fields: np.ndarray
    messages: np.ndarray


# Items one per line: JSON never holds a raw newline, so the lines are the items.
_LINES = msgspec.json.Encoder()


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic collector while building many small dicts.

    Millions of fresh containers trigger full collections over and over, which makes the
    build several times slower; none of them can form a cycle, so nothing is missed.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _compile_structs(top_keys: list[str], data_keys: list[str]) -> Any:
    """A function turning row tuples into msgspec Structs that encode to the payloads.

    A Struct is cheaper to make than a dict and to encode, and a field holding `MISSING`
    (msgspec's `UNSET`) is left out as it is encoded: no keys to delete afterwards. Fields
    are named `k0`, `d0`…, renamed to the real keys, which never appear in the source.
    Instances are not tracked by the garbage collector: they hold JSON-ready values only,
    which cannot form a cycle.
    """
    data_names = [f"d{i}" for i in range(len(data_keys))]
    top_names = [f"k{i}" for i in range(len(top_keys))]
    fields: list[tuple[str, type, Any]] = [(k, object, MISSING) for k in top_names]
    namespace: dict[str, Any] = {}
    top_args = [f"v{i}" for i in range(len(top_keys))]
    data_args = [f"w{i}" for i in range(len(data_keys))]
    args = list(top_args)
    if data_keys:
        namespace["Data"] = msgspec.defstruct(
            "Data",
            [(k, object, MISSING) for k in data_names],
            rename=dict(zip(data_names, data_keys, strict=True)),
            gc=False,
        )
        fields.append(("data", object, MISSING))
        args.append(f"Data({', '.join(data_args)})")
    namespace["Payload"] = msgspec.defstruct(
        "Payload", fields, rename=dict(zip(top_names, top_keys, strict=True)), gc=False
    )
    targets = ", ".join([*top_args, *data_args]) + ","
    source = f"def build(rows):\n    return [Payload({', '.join(args)}) for {targets} in rows]\n"
    exec(source, namespace)
    return namespace["build"]


@dataclass
class Prepared:
    """Everything known about a frame before sending.

    `sendable` holds the positions (in the input frame) of the rows that will be sent, in
    frame order; `payloads(start, stop)` builds the payload dicts of `sendable[start:stop]`.
    `problems` explains every row that is held back; `warnings` the rows sent without a
    field (`invalid_fields="omit"`, an extension with nowhere to go). `notes` say which
    headers were matched to a field by name (`'First Name' → data.first_name`).
    `external_id` and `anonymous_id` are the rows' normalised ids (None where absent), by
    input position.
    """

    index: pd.Index
    mapping: ResolvedMapping
    nulls: str
    sendable: np.ndarray
    external_id: np.ndarray
    problems: list[RowProblem]
    warnings: RowProblem | None
    notes: list[str]
    _columns: list[np.ndarray] = field(repr=False)
    _structs: Any = field(repr=False)
    _empty_data: list[int] = field(repr=False)
    anonymous_id: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        return len(self.index)

    @property
    def n_sendable(self) -> int:
        return len(self.sendable)

    def payloads(self, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
        """Payload dicts of the sendable rows `start:stop` (all of them by default): exactly
        what `body` sends, read back."""
        if stop is None:
            stop = self.n_sendable
        out: list[dict[str, Any]] = []
        with _no_gc():
            for lo in range(start, stop, self._CHUNK):  # a chunk of bodies at a time
                out.extend(msgspec.json.decode(self.body(lo, min(lo + self._CHUNK, stop))))
        return out

    def body(self, start: int = 0, stop: int | None = None) -> bytes:
        """The exact request body (a JSON array) for the sendable rows `start:stop`."""
        if stop is None:
            stop = self.n_sendable
        with _no_gc():
            rows = self._structs(self._rows(start, stop))
            empty = self._empty_data
            lo, hi = bisect.bisect_left(empty, start), bisect.bisect_left(empty, stop)
            for at in empty[lo:hi]:
                rows[at - start].data = MISSING  # no data value at all: no `data` key
            return encode_body(rows)

    def body_at(self, items: np.ndarray) -> bytes:
        """The exact body for the sendable rows at positions `items` (ascending) of
        `sendable`: the same bytes `body` writes for them when they are contiguous."""
        positions = np.asarray(items, dtype=np.int64)
        with _no_gc():
            rows = self._structs(
                list(zip(*(c[positions].tolist() for c in self._columns), strict=True))
            )
            for at in np.flatnonzero(np.isin(positions, self._empty_data)).tolist():
                rows[at].data = MISSING  # no data value at all: no `data` key
            return encode_body(rows)

    def items_at(self, items: np.ndarray) -> list[bytes]:
        """The exact bytes of each item at positions `items` of `sendable`, in that order:
        the elements `body` writes between the commas of its array."""
        positions = np.asarray(items, dtype=np.int64)
        empty = np.asarray(self._empty_data, dtype=np.int64)
        out: list[bytes] = []
        with _no_gc():
            for lo in range(0, len(positions), self._CHUNK):
                part = positions[lo : lo + self._CHUNK]
                if (np.diff(part) == 1).all():  # contiguous: slices, no gather
                    start, stop = int(part[0]), int(part[-1]) + 1
                    values = [c[start:stop].tolist() for c in self._columns]
                else:
                    values = [c[part].tolist() for c in self._columns]
                rows = self._structs(list(zip(*values, strict=True)))
                if len(empty):
                    at = np.minimum(np.searchsorted(empty, part), len(empty) - 1)
                    for hit in np.flatnonzero(empty[at] == part).tolist():
                        rows[hit].data = MISSING  # no data value at all: no `data` key
                out.extend(_LINES.encode_lines(rows).split(b"\n")[:-1])
        return out

    _CHUNK = 8192

    def _rows(self, start: int, stop: int) -> list[tuple[Any, ...]]:
        """The value tuples of the sendable rows `start:stop`.

        Batches are asked for in order, so a chunk of each column becomes a list once and
        one zip over the chunk hands out each batch's rows in turn (cheaper than a
        `tolist` or a slice per column per batch, and small batches are built and encoded
        while they are still in the CPU cache). Any other request starts a new chunk.
        """
        chunk = self.__dict__.get("_chunk")
        if chunk is None or chunk[0] != start or stop > chunk[1]:
            if stop - start >= self._CHUNK:
                return list(zip(*(c[start:stop].tolist() for c in self._columns), strict=True))
            hi = min(start + self._CHUNK, self.n_sendable)
            rows = zip(*(c[start:hi].tolist() for c in self._columns), strict=True)
            chunk = [start, hi, rows]
            self.__dict__["_chunk"] = chunk
        out = list(itertools.islice(chunk[2], stop - start))
        chunk[0] = stop
        return out

    def result_builder(
        self,
        *,
        sendable_status: str = "interrupted",
        extra: dict[str, str] | None = None,
        statuses: Sequence[str] = STATUSES,
    ) -> ResultBuilder:
        """A result builder with the held-back rows filled in, sendable rows at a status."""
        builder = ResultBuilder(
            self.index, statuses=statuses, initial=sendable_status, extra=extra, warnings=True
        )
        builder.set_text("external_id", slice(None), self.external_id)
        if self.warnings is not None:
            builder.set_warning(
                self.warnings.positions,
                self.warnings.codes,
                field=self.warnings.fields,
                message=self.warnings.messages,
            )
        builder.set_problems(self.problems)
        return builder


def _label(index: pd.Index, position: int) -> str:
    """How a row is named in messages: its index label as the user would type it."""
    label = index[position]
    if isinstance(label, np.generic):
        label = label.item()
    return repr(label)


def combine_problems(
    n: int,
    sources: Sequence[Source],
    *,
    only: np.ndarray | None = None,
    all_fields: bool = False,
    status: str = "invalid",
) -> tuple[np.ndarray, RowProblem | None]:
    """Combine per-column problems: per row the first field's code, all the messages
    (and with `all_fields`, every field named, `email, phone`). `only` (a row mask)
    leaves the other rows out."""
    bad = np.zeros(n, dtype=bool)
    first: dict[int, tuple[str, str]] = {}
    texts: dict[int, list[str]] = {}
    names: dict[int, list[str]] = {}
    for target, code, messages in sources:
        for pos, msg in messages.items():
            if only is not None and not only[pos]:
                continue
            if pos not in first:
                first[pos] = (target, code)
                texts[pos] = [msg]
                names[pos] = [target]
            else:
                texts[pos].append(msg)
                if target not in names[pos]:
                    names[pos].append(target)
    if not first:
        return bad, None
    positions = np.fromiter(first, dtype=np.int64, count=len(first))
    order = np.argsort(positions)
    positions = positions[order]
    bad[positions] = True
    if all_fields:
        fields = np.array([", ".join(names[int(p)]) for p in positions], dtype=object)
    else:
        fields = np.array([first[int(p)][0] for p in positions], dtype=object)
    codes = np.array([first[int(p)][1] for p in positions], dtype=object)
    msgs = np.array(["; ".join(texts[int(p)]) for p in positions], dtype=object)
    return bad, RowProblem(positions, status, codes, fields, msgs)


def split_invalid_fields(
    n: int,
    sources: Sequence[Source],
    omittable: Sequence[Source],
    invalid_fields: str,
    *,
    notices: Sequence[Source] = (),
) -> tuple[np.ndarray, RowProblem | None, RowProblem | None]:
    """Decide which rows are held back: (held back mask, why, the warnings of the rows
    that are sent).

    `sources` are problems that hold a row back whatever the policy; `omittable` those of
    fields a row can go without (`OMITTABLE_FIELDS`); `notices` never hold a row back
    (something the row is sent without, e.g. a phone extension with nowhere to go). With
    `invalid_fields="reject"` both `sources` and `omittable` hold rows back. With `"omit"`
    a row held back by nothing else is sent without those fields, and its warning says
    which were left out and why; a row held back anyway lists them among its reasons, so
    nothing is ever unexplained."""
    if invalid_fields == "reject":
        held, problem = combine_problems(n, [*sources, *omittable])
        sent_without: Sources = []
    else:
        held, _ = combine_problems(n, sources)
        problem = combine_problems(n, [*sources, *omittable], only=held)[1] if held.any() else None
        sent_without = [
            (target, code, {p: f"{m}; sent without {target}" for p, m in messages.items()})
            for target, code, messages in omittable
        ]
    _, warned = combine_problems(
        n, [*sent_without, *notices], only=~held, all_fields=True, status="sent"
    )
    return held, problem, warned


def _is_numeric(values: pd.Series) -> bool:
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return False
    if pd.api.types.is_numeric_dtype(dtype):
        return True
    if pd.api.types.is_object_dtype(dtype):
        head = values.iloc[:64].dropna()
        if len(head) and isinstance(head.iloc[0], str):
            return False  # text ids (the usual object column): no scan of every value
        kind = pd.api.types.infer_dtype(values, skipna=True)
        return kind in ("integer", "floating", "mixed-integer-float", "decimal")
    return False


def warn_numeric_ids(frame: pd.DataFrame, fields: Mapping[str, Hashable]) -> None:
    """One `NumericIdWarning` naming every id field fed by a numeric column: its ids were
    numbers before they were text, so any leading zeros are already gone."""
    numeric = [
        (name, fields[name])
        for name in ID_FIELDS
        if name in fields and _is_numeric(frame[fields[name]]) and frame[fields[name]].notna().any()
    ]
    if not numeric:
        return
    said = ", ".join(
        f"{name} comes from column {column!r} ({frame[column].dtype})" for name, column in numeric
    )
    column = numeric[0][1]
    if spell.is_cli():  # the CLI reads text as written: the file itself holds numbers
        fix = "store the ids as text in the file (a string column)"
    else:
        fix = (
            "read the file with spotzee_frames.read_file(path), which keeps ids as "
            f"written, or pd.read_csv(path, dtype={{{column!r}: str}}); if the ids really "
            f"are numbers, pass the column as text (df[{column!r}].astype('string'))"
        )
    warn(
        f"{said}, which holds numbers: any leading zeros were lost before they reached "
        f"this call (0000001 became 1 and is sent as '1', another user than '0000001'); "
        f"{fix}.",
        NumericIdWarning,
    )


def missing_id_message(columns: Iterable[Hashable], needs: str) -> str:
    """Why no row can be sent when no column gives an id: `needs` ("external_id or
    anonymous_id"), the columns that look like one (suggested, never picked), and how
    to map one."""
    columns = list(columns)
    suggested = id_suggestions(columns)
    example = suggested[0] if suggested else "CustomerID"
    if suggested:
        listed = ", ".join(repr(c) for c in suggested)
        looks = f"{listed} look{'s' if len(suggested) == 1 else ''} like an id; if it is, "
    else:
        looks = "name a column 'external_id' or "
    return (
        f"no column gives {needs}, so no row can be sent; {looks}map it: "
        f"{spell.mapping(example, 'external_id')}; columns are {columns!r}"
    )


def duplicate_problems(
    rows_in: np.ndarray,
    keys: np.ndarray,
    what: str,
    policy: str,
    index: pd.Index,
    payload_of: Any,
) -> tuple[np.ndarray, list[RowProblem]]:
    """Apply the duplicate policy to rows `rows_in` keyed by `keys[rows_in]` (ids of kind
    `what`); return the rows to hold back and why."""
    drop = np.zeros(len(index), dtype=bool)
    if not len(rows_in):
        return drop, []
    cand_keys = pd.Series(keys[rows_in], dtype=object)
    dup = cand_keys.duplicated(keep=False).to_numpy()
    if not dup.any():
        return drop, []
    problems: dict[int, tuple[str, str]] = {}
    codes, _ = pd.factorize(cand_keys[dup].to_numpy())
    dup_rows = rows_in[dup]
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    word = place_word(index)
    for group in np.split(order, bounds):
        rows = dup_rows[group]
        label = keys[rows[0]]
        if policy == "reject":
            bodies = {orjson.dumps(payload_of(int(r))) for r in rows}
            if len(bodies) == 1:
                kept = int(rows[0])
                for r in rows[1:]:
                    problems[int(r)] = (
                        "skipped",
                        f"same {what} {label!r} and same values as {word} {_label(index, kept)}, "
                        "which is sent",
                    )
            else:
                others = ", ".join(_label(index, int(r)) for r in rows)
                for r in rows:
                    problems[int(r)] = (
                        "invalid",
                        f"{what} {label!r} is on {word}s {others} with different values; "
                        f"keep one ({spell.option('duplicates', 'first')} or 'last') or fix "
                        "the data",
                    )
        else:
            kept = int(rows[0] if policy == "first" else rows[-1])
            for r in rows:
                if int(r) != kept:
                    problems[int(r)] = (
                        "skipped",
                        f"{what} {label!r} also on {word} {_label(index, kept)}, which is "
                        f"sent instead ({spell.option('duplicates', policy)})",
                    )
    out: list[RowProblem] = []
    for status in ("invalid", "skipped"):
        pos = np.array(sorted(p for p, (s, _) in problems.items() if s == status), dtype=np.int64)
        if not len(pos):
            continue
        drop[pos] = True
        field_name = np.full(len(pos), what, dtype=object)
        out.append(
            RowProblem(
                positions=pos,
                status=status,
                codes=np.full(len(pos), CODE_DUPLICATE, dtype=object),
                fields=field_name,
                messages=np.array([problems[int(p)][1] for p in pos], dtype=object),
            )
        )
    return drop, out


def _unreadable(frame: pd.DataFrame, resolved: ResolvedMapping, name: str) -> FieldResult:
    """The outcome for a column whose dtype cannot hold the field: rows with a value are
    invalid (the message names the dtype), the others missing."""
    column = resolved.fields[name]
    values = frame[column]
    na = np.asarray(values.isna(), dtype=bool)
    wanted = " or ".join(sorted(FIELD_FAMILIES[name]))
    where = name if column == name else f"{name} (column {column!r})"
    message = (
        f"{where}: a column of dtype {values.dtype} cannot hold {name} values; "
        f"it needs {wanted} values"
    )
    invalid = ~na
    return FieldResult(
        values=np.full(len(values), None, dtype=object),
        missing=na,
        invalid=invalid,
        messages=dict.fromkeys(np.flatnonzero(invalid).tolist(), message),
    )


def _surely_distinct(ids: np.ndarray, rows: np.ndarray) -> bool:
    """A cheap proof that the ids at `rows` never repeat (one hash-table pass over the
    strings). False means "maybe": the exact check then runs."""
    subset = ids if len(rows) == len(ids) else ids[rows]
    return bool(pd.Index(subset, dtype=object, copy=False).is_unique)


def external_ids(
    frame: pd.DataFrame, mapping: Mapping[Hashable, str | None] | None, *, purpose: str
) -> tuple[np.ndarray, list[tuple[str, str, dict[int, str]]]]:
    """Each row's `external_id` (a column named like it, or `mapping=`; normalised as ids
    are), None where it has none, and the problems of those rows (`combine_problems`
    sources). `purpose` completes "names the user …" in messages."""
    resolved = resolve_mapping(frame.columns, mapping, fields=("external_id",), rest_to_data=False)
    if "external_id" not in resolved.fields:
        raise ValidationError(
            missing_id_message(frame.columns, f"external_id, which names the user {purpose}")
        )
    warn_numeric_ids(frame, resolved.fields)
    column = resolved.fields["external_id"]
    ids = normalize_field("external_id", frame[column], column=column)
    missing = f"the row has no external_id, so it names no user {purpose}"
    sources = [
        ("external_id", CODE_NO_ID, dict.fromkeys(np.flatnonzero(ids.missing).tolist(), missing)),
        ("external_id", CODE_INVALID, ids.messages),
    ]
    return np.asarray(ids.values, dtype=object), sources


def check_choice(name: str, value: Any, choices: Iterable[str]) -> None:
    """Raise ValidationError unless `value` is one of `choices`, listing them."""
    options = tuple(choices)
    if not isinstance(value, str) or value not in options:
        listed = ", ".join(repr(c) for c in options)
        raise ValidationError(f"{name} must be one of {listed}; got {value!r}")


@_no_gc()  # a context manager from contextlib also decorates
def prepare(
    frame: pd.DataFrame,
    mapping: MappingSpec | None = None,
    *,
    nulls: NullPolicy = "omit",
    default_region: str | None = None,
    exclude: Iterable[Hashable] | Hashable | None = (),
    duplicates: DuplicatePolicy = "reject",
    invalid_fields: InvalidFieldPolicy = "reject",
    big_ints: BigIntPolicy = "invalid",
) -> Prepared:
    """Validate, normalise and encode a frame of contacts; see the module docstring.
    `big_ints` says what becomes of data integers beyond ±(2**53 - 1) (see `_encoding`)."""
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    check_choice("nulls", nulls, NULL_POLICIES)
    check_choice("duplicates", duplicates, DUPLICATE_POLICIES)
    check_choice("invalid_fields", invalid_fields, INVALID_FIELD_POLICIES)
    check_choice("big_ints", big_ints, BIG_INT_POLICIES)
    resolved = resolve_mapping(frame.columns, mapping, exclude=exclude)
    if not any(f in resolved.fields for f in ID_FIELDS):
        raise ValidationError(missing_id_message(frame.columns, "external_id or anonymous_id"))
    warn_numeric_ids(frame, resolved.fields)
    n = len(frame)
    index = frame.index
    null = MISSING if nulls == "omit" else None
    sources: Sources = []
    omittable: Sources = []

    top_keys: list[str] = []
    top_cols: list[np.ndarray] = []
    data_missing: list[np.ndarray] = []  # per data key: where it is left out
    ids: dict[str, np.ndarray] = {}
    id_ok: dict[str, np.ndarray] = {}
    # pandera checks each first-class column's dtype; a column that cannot hold its field
    # makes its rows invalid instead of being read.
    sources_view = pd.DataFrame(
        {name: frame[column].array for name, column in resolved.fields.items()}, copy=False
    )
    unreadable = row_failures(source_schema({f: f for f in resolved.fields}), sources_view)
    unreadable_fields = {f for f in resolved.fields if f"{DTYPE_CHECK}:{f}" in unreadable}

    # Columns are independent: work on two at a time. Most of the work happens in Arrow
    # and numpy, which release the GIL, so a second core really helps.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="spotzee-prepare") as pool:
        # The slow ones first, so that neither thread is left with a long one at the end.
        order = sorted(
            (name for name in FIRST_CLASS if name in resolved.fields),
            key=lambda name: name not in ("email", "phone"),
        )
        data_order = sorted(
            resolved.data,
            key=lambda key: frame[resolved.data[key]].dtype.kind not in "MmO",
        )
        field_jobs = {
            name: pool.submit(
                contextvars.copy_context().run,  # messages keep the caller's spelling
                normalize_field,
                name,
                frame[resolved.fields[name]],
                default_region=default_region,
                column=resolved.fields[name],
            )
            for name in order
            if f"{DTYPE_CHECK}:{name}" not in unreadable
        }
        data_jobs = {
            key: pool.submit(
                contextvars.copy_context().run,
                encode_column,
                frame[resolved.data[key]],
                nulls=nulls,
                column=str(resolved.data[key]),
                big_ints=big_ints,
            )
            for key in data_order
        }
        field_results = {
            n: field_jobs[n].result() if n in field_jobs else _unreadable(frame, resolved, n)
            for n in FIRST_CLASS
            if n in resolved.fields
        }
        data_results = {key: data_jobs[key].result() for key in resolved.data}

    for name, res in field_results.items():
        if name in OMITTABLE_FIELDS and name not in unreadable_fields:
            omittable.append((name, CODE_INVALID, res.messages))
        else:
            sources.append((name, CODE_INVALID, res.messages))
        values = res.values
        if name in ID_FIELDS:
            ids[name] = values
            id_ok[name] = ~res.missing & ~res.invalid
        if res.missing.any() or res.invalid.any():
            values = values.copy()
            # An id is never sent as null; an unusable value is left out, never sent as
            # null either: that would erase the stored one (a row holding one is not sent
            # at all unless invalid_fields="omit").
            values[res.missing] = MISSING if name in ID_FIELDS else null
            values[res.invalid] = MISSING
        top_keys.append(name)
        top_cols.append(values)

    data_keys: list[str] = []
    data_cols: list[np.ndarray] = []
    for key, enc in data_results.items():
        if enc.messages:
            sources.append(("data." + key, CODE_NOT_ENCODABLE, enc.messages))
        data_keys.append(key)
        data_cols.append(enc.values)
        data_missing.append(enc.missing)

    notes = [f"{c!r} → {t}" for c, t in resolved.matched.items()]
    phone = field_results.get("phone")
    extension_warnings: Sources = []
    if phone is not None and phone.extensions is not None:
        has_ext = np.asarray(pd.notna(phone.extensions), dtype=bool)
        column = resolved.fields["phone"]
        if EXTENSION_KEY not in resolved.data:
            data_keys.append(EXTENSION_KEY)
            extensions = phone.extensions.copy()
            extensions[~has_ext] = MISSING
            data_cols.append(extensions)
            data_missing.append(~has_ext)
            notes.append(f"extensions in {column!r} → data.{EXTENSION_KEY}")
        else:
            given = data_cols[data_keys.index(EXTENSION_KEY)]
            owner = resolved.data[EXTENSION_KEY]
            lost = {
                int(p): f"phone (column {column!r}): extension {phone.extensions[p]!r} not "
                f"sent, data.{EXTENSION_KEY} comes from column {owner!r}"
                for p in np.flatnonzero(has_ext)
                if given[p] is MISSING or str(given[p]) != phone.extensions[p]
            }
            extension_warnings.append(("phone", CODE_EXTENSION_NOT_SENT, lost))

    ext_ok = id_ok.get("external_id", np.zeros(n, dtype=bool))
    has_id = pd.DataFrame(id_ok, copy=False)
    no_id = np.zeros(n, dtype=bool)
    no_id[row_failures(identity_schema(list(ids)), has_id).get(IDENTITY_CHECK, [])] = True
    # A row with no identifier can't be sent whatever else is wrong with it, so that is
    # the problem it is filed under (unless an id is there but malformed: that says more).
    for name in ids:
        no_id[list(field_results[name].messages)] = False
    if no_id.any():
        id_field = "external_id" if "external_id" in resolved.fields else "anonymous_id"
        no_id_text = "the row has neither an external_id nor an anonymous_id"
        sources.insert(
            0, (id_field, CODE_NO_ID, dict.fromkeys(np.flatnonzero(no_id).tolist(), no_id_text))
        )

    bad, problem, warned = split_invalid_fields(
        n, sources, omittable, invalid_fields, notices=extension_warnings
    )
    problems = [problem] if problem is not None else []
    candidate = ~bad
    external_id = ids.get("external_id", np.full(n, None, dtype=object))

    def row_payload(pos: int) -> dict[str, Any]:
        top = {k: col[pos] for k, col in zip(top_keys, top_cols, strict=True)}
        data = {k: col[pos] for k, col in zip(data_keys, data_cols, strict=True)}
        top["data"] = {k: v for k, v in data.items() if v is not MISSING}
        return {k: v for k, v in top.items() if v is not MISSING}

    drop = np.zeros(n, dtype=bool)
    for what, ok, id_values in (
        ("external_id", candidate & ext_ok, external_id),
        ("anonymous_id", candidate & ~ext_ok, ids.get("anonymous_id")),
    ):
        if id_values is None or not ok.any():
            continue
        if _surely_distinct(id_values, np.flatnonzero(ok)):
            continue
        dropped, dup_problems = duplicate_problems(
            np.flatnonzero(ok), id_values, what, duplicates, index, row_payload
        )
        drop |= dropped
        problems.extend(dup_problems)
    sendable_mask = candidate & ~drop
    sendable = np.flatnonzero(sendable_mask)

    everything = len(sendable) == n

    def compact(values: np.ndarray) -> np.ndarray:
        return values if everything else values[sendable]

    # Rows with no data value at all are sent without a `data` key (not `"data": {}`).
    no_data = np.logical_and.reduce(data_missing) if data_missing else np.zeros(n, dtype=bool)
    return Prepared(
        index=index,
        mapping=resolved,
        nulls=nulls,
        sendable=sendable,
        external_id=external_id,
        problems=problems,
        warnings=warned,
        notes=notes,
        _columns=[compact(c) for c in [*top_cols, *data_cols]],
        _structs=_compile_structs(top_keys, data_keys),
        _empty_data=np.flatnonzero(compact(no_data)).tolist(),
        anonymous_id=ids.get("anonymous_id"),
    )
