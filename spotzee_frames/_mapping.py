"""Resolve `mapping=`: which frame column feeds which Spotzee user field.

Every problem with a mapping (unknown field, missing column, two columns for one field) is a
`ValidationError` raised here, before a single row is read or a request is sent.

Rules (shared by upserts and the trigger calls):

- A target is a first-class field (`external_id`, `anonymous_id`, `email`, `phone`,
  `timezone`, `locale`) or `data.<key>`. `first_name` and `last_name` are accepted as
  shorthands for `data.first_name` / `data.last_name`, because the API keeps them in `data`.
- A column named like a first-class field maps itself: exactly, or (when no other column
  claims that field) up to case and punctuation, so a CRM export's `Email`, `E-mail`,
  `Email Address`, `Phone Number` or `External ID`, or a JSON API's `externalId`, is not
  silently sent as custom data.
- Every other column goes to `data.<column>` unless it is excluded, either with
  `mapping={column: None}` or with `exclude=[column, ...]`.
- A column mapped to a first-class field is never duplicated into `data`.
"""

from __future__ import annotations

import difflib
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._errors import ValidationError

__all__ = [
    "DATA_ALIASES",
    "FIRST_CLASS",
    "ID_FIELDS",
    "ResolvedMapping",
    "check_labels",
    "named_columns",
    "resolve_mapping",
]

FIRST_CLASS: tuple[str, ...] = (
    "external_id",
    "anonymous_id",
    "email",
    "phone",
    "timezone",
    "locale",
)
ID_FIELDS: tuple[str, ...] = ("external_id", "anonymous_id")
# Targets that read like first-class fields but live in `data` in the current API.
DATA_ALIASES: dict[str, str] = {"first_name": "first_name", "last_name": "last_name"}

_DATA_PREFIX = "data."


@dataclass(frozen=True)
class ResolvedMapping:
    """The outcome of `resolve_mapping`: column labels per target, in a stable order.

    `fields` maps a first-class field to its column, in the order of the allowed fields;
    `data` maps a `data` key to its column, in frame column order (explicit `data.` targets
    keep the position of their column). `excluded` lists columns that feed nothing.
    """

    fields: dict[str, Hashable]
    data: dict[str, Hashable]
    excluded: tuple[Hashable, ...] = field(default=())

    def target_of(self, column: Hashable) -> str | None:
        """The target (`"email"`, `"data.plan"`) a column feeds, or None if excluded."""
        for name, col in self.fields.items():
            if col == column:
                return name
        for key, col in self.data.items():
            if col == column:
                return _DATA_PREFIX + key
        return None

    @property
    def targets(self) -> dict[Hashable, str]:
        """`{column: target}` for every column that feeds something."""
        out: dict[Hashable, str] = {col: name for name, col in self.fields.items()}
        out.update({col: _DATA_PREFIX + key for key, col in self.data.items()})
        return out

    @property
    def columns(self) -> list[Hashable]:
        """Every column that feeds something: first-class fields first, then data."""
        return [*self.fields.values(), *self.data.values()]


def _describe_targets(fields: Sequence[str]) -> str:
    names = [*fields, *DATA_ALIASES]
    return ", ".join(repr(n) for n in names) + ", or 'data.<key>'"


def _close(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _data_key(column: Hashable) -> str:
    """The text a column label stands for: a string as it is; a tuple (a MultiIndex
    label, as `groupby().agg([...]).reset_index()` leaves them) as its non-blank parts
    joined by `_`, so ('spend', 'sum') is `spend_sum` and ('external_id', '') is
    `external_id`; anything else as `str()`."""
    if isinstance(column, str):
        return column
    if isinstance(column, tuple):
        parts = [
            str(p) for p in column if not (p is None or (isinstance(p, str) and not p.strip()))
        ]
        return "_".join(parts)
    return str(column)


# CRM headers that name a first-class field in other words (compared as `_loose_name`s).
_LOOSE_ALIASES = {"emailaddress": "email", "phonenumber": "phone"}


def _loose_name(label: str) -> str:
    """`' External-ID '`, `externalId`, `Time Zone`, `E-mail` → `'externalid'`, `'timezone'`,
    `'email'`: a label with case and everything but letters and digits dropped, the form
    in which a column spelt like a first-class field is recognised."""
    return "".join(ch for ch in label.lower() if ch.isalnum())


def _exclusions(exclude: Any) -> list[Hashable]:
    """`exclude=` as a list of column labels: None is none, a bare label (a string, or any
    other hashable that is not a collection) is that one column."""
    if exclude is None:
        return []
    if isinstance(exclude, str | bytes) or not isinstance(exclude, Iterable):
        return check_labels([exclude], "exclude must list column labels")
    return check_labels(exclude, "exclude must list column labels")


def check_labels(items: Iterable[Any], rule: str) -> list[Hashable]:
    """`items` as a list of column labels; one that cannot be a label (a list, a dict) is
    a ValidationError stating `rule` (e.g. "exclude must list column labels")."""
    labels = list(items)
    for label in labels:
        try:
            hash(label)
        except TypeError:
            raise ValidationError(
                f"{rule}; {label!r} ({type(label).__name__}) cannot be one"
            ) from None
    return labels


def named_columns(
    columns: Iterable[Hashable], spec: Any, *, option: str, meaning: str
) -> dict[Hashable, str]:
    """`{column: name}` from an option that lists columns (each under its own name) or
    maps `{column: name}`: every column once in the frame, every name a non-empty
    string, no two columns for one name. `meaning` says what a name is, in messages
    ("attribute name")."""
    if isinstance(spec, str) or not isinstance(spec, Sequence | Mapping):
        raise ValidationError(
            f"{option} must be a list of column names (or a dict {{column: {meaning}}}), "
            f"not {spec!r}"
        )
    check_labels(spec, f"{option} must name columns")
    pairs = dict(spec) if isinstance(spec, Mapping) else {c: str(c) for c in spec}
    labels = list(columns)
    seen: dict[str, Hashable] = {}
    for column, name in pairs.items():
        if column not in labels:
            raise ValidationError(
                f"{option} names column {column!r}, which is not in the frame; columns are "
                f"{labels!r}"
            )
        if labels.count(column) > 1:
            raise ValidationError(f"the frame has several columns labelled {column!r}")
        if not isinstance(name, str) or not name:
            raise ValidationError(
                f"{option}: the name for column {column!r} must be a non-empty string"
            )
        if name in seen:
            raise ValidationError(
                f"columns {seen[name]!r} and {column!r} both give {meaning} {name!r}"
            )
        seen[name] = column
    return pairs


def resolve_mapping(
    columns: Iterable[Hashable],
    mapping: Mapping[Hashable, str | None] | None = None,
    *,
    exclude: Iterable[Hashable] | Hashable | None = (),
    fields: Sequence[str] = FIRST_CLASS,
    rest_to_data: bool = True,
) -> ResolvedMapping:
    """Work out which column feeds which field; raise `ValidationError` on any ambiguity.

    `columns` are the frame's column labels, `mapping` is `{column: target or None}`,
    `exclude` lists columns to leave out. `fields` are the first-class targets the endpoint
    accepts (triggers may pass a longer tuple, e.g. with `device_token`). With
    `rest_to_data=False` unmapped columns are left out instead of going to `data`.
    """
    cols = list(columns)
    seen: set[Hashable] = set()
    dup_labels: list[Hashable] = []
    for c in cols:
        if c in seen and c not in dup_labels:
            dup_labels.append(c)
        seen.add(c)

    if mapping is None:
        mapping = {}
    elif not isinstance(mapping, Mapping):
        raise ValidationError(
            f"mapping must be a dict of {{column: field}}, not {type(mapping).__name__}"
        )

    col_names = [str(c) for c in cols]
    for key in mapping:
        if key not in seen:
            raise ValidationError(
                f"mapping names column {key!r}, which is not in the frame"
                f"{_close(str(key), col_names)}; columns are {cols!r}"
            )

    excluded_set: list[Hashable] = []
    for c in _exclusions(exclude):
        if c not in seen:
            raise ValidationError(
                f"exclude names column {c!r}, which is not in the frame"
                f"{_close(str(c), col_names)}; columns are {cols!r}"
            )
        if mapping.get(c) is not None:
            raise ValidationError(
                f"column {c!r} is both mapped (to {mapping[c]!r}) and excluded; choose one"
            )
        excluded_set.append(c)

    # Work out each column's target, explicit mapping first, then names, then data.
    target_of: dict[Hashable, str | None] = {}
    allowed = set(fields)
    for col, target in mapping.items():
        if target is None:
            target_of[col] = None
            continue
        if not isinstance(target, str):
            raise ValidationError(
                f"mapping for column {col!r} must be a field name or None, not {target!r}; "
                f"valid fields: {_describe_targets(fields)}"
            )
        if target in allowed:
            target_of[col] = target
        elif target in DATA_ALIASES:
            target_of[col] = _DATA_PREFIX + DATA_ALIASES[target]
        elif target.startswith(_DATA_PREFIX):
            if not target[len(_DATA_PREFIX) :]:
                raise ValidationError(
                    f"mapping for column {col!r} is 'data.' with no key; write 'data.<key>'"
                )
            target_of[col] = target
        else:
            raise ValidationError(
                f"unknown field {target!r} for column {col!r}"
                f"{_close(target, [*fields, *DATA_ALIASES])}; "
                f"valid fields: {_describe_targets(fields)}"
            )
    for col in excluded_set:
        target_of[col] = None
    exact = {c for c in cols if isinstance(c, str) and c in allowed and c not in target_of}
    claimed = {t for t in target_of.values() if t is not None} | exact
    loose: dict[str, list[Hashable]] = {}
    loose_fields = {_loose_name(f): f for f in fields}
    loose_fields.update({k: f for k, f in _LOOSE_ALIASES.items() if f in fields})
    for col in cols:
        if col in target_of or col in exact or not isinstance(col, str | tuple):
            continue
        name = loose_fields.get(_loose_name(_data_key(col)))
        if name is not None and name not in claimed:
            loose.setdefault(name, []).append(col)
    # Only an unambiguous loose match counts; `Email` and `EMAIL` together stay data.
    loose_target = {cs[0]: name for name, cs in loose.items() if len(cs) == 1}
    for col in cols:
        if col in target_of:
            continue
        if col in exact:
            target_of[col] = col
        elif col in loose_target:
            target_of[col] = loose_target[col]
        elif rest_to_data:
            target_of[col] = _DATA_PREFIX + _data_key(col)
        else:
            target_of[col] = None

    used_dups = [c for c in dup_labels if target_of.get(c) is not None]
    if used_dups:
        raise ValidationError(
            f"the frame has several columns labelled {used_dups!r}; rename them or "
            "exclude them (mapping={label: None})"
        )

    by_target: dict[str, list[Hashable]] = {}
    for col in cols:
        t = target_of[col]
        if t is not None and col not in by_target.get(t, []):
            by_target.setdefault(t, []).append(col)
    clashes = {t: cs for t, cs in by_target.items() if len(cs) > 1}
    if clashes:
        t, cs = next(iter(clashes.items()))
        raise ValidationError(
            f"columns {cs!r} all map to {t!r}; a field takes one column: map the others to "
            "another field, to 'data.<key>', or to None"
        )

    resolved_fields = {f: by_target[f][0] for f in fields if f in by_target}
    resolved_data = {
        t[len(_DATA_PREFIX) :]: cs[0] for t, cs in by_target.items() if t.startswith(_DATA_PREFIX)
    }
    excluded = tuple(c for c in cols if target_of[c] is None)
    return ResolvedMapping(fields=resolved_fields, data=resolved_data, excluded=excluded)
