"""Field mappings: which Salesforce field feeds which Spotzee user property, and the
conversion of each value to the property's type.

Defaults `Email→email`, `FirstName→data.first_name`, `LastName→data.last_name`,
`Phone→phone`, plus the integration's own rows; a destination is a first-class user field
(`email`, `phone`, `timezone`, `locale`) or `data.<key>`. Without an explicit type the
property type follows the field's describe type (the contract's table, `TYPE_OF`). A value
that does not fit its type is dropped from the record, which still syncs, and reported as
a type-mismatch warning naming the record and field.

Conversions (`None` in, nothing out: the property is left as it is):

- string: text as it is; numbers and checkboxes as their text; dates in ISO 8601.
- number: numbers (not checkboxes); text that reads as a finite number (`"42"`, `"1.5"`);
  a whole number past 2**53 does not fit (Spotzee reads JSON numbers as doubles) and is
  dropped like any mismatch.
- boolean: checkboxes; the text `true` / `false` (any case), as exports write them.
- date: ISO 8601: a date as `2026-05-03`, a datetime in UTC as `2026-05-03T15:57:00Z`.
- array: a multi-select picklist's `;`-separated text as a list of its values.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._mapping import DATA_ALIASES, FIRST_CLASS
from ._fields import FieldInfo, close_match

__all__ = [
    "DEFAULT_MAPPINGS",
    "SPOTZEE_TYPES",
    "TYPE_OF",
    "FieldMapping",
    "convert_column",
    "parse_destination",
    "parse_mappings",
]

SPOTZEE_TYPES: Final = ("string", "number", "boolean", "date", "array")
TYPE_OF: Final = {
    **dict.fromkeys(
        ("string", "textarea", "picklist", "combobox", "email", "phone", "url", "id"),
        "string",
    ),
    "reference": "string",
    "time": "string",
    "encryptedstring": "string",
    **dict.fromkeys(("double", "int", "long", "currency", "percent"), "number"),
    "boolean": "boolean",
    "date": "date",
    "datetime": "date",
    "multipicklist": "array",
}
DEFAULT_MAPPINGS: Final = {
    "Email": "email",
    "FirstName": "data.first_name",
    "LastName": "data.last_name",
    "Phone": "phone",
}
_DESTINATIONS: Final = tuple(f for f in FIRST_CLASS if f not in ("external_id", "anonymous_id"))
_FIELD: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)?")
_NUMBER: Final = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True, slots=True)
class FieldMapping:
    """One resolved mapping row: source field, destination, Spotzee type."""

    field: FieldInfo
    destination: str
    type: str


def parse_destination(value: Any, where: str) -> str:
    """A destination in upsert's vocabulary (`email`, `data.company`; `first_name` means
    `data.first_name`); ValidationError for anything else."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{where}: the destination must be a field name such as 'data.plan'")
    text = value.strip()
    if text in DATA_ALIASES:
        return "data." + DATA_ALIASES[text]
    if text in _DESTINATIONS:
        return text
    if text in ("external_id", "anonymous_id"):
        raise ValidationError(
            f"{where}: {text} is set by the integration (sf_<id>_<object>_<record id>); "
            "it cannot be mapped"
        )
    if text.startswith("data.") and text[5:].strip():
        return "data." + text[5:].strip()
    raise ValidationError(
        f"{where}: unknown destination {text!r}{close_match(text, _DESTINATIONS)}; use one of "
        f"{', '.join(_DESTINATIONS)}, first_name, last_name, or 'data.<key>' (e.g. "
        f"'data.{text}')"
    )


def parse_mappings(obj: str, mappings: Any) -> dict[str, tuple[str, str | None] | None]:
    """One object's mapping rows on their own: `{field: (destination, type or None)}`,
    None for a default switched off."""
    if mappings is None:
        return {}
    if not isinstance(mappings, Mapping):
        raise ValidationError(
            f"mappings for {obj} must be a dict of {{field: destination}}, "
            f"not {type(mappings).__name__}"
        )
    out: dict[str, tuple[str, str | None] | None] = {}
    for field, target in mappings.items():
        where = f"mapping {field!r} of {obj}"
        if not isinstance(field, str) or not _FIELD.fullmatch(field):
            raise ValidationError(
                f"{where}: the key must be a Salesforce field name such as 'Company' or "
                "'Lead.Company'"
            )
        if target is None:
            out[field] = None
            continue
        kind: str | None = None
        if isinstance(target, tuple | list):
            if len(target) != 2:
                raise ValidationError(
                    f"{where}: write (destination, type), e.g. ('data.rating', 'number')"
                )
            target, kind = target
            if kind not in SPOTZEE_TYPES:
                raise ValidationError(
                    f"{where}: unknown type {kind!r}{close_match(str(kind), SPOTZEE_TYPES)}; "
                    f"types are {', '.join(SPOTZEE_TYPES)}"
                )
        destination = parse_destination(target, where)
        if kind is not None and not destination.startswith("data.") and kind != "string":
            raise ValidationError(
                f"{where}: {destination} is text in Spotzee; it cannot take type {kind!r}"
            )
        out[field] = (destination, kind)
    return out


def type_for(obj: str, info: FieldInfo, explicit: str | None) -> str:
    if explicit is not None:
        return explicit
    kind = TYPE_OF.get(info.type)
    if kind is None:
        raise ValidationError(
            f"{obj}.{info.name} is a {info.type} field, which has no Spotzee type of its own; "
            "give one: (destination, 'string')"
        )
    return kind


# -- converting values ------------------------------------------------------------------------

_DROP: Final = object()


def _iso_text(value: Any, sf_type: str) -> Any:
    """ISO 8601 for a date or datetime value (a REST API text, or a pandas/datetime value)."""
    if isinstance(value, pd.Timestamp | dt.datetime):
        moment = pd.Timestamp(value)
        if moment.tz is None:
            moment = moment.tz_localize("UTC")
        moment = moment.tz_convert("UTC")
        if sf_type == "date" and moment == moment.normalize():
            return moment.strftime("%Y-%m-%d")
        return _z(moment)
    if isinstance(value, dt.date):
        return value.isoformat()
    if not isinstance(value, str):
        return _DROP
    text = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            return _DROP
    try:
        moment = pd.Timestamp(text)
    except ValueError:
        return _DROP
    if pd.isna(moment):
        return _DROP
    if moment.tz is None:
        moment = moment.tz_localize("UTC")
    return _z(moment.tz_convert("UTC"))


def _z(moment: pd.Timestamp) -> str:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    return text + "Z"


def _to_string(value: Any, sf_type: str) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    if isinstance(value, dt.date | pd.Timestamp):
        return _iso_text(value, sf_type)
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return _DROP


# A JSON number past 2**53 is read as a double by Spotzee (and Parcelvoy), which would
# store another number (RFC 7493): it does not fit a number property, so it is dropped.
_EXACT = 2**53


def _to_number(value: Any, sf_type: str) -> Any:
    if isinstance(value, bool | np.bool_):
        return _DROP
    if isinstance(value, int | np.integer):
        return int(value) if abs(int(value)) <= _EXACT else _DROP
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else _DROP
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        text = value.strip()
        if re.fullmatch(r"[-+]?\d+", text):
            return int(text) if abs(int(text)) <= _EXACT else _DROP
        number = float(text)
        return number if math.isfinite(number) else _DROP
    return _DROP


def _to_boolean(value: Any, sf_type: str) -> Any:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower(), _DROP)
    return _DROP


def _to_array(value: Any, sf_type: str) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(";") if part.strip()]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return _DROP


_CONVERTERS: Final = {
    "string": _to_string,
    "number": _to_number,
    "boolean": _to_boolean,
    "date": _iso_text,
    "array": _to_array,
}


_NATIVE: Final[dict[str, tuple[type, ...]]] = {
    "string": (str,),
    "number": (int, float),
    "boolean": (bool,),
}


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    return value is pd.NA or value is pd.NaT


def convert_column(values: list[Any], mapping: FieldMapping) -> tuple[np.ndarray, dict[int, str]]:
    """The converted values (None where there is nothing to send) and, by position, the
    type-mismatch warning of each value that was dropped."""
    convert = _CONVERTERS[mapping.type]
    sf_type = mapping.field.type
    out = np.full(len(values), None, dtype=object)
    warnings: dict[int, str] = {}
    cache: dict[tuple[type, Any], Any] = {}
    # The values that are already what the type wants go straight through (most of them:
    # the REST API sends text as str, numbers as int/float, checkboxes as bool).
    native = _NATIVE.get(mapping.type, ())
    for i, value in enumerate(values):
        kind = type(value)
        if kind in native:
            if kind is str:
                if value and not value.isspace():
                    out[i] = value
                continue
            if (kind is not float or math.isfinite(value)) and (
                kind is not int or abs(value) <= _EXACT
            ):
                out[i] = value
                continue
        if _missing(value):
            continue
        # Many records share values (picklists, checkboxes): convert each one once. The
        # type is part of the key, since True == 1 but they convert differently.
        key = (type(value), value) if isinstance(value, str | int | float | bool) else None
        if key is not None and key in cache:
            converted = cache[key]
        else:
            converted = convert(value, sf_type)
            if key is not None:
                cache[key] = converted
        if converted is _DROP:
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "…"
            warnings[i] = (
                f"type_mismatch: {mapping.field.name}={shown} is not a {mapping.type} "
                f"({mapping.destination} left out)"
            )
            continue
        out[i] = list(converted) if isinstance(converted, list) else converted
    return out, warnings
