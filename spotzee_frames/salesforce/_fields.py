"""What an object's fields are: from Salesforce's `describe()`, or, for a frame of exported
records, from its columns (standard fields by name, the rest by dtype).

Field names are matched without regard to case, as SOQL does (a Data Loader export may
write `EMAIL` or `Lead.HasOptedOutOfEmail`); a field is known by its canonical spelling.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import pandas as pd

from .._errors import ValidationError

__all__ = [
    "FieldInfo",
    "ObjectSchema",
    "close_match",
    "frame_schema",
    "lookup",
    "schema_from_describe",
]

OBJECTS: Final = ("Lead", "Contact", "CampaignMember")


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """One field: its canonical path (`Email`, `Lead.HasOptedOutOfEmail`) and describe type."""

    name: str
    type: str
    filterable: bool = True


@dataclass
class ObjectSchema:
    """The fields of one object, looked up by lower-case path.

    `parents` maps a relationship name (lower case) to the object it points at, for
    paths like `Lead.HasOptedOutOfEmail`; `resolve_parent` is filled in by the source so
    that such a path is checked against the parent's own fields.
    """

    name: str
    fields: dict[str, FieldInfo] = field(default_factory=dict)
    parents: dict[str, tuple[str, str]] = field(default_factory=dict)  # rel -> (Rel, Object)
    #: For a frame: the column label behind each field (lower-case path -> label).
    columns: dict[str, Hashable] = field(default_factory=dict)

    def get(self, path: str) -> FieldInfo | None:
        return self.fields.get(path.lower())

    def names(self) -> list[str]:
        return [f.name for f in self.fields.values()]


def close_match(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'X'?)` for the nearest choice, or nothing."""
    options = list(choices)
    lowered = {c.lower(): c for c in options}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.7)
    return f" (did you mean {lowered[match[0]]!r}?)" if match else ""


def schema_from_describe(obj: str, describe: Mapping[str, Any]) -> ObjectSchema:
    """An object's schema from the JSON of `GET sobjects/<obj>/describe`."""
    schema = ObjectSchema(str(describe.get("name") or obj))
    for item in describe.get("fields") or ():
        name = item.get("name")
        kind = item.get("type")
        if not isinstance(name, str) or not isinstance(kind, str):
            continue
        schema.fields[name.lower()] = FieldInfo(name, kind, bool(item.get("filterable", True)))
        relationship = item.get("relationshipName")
        targets = item.get("referenceTo") or ()
        if isinstance(relationship, str) and targets:
            schema.parents[relationship.lower()] = (relationship, str(targets[0]))
    return schema


# Types of the standard fields a Data Loader export of these objects has, for frames
# (which carry no describe). Anything else is typed by its column's dtype.
_PERSON: Final = {
    "Id": "id",
    "IsDeleted": "boolean",
    "CreatedDate": "datetime",
    "LastModifiedDate": "datetime",
    "SystemModstamp": "datetime",
    "OwnerId": "reference",
    "FirstName": "string",
    "LastName": "string",
    "Name": "string",
    "Salutation": "picklist",
    "Email": "email",
    "Phone": "phone",
    "MobilePhone": "phone",
    "Title": "string",
    "LeadSource": "picklist",
    "HasOptedOutOfEmail": "boolean",
    "DoNotCall": "boolean",
    "Description": "textarea",
}
STANDARD_TYPES: Final[dict[str, dict[str, str]]] = {
    "Lead": {
        **_PERSON,
        "Company": "string",
        "Status": "picklist",
        "Rating": "picklist",
        "Industry": "picklist",
        "AnnualRevenue": "currency",
        "NumberOfEmployees": "int",
        "Website": "url",
        "Street": "textarea",
        "City": "string",
        "State": "string",
        "PostalCode": "string",
        "Country": "string",
        "IsConverted": "boolean",
        "ConvertedDate": "date",
    },
    "Contact": {
        **_PERSON,
        "AccountId": "reference",
        "Department": "string",
        "Birthdate": "date",
        "MailingCity": "string",
        "MailingState": "string",
        "MailingPostalCode": "string",
        "MailingCountry": "string",
    },
    "CampaignMember": {
        "Id": "id",
        "IsDeleted": "boolean",
        "CreatedDate": "datetime",
        "LastModifiedDate": "datetime",
        "SystemModstamp": "datetime",
        "CampaignId": "reference",
        "LeadId": "reference",
        "ContactId": "reference",
        "Status": "picklist",
        "HasResponded": "boolean",
        "FirstRespondedDate": "date",
        "FirstName": "string",
        "LastName": "string",
        "Email": "email",
        "Phone": "phone",
    },
    "Campaign": {"Id": "id", "Name": "string", "Type": "picklist", "Status": "picklist"},
}
_PARENTS: Final = {
    "CampaignMember": {
        "lead": ("Lead", "Lead"),
        "contact": ("Contact", "Contact"),
        "campaign": ("Campaign", "Campaign"),
    },
    "Contact": {"account": ("Account", "Account")},
}


def lookup(
    schema: ObjectSchema, path: str, parent_schema: Callable[[str], ObjectSchema]
) -> FieldInfo | None:
    """The field `path` names on `schema`: one of its own, or `Rel.Field` of the parent a
    relationship points at (described through `parent_schema(object)`); None if neither."""
    info = schema.get(path)
    if info is not None or schema.columns:  # a frame has exactly the columns it has
        return info
    head, dot, tail = path.partition(".")
    parent = schema.parents.get(head.lower()) if dot and "." not in tail else None
    if parent is None:
        return None
    found = parent_schema(parent[1]).get(tail)
    if found is None:
        return None
    return FieldInfo(f"{parent[0]}.{found.name}", found.type, found.filterable)


def _dtype_type(values: pd.Series) -> str:
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "double"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "string"


def frame_schema(obj: str, frame: pd.DataFrame) -> ObjectSchema:
    """The schema of a frame of exported `obj` records: one field per column (named like a
    field, in any case; `Parent.Field` for a parent's field)."""
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(
            f"the records of {obj} must be a DataFrame, not {type(frame).__name__}"
        )
    standard = {k.lower(): (k, v) for k, v in STANDARD_TYPES.get(obj, {}).items()}
    parents = _PARENTS.get(obj, {})
    schema = ObjectSchema(obj, parents=dict(parents))
    for label in frame.columns:
        if not isinstance(label, str):
            continue
        head, dot, tail = label.strip().partition(".")
        lower = label.strip().lower()
        if lower in schema.fields:
            raise ValidationError(
                f"the {obj} frame has two columns for field {label!r} (names are compared "
                "without regard to case, as in SOQL)"
            )
        if dot and head.lower() in parents:
            rel, parent = parents[head.lower()]
            known = {k.lower(): (k, v) for k, v in STANDARD_TYPES.get(parent, {}).items()}
            canonical, kind = known.get(tail.lower(), (tail, _dtype_type(frame[label])))
            info = FieldInfo(f"{rel}.{canonical}", kind)
        else:
            canonical, kind = standard.get(lower, (label.strip(), ""))
            info = FieldInfo(canonical, kind or _dtype_type(frame[label]))
        schema.fields[lower] = info
        schema.columns[lower] = label
    if "id" not in schema.fields:
        raise ValidationError(
            f"the {obj} frame needs an Id column (the Salesforce record id); its columns are "
            f"{list(frame.columns)!r}"
        )
    return schema
