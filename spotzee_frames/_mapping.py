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
- The same goes for the `data` keys templates use by convention (`first_name`,
  `last_name`, the keys the API docs and Spotzee's own Salesforce mapping write): `First
  Name`, `FirstName`, `fname`, `Given Name` → `data.first_name`; `Last Name`, `Surname`,
  `lname`, `Family Name` → `data.last_name`; only where no column already gives that key.
  Every such match is listed in `ResolvedMapping.matched`, so previews can show it.
- Every other column goes to `data.<column>` unless it is excluded, either with
  `mapping={column: None}` or with `exclude=[column, ...]`.
- One column may feed several targets (`{"Email": ["external_id", "email"]}`); a
  target takes one column. A column mapped to a first-class field is never duplicated
  into `data`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import _spelling as spell
from ._errors import ValidationError

__all__ = [
    "DATA_ALIASES",
    "FIRST_CLASS",
    "ID_FIELDS",
    "MappingSpec",
    "ResolvedMapping",
    "check_labels",
    "conventional_keys",
    "id_suggestions",
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
# Other spellings of those conventional keys (compared as `_loose_name`s).
_CONVENTIONAL: dict[str, str] = {
    **dict.fromkeys(["firstname", "fname", "givenname", "forename"], "first_name"),
    **dict.fromkeys(["lastname", "lname", "surname", "familyname"], "last_name"),
}

#: `mapping=`: `{column: target}`, where a target is a field name, a list of them (one
#: column feeding several fields) or None (the column is left out).
MappingSpec = Mapping[Hashable, str | Sequence[str] | None]

_DATA_PREFIX = "data."


@dataclass(frozen=True)
class ResolvedMapping:
    """The outcome of `resolve_mapping`: column labels per target, in a stable order.

    `fields` maps a first-class field to its column, in the order of the allowed fields;
    `data` maps a `data` key to its column, in frame column order (explicit `data.` targets
    keep the position of their column); a column may appear more than once. `excluded`
    lists columns that feed nothing; `matched` the columns whose target was recognised
    from a header spelt otherwise (`{"First Name": "data.first_name", "E-mail": "email"}`).
    """

    fields: dict[str, Hashable]
    data: dict[str, Hashable]
    excluded: tuple[Hashable, ...] = field(default=())
    matched: dict[Hashable, str] = field(default_factory=dict)

    def targets_of(self, column: Hashable) -> list[str]:
        """Every target (`"email"`, `"data.plan"`) a column feeds; empty if excluded."""
        out = [name for name, col in self.fields.items() if col == column]
        out += [_DATA_PREFIX + key for key, col in self.data.items() if col == column]
        return out

    def target_of(self, column: Hashable) -> str | None:
        """The (first) target a column feeds, or None if excluded."""
        targets = self.targets_of(column)
        return targets[0] if targets else None

    @property
    def columns(self) -> list[Hashable]:
        """Every column that feeds something, once: first-class fields first, then data."""
        return list(dict.fromkeys([*self.fields.values(), *self.data.values()]))


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


def _targets_for(col: Hashable, wanted: Any, allowed: set[str], fields: Sequence[str]) -> list[str]:
    """The targets `mapping[col]` names: one field, a list of fields, or None (none)."""
    if wanted is None:
        return []
    items = [wanted] if isinstance(wanted, str) else wanted
    if not isinstance(items, list | tuple) or not items:
        raise ValidationError(
            f"mapping for column {col!r} must be a field name, a list of field names or "
            f"None, not {wanted!r}; valid fields: {_describe_targets(fields)}"
        )
    out: list[str] = []
    for target in items:
        if not isinstance(target, str):
            raise ValidationError(
                f"mapping for column {col!r} must name fields, not {target!r}; "
                f"valid fields: {_describe_targets(fields)}"
            )
        if target in allowed:
            resolved = target
        elif target in DATA_ALIASES:
            resolved = _DATA_PREFIX + DATA_ALIASES[target]
        elif target.startswith(_DATA_PREFIX):
            if not target[len(_DATA_PREFIX) :]:
                raise ValidationError(
                    f"mapping for column {col!r} is 'data.' with no key; write 'data.<key>'"
                )
            resolved = target
        else:
            raise ValidationError(
                f"unknown field {target!r} for column {col!r}"
                f"{_close(target, [*fields, *DATA_ALIASES])}; "
                f"valid fields: {_describe_targets(fields)}"
            )
        if resolved not in out:
            out.append(resolved)
    return out


def _unambiguous(candidates: dict[str, list[Hashable]]) -> dict[Hashable, str]:
    """`{column: target}` for the targets exactly one loose candidate claims: `Email` and
    `EMAIL` together stay data, since neither is more the email than the other."""
    return {cs[0]: name for name, cs in candidates.items() if len(cs) == 1}


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
    mapping: MappingSpec | None = None,
    *,
    exclude: Iterable[Hashable] | Hashable | None = (),
    fields: Sequence[str] = FIRST_CLASS,
    rest_to_data: bool = True,
) -> ResolvedMapping:
    """Work out which column feeds which field; raise `ValidationError` on any ambiguity.

    `columns` are the frame's column labels, `mapping` is `{column: target, a list of
    targets, or None}`, `exclude` lists columns to leave out. `fields` are the first-class
    targets the endpoint accepts (triggers may pass a longer tuple, e.g. with
    `device_token`). With `rest_to_data=False` unmapped columns are left out instead of
    going to `data`.
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

    # Each column's targets: explicit mapping first, then names, then data.
    targets_of: dict[Hashable, list[str]] = {}
    allowed = set(fields)
    for col, wanted in mapping.items():
        targets_of[col] = _targets_for(col, wanted, allowed, fields)
    for col in excluded_set:
        targets_of[col] = []
    exact = {c for c in cols if isinstance(c, str) and c in allowed and c not in targets_of}
    claimed = {t for ts in targets_of.values() for t in ts} | exact
    loose_fields = {_loose_name(f): f for f in fields}
    loose_fields.update({k: f for k, f in _LOOSE_ALIASES.items() if f in fields})
    loose: dict[str, list[Hashable]] = {}
    for col in cols:
        if col in targets_of or col in exact or not isinstance(col, str | tuple):
            continue
        name = loose_fields.get(_loose_name(_data_key(col)))
        if name is not None and name not in claimed:
            loose.setdefault(name, []).append(col)
    loose_target = _unambiguous(loose)
    if rest_to_data:
        # A data key templates expect (`first_name`) under another header (`First Name`),
        # unless a column already gives that key: explicitly, or by its own name.
        rest = [c for c in cols if c not in targets_of and c not in exact and c not in loose_target]
        keys_taken = {t[len(_DATA_PREFIX) :] for t in claimed if t.startswith(_DATA_PREFIX)}
        keys_taken |= {_data_key(c) for c in rest}
        loose_target.update(conventional_keys(rest, keys_taken))
    for col in cols:
        if col in targets_of:
            continue
        if col in exact:
            targets_of[col] = [str(col)]  # exact: a str label
        elif col in loose_target:
            targets_of[col] = [loose_target[col]]
        elif rest_to_data:
            targets_of[col] = [_DATA_PREFIX + _data_key(col)]
        else:
            targets_of[col] = []

    used_dups = [c for c in dup_labels if targets_of.get(c)]
    if used_dups:
        raise ValidationError(
            f"the frame has several columns labelled {used_dups!r}; rename them or "
            f"exclude them ({spell.mapping(used_dups[0], None)})"
        )

    by_target: dict[str, list[Hashable]] = {}
    for col in cols:
        for t in targets_of[col]:
            if col not in by_target.get(t, []):
                by_target.setdefault(t, []).append(col)
    clashes = {t: cs for t, cs in by_target.items() if len(cs) > 1}
    if clashes:
        t, cs = next(iter(clashes.items()))
        raise ValidationError(
            f"columns {cs!r} all map to {t!r}; a field takes one column: map the others to "
            "another field, to 'data.<key>', or leave them out "
            f"({spell.mapping(cs[-1], None)})"
        )

    resolved_fields = {f: by_target[f][0] for f in fields if f in by_target}
    resolved_data = {
        t[len(_DATA_PREFIX) :]: cs[0] for t, cs in by_target.items() if t.startswith(_DATA_PREFIX)
    }
    excluded = tuple(c for c in cols if not targets_of[c])
    matched = {c: t for c, t in loose_target.items() if c in targets_of}
    return ResolvedMapping(
        fields=resolved_fields, data=resolved_data, excluded=excluded, matched=matched
    )


def conventional_keys(columns: Iterable[Hashable], taken: set[str]) -> dict[Hashable, str]:
    """`{column: key}` for the columns whose header names a conventional `data` key in
    other words (`First Name`, `fname` → `first_name`), where no key of `taken` is that
    key and no other of `columns` names it too."""
    candidates: dict[str, list[Hashable]] = {}
    for col in columns:
        if not isinstance(col, str | tuple):
            continue
        key = _CONVENTIONAL.get(_loose_name(_data_key(col)))
        if key is not None and key not in taken and _data_key(col) != key:
            candidates.setdefault(key, []).append(col)
    return {col: _DATA_PREFIX + key for col, key in _unambiguous(candidates).items()}


_ID_WORDS = frozenset({"id", "uuid", "guid"})
_NUMBER_WORDS = frozenset({"number", "no", "num", "nr"})
# Words before "id" that name the person or record a contact list is about.
_WHO_WORDS = frozenset(
    {
        "customer",
        "user",
        "account",
        "contact",
        "client",
        "member",
        "subscriber",
        "lead",
        "person",
        "profile",
        "crm",
        "record",
        "external",
        "unique",
    }
)


def _words(label: str) -> list[str]:
    """`'CustomerID'`, `'customer_id'`, `'Customer Id'` → `['customer', 'id']`."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", label)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def id_suggestions(columns: Iterable[Hashable], *, limit: int = 3) -> list[Hashable]:
    """Columns that look like a contact's id (`Customer Id`, `User Id`, `Account Id`,
    `Contact ID`, `id`), likeliest first, to *suggest* as `external_id` when none is
    mapped: a wrong guess would create a user per row under the wrong key, so the
    caller always chooses."""
    ranked: list[tuple[int, int, Hashable]] = []
    for position, col in enumerate(columns):
        words = _words(_data_key(col))
        if not words:
            continue
        last, before = words[-1], words[:-1]
        if last in _ID_WORDS:
            rank = 0 if any(w in _WHO_WORDS for w in before) else 1 if not before else 3
        elif last in _NUMBER_WORDS and any(w in _WHO_WORDS for w in before):
            rank = 2
        else:
            continue
        ranked.append((rank, position, col))
    ranked.sort(key=lambda item: item[:2])
    best = [col for rank, _, col in ranked if rank < 3]
    return (best or [col for _, _, col in ranked])[:limit]
