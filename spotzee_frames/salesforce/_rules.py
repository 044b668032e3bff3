"""Sync rules: which records of an object flow in.

A rule is `(field, operator, value)` (`(field, "is_set")` / `(field, "is_not_set")` take no
value), joined by one combinator, `"all"` (AND) or `"any"` (OR), as the server integration
has them. They are checked twice before anything is sent: on their own when the
integration is made (operators, arity, kinds of value), and against the object's fields
(`describe()`, or a frame's columns) when a run starts.

The same rules either become the SOQL `WHERE` of the pull, with every value escaped by
simple-salesforce's `format_soql` (never pasted into the text), or, for a frame of
exported records, are applied locally with SOQL's semantics: text compares ignoring case;
a null (or empty) field matches only `is_not_set`, `not_equals` and `not_contains`, as
SOQL's `!=` and `NOT … LIKE` do; numbers and dates compare as numbers and instants.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from .._errors import ValidationError
from ._fields import FieldInfo, close_match

__all__ = [
    "MATCHES",
    "OPERATORS",
    "Match",
    "Rule",
    "TypedRule",
    "instants",
    "local_mask",
    "parse_rules",
    "soql_where",
    "typed_rule",
]

OPERATORS: Final = (
    "equals",
    "not_equals",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "greater_than",
    "less_than",
    "is_set",
    "is_not_set",
)
Match = Literal["all", "any"]
MATCHES: Final = ("all", "any")

_NO_VALUE: Final = ("is_set", "is_not_set")
_TEXT_OPS: Final = ("contains", "not_contains", "starts_with", "ends_with")
_ORDER_OPS: Final = ("greater_than", "less_than")
_FIELD_PATH: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)?")

# How each describe type is compared.
TEXT: Final = frozenset({"string", "textarea", "picklist", "combobox", "email", "phone", "url"})
IDS: Final = frozenset({"id", "reference"})
NUMBERS: Final = frozenset({"double", "int", "long", "currency", "percent"})


def _family(sf_type: str) -> str:
    if sf_type in TEXT:
        return "text"
    if sf_type in IDS:
        return "id"
    if sf_type in NUMBERS:
        return "number"
    if sf_type in ("boolean", "date", "datetime"):
        return sf_type
    return "other"


_ALLOWED: Final = {
    "text": frozenset(OPERATORS),
    "id": frozenset({"equals", "not_equals", *_NO_VALUE}),
    "number": frozenset({"equals", "not_equals", *_ORDER_OPS, *_NO_VALUE}),
    "boolean": frozenset({"equals", "not_equals", *_NO_VALUE}),
    "date": frozenset({"equals", "not_equals", *_ORDER_OPS, *_NO_VALUE}),
    "datetime": frozenset({"equals", "not_equals", *_ORDER_OPS, *_NO_VALUE}),
    "other": frozenset(_NO_VALUE),
}


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule as given: `value` is None for `is_set` / `is_not_set`."""

    field: str
    operator: str
    value: Any = None

    def __str__(self) -> str:
        if self.operator in _NO_VALUE:
            return f"{self.field} {self.operator}"
        return f"{self.field} {self.operator} {self.value!r}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _iso(value: str) -> dt.date | dt.datetime | None:
    """An ISO date or datetime text as a date or an aware datetime; None if it is neither."""
    text = value.strip()
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def parse_rules(obj: str, rules: Any) -> tuple[Rule, ...]:
    """Check one object's rules on their own (no schema yet): ValidationError naming the
    rule at fault."""
    if rules is None:
        return ()
    if isinstance(rules, str | bytes | Mapping) or not isinstance(rules, Sequence):
        raise ValidationError(
            f"rules for {obj} must be a list of (field, operator, value) tuples, "
            f"not {type(rules).__name__}"
        )
    out: list[Rule] = []
    for n, item in enumerate(rules):
        where = f"rule {n} of {obj} ({item!r})"
        if not isinstance(item, tuple | list) or len(item) not in (2, 3):
            raise ValidationError(
                f"{where}: write (field, operator, value), or (field, 'is_set') / "
                "(field, 'is_not_set')"
            )
        field, operator = item[0], item[1]
        if not isinstance(field, str) or not _FIELD_PATH.fullmatch(field):
            raise ValidationError(
                f"{where}: the field must be a Salesforce field name such as 'LeadSource' "
                "or 'Lead.HasOptedOutOfEmail'"
            )
        if operator not in OPERATORS:
            raise ValidationError(
                f"{where}: unknown operator {operator!r}{close_match(str(operator), OPERATORS)}; "
                f"operators are {', '.join(OPERATORS)}"
            )
        if operator in _NO_VALUE:
            if len(item) == 3:
                raise ValidationError(
                    f"{where}: {operator} takes no value: ({field!r}, {operator!r})"
                )
            out.append(Rule(field, operator))
            continue
        if len(item) == 2:
            raise ValidationError(
                f"{where}: {operator} needs a value: ({field!r}, {operator!r}, value)"
            )
        out.append(Rule(field, operator, _check_value(where, operator, item[2])))
    return tuple(out)


def _check_value(where: str, operator: str, value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ValidationError(
            f"{where}: the value is missing; to select records without a value use "
            "(field, 'is_not_set')"
        )
    if isinstance(value, float) and math.isinf(value):
        raise ValidationError(f"{where}: the value must be finite")
    if operator in _TEXT_OPS:
        if not isinstance(value, str) or not value:
            raise ValidationError(f"{where}: {operator} takes a non-empty text value")
        return value
    if operator in _ORDER_OPS:
        if _is_number(value):
            return value.item() if isinstance(value, np.generic) else value
        if isinstance(value, dt.date) or (isinstance(value, str) and _iso(value) is not None):
            return value
        raise ValidationError(
            f"{where}: {operator} compares numbers and dates; give a number, a date or an "
            "ISO 8601 date text such as '2026-05-03'"
        )
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str | bool | int | float | dt.date):
        return value
    raise ValidationError(
        f"{where}: the value must be a string, a number, a boolean or a date, "
        f"not {type(value).__name__}"
    )


@dataclass(frozen=True, slots=True)
class TypedRule:
    """A rule checked against its field: `value` in the field's own terms (text, float,
    bool, date, aware datetime)."""

    field: FieldInfo
    operator: str
    value: Any
    family: str


def typed_rule(obj: str, rule: Rule, info: FieldInfo) -> TypedRule:
    """Check `rule` against its field's type: ValidationError when SOQL would refuse it."""
    family = _family(info.type)
    where = f"rule {str(rule)!r} of {obj}"
    if not info.filterable:
        raise ValidationError(f"{where}: {info.name} ({info.type}) cannot be filtered in SOQL")
    if rule.operator not in _ALLOWED[family]:
        allowed = ", ".join(op for op in OPERATORS if op in _ALLOWED[family])
        raise ValidationError(f"{where}: {info.name} is a {info.type} field, which takes {allowed}")
    value = rule.value
    if rule.operator in _NO_VALUE:
        return TypedRule(info, rule.operator, None, family)
    if family in ("text", "id"):
        if not isinstance(value, str):
            raise ValidationError(
                f"{where}: {info.name} is a {info.type} field; give the value as text "
                f"({str(value)!r}), as SOQL compares it in quotes"
            )
    elif family == "number":
        if not _is_number(value):
            raise ValidationError(f"{where}: {info.name} is a {info.type} field; give a number")
    elif family == "boolean":
        if not isinstance(value, bool):
            raise ValidationError(f"{where}: {info.name} is a checkbox; give True or False")
    else:  # date or datetime
        value = _moment(where, info, value)
    return TypedRule(info, rule.operator, value, family)


def _moment(where: str, info: FieldInfo, value: Any) -> dt.date | dt.datetime:
    if isinstance(value, str):
        parsed = _iso(value)
        if parsed is None:
            raise ValidationError(
                f"{where}: {info.name} is a {info.type} field; {value!r} is not an ISO 8601 "
                "date (2026-05-03) or datetime (2026-05-03T15:57:00Z)"
            )
        value = parsed
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if not isinstance(value, dt.date):
        raise ValidationError(f"{where}: {info.name} is a {info.type} field; give a date")
    if info.type == "date":
        if isinstance(value, dt.datetime):
            raise ValidationError(
                f"{where}: {info.name} is a date field; give a date ('2026-05-03'), not a "
                "date and time"
            )
        return value
    if not isinstance(value, dt.datetime):  # a date for a datetime field: its midnight, UTC
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    moment: dt.datetime = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).replace(microsecond=0)


# -- SOQL ---------------------------------------------------------------------------------

_SOQL: Final = {
    "equals": "{:literal} = {}",
    "not_equals": "{:literal} != {}",
    "contains": "{:literal} LIKE '%{:like}%'",
    "not_contains": "(NOT {:literal} LIKE '%{:like}%')",
    "starts_with": "{:literal} LIKE '{:like}%'",
    "ends_with": "{:literal} LIKE '%{:like}'",
    "greater_than": "{:literal} > {}",
    "less_than": "{:literal} < {}",
    "is_set": "{:literal} != null",
    "is_not_set": "{:literal} = null",
}


def soql_condition(rule: TypedRule) -> str:
    """One rule as a SOQL condition. The field name has been checked against the
    object's describe, so it goes in as a name; the value is quoted and escaped by
    simple-salesforce's `format_soql`."""
    from simple_salesforce.format import format_soql

    template = _SOQL[rule.operator]
    if rule.operator in _NO_VALUE:
        return format_soql(template, rule.field.name)
    return format_soql(template, rule.field.name, rule.value)


def soql_where(rules: Sequence[TypedRule], match: str) -> str | None:
    """The rules as one parenthesised SOQL condition, or None when there are none."""
    if not rules:
        return None
    joiner = " AND " if match == "all" else " OR "
    return "(" + joiner.join(soql_condition(r) for r in rules) + ")"


# -- applying rules to a frame, with SOQL's semantics ----------------------------------------


def _present(values: pd.Series) -> np.ndarray:
    """Which cells hold a value: not None/NaN/NA, and not empty text (Salesforce stores an
    empty text field as null)."""
    cells = values.to_numpy(dtype=object)
    na = np.asarray(pd.isna(cells), dtype=bool)
    blank = np.fromiter(
        (isinstance(v, str) and not v.strip() for v in cells), dtype=bool, count=len(cells)
    )
    present: np.ndarray = ~na & ~blank
    return present


def _text(values: pd.Series) -> pd.Series:
    return (
        values.map(lambda v: v if isinstance(v, str) else str(v), na_action="ignore")
        .astype("string")
        .str.casefold()
    )


def _booleans(values: pd.Series) -> pd.Series:
    def read(v: Any) -> Any:
        if isinstance(v, bool | np.bool_):
            return bool(v)
        if isinstance(v, str):
            return {"true": True, "false": False, "1": True, "0": False}.get(v.strip().lower())
        if _is_number(v) and v in (0, 1):
            return bool(v)
        return None

    return values.map(read, na_action="ignore").astype("boolean")


def instants(values: pd.Series, family: str) -> pd.Series:
    """Dates or datetimes (any dtype, ISO text) as UTC Timestamps, to the day or second."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        moments = values.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        moments = values.dt.tz_localize("UTC")
    else:
        text = values.map(lambda v: v if isinstance(v, str) else str(v), na_action="ignore")
        moments = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    floored: pd.Series = moments.dt.floor("D" if family == "date" else "s")
    return floored


def _target(rule: TypedRule) -> Any:
    if rule.family == "date":
        return pd.Timestamp(rule.value).tz_localize("UTC")
    if rule.family == "datetime":
        return pd.Timestamp(rule.value)
    if rule.family in ("text", "id"):
        return str(rule.value).casefold()
    return rule.value


def _rule_mask(rule: TypedRule, values: pd.Series) -> np.ndarray:
    present = _present(values)
    op = rule.operator
    if op == "is_set":
        return present
    if op == "is_not_set":
        return ~present
    family = rule.family
    if family in ("text", "id"):
        comparable: pd.Series = _text(values)
    elif family == "number":
        comparable = pd.to_numeric(values, errors="coerce").astype("Float64")
    elif family == "boolean":
        comparable = _booleans(values)
    else:
        comparable = instants(values, family)
    target = _target(rule)
    if op in _TEXT_OPS:
        text = comparable.str
        hit = {
            "contains": lambda: text.contains(target, regex=False),
            "not_contains": lambda: text.contains(target, regex=False),
            "starts_with": lambda: text.startswith(target),
            "ends_with": lambda: text.endswith(target),
        }[op]()
    elif op in ("equals", "not_equals"):
        hit = comparable == target
    elif op == "greater_than":
        hit = comparable > target
    else:
        hit = comparable < target
    known: np.ndarray = pd.Series(hit, dtype="boolean").fillna(False).to_numpy(dtype=bool)
    known &= present
    if op in ("not_equals", "not_contains"):
        # SOQL's `!=` and `NOT … LIKE` hold for a null field: the negation of the
        # positive test, which a null field fails.
        negated: np.ndarray = ~known
        return negated
    return known


def local_mask(
    frame: pd.DataFrame, rules: Sequence[TypedRule], match: str, columns: Mapping[str, Any]
) -> np.ndarray:
    """Which rows of `frame` the rules select (`columns`: lower-case field -> label)."""
    if not rules:
        return np.ones(len(frame), dtype=bool)
    masks = [_rule_mask(r, frame[columns[r.field.name.lower()]]) for r in rules]
    combined = np.logical_and.reduce(masks) if match == "all" else np.logical_or.reduce(masks)
    return np.asarray(combined, dtype=bool)
