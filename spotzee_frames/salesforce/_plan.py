"""An integration's configuration checked against a source's fields: per object, the
typed rules, the resolved mappings, the opt-out fields and the SELECT list of the pull.

Every problem is a ValidationError raised here, before any record is pulled or sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import orjson

from .._errors import ValidationError
from ._convert import DEFAULT_MAPPINGS, FieldMapping, type_for
from ._fields import FieldInfo, close_match
from ._rules import Rule, TypedRule, typed_rule
from ._source import Source

__all__ = ["OPT_OUT_FIELDS", "ObjectConfig", "ObjectPlan", "plan_object"]

#: Where each object's email opt-out is read: its own checkbox, or its parent's.
OPT_OUT_FIELDS: Final = {
    "Lead": ("HasOptedOutOfEmail",),
    "Contact": ("HasOptedOutOfEmail",),
    "CampaignMember": ("Lead.HasOptedOutOfEmail", "Contact.HasOptedOutOfEmail"),
}


@dataclass(frozen=True)
class ObjectConfig:
    """One object's part of an integration, as given (checked on its own)."""

    obj: str
    rules: tuple[Rule, ...]
    match: str
    mappings: Mapping[str, tuple[str, str | None] | None]
    opt_out: str | None  # data.<key>, or None


@dataclass(frozen=True)
class ObjectPlan:
    """One object's part of a run."""

    obj: str
    rules: tuple[TypedRule, ...]
    match: str
    mappings: tuple[FieldMapping, ...]
    opt_out: str | None
    opt_out_fields: tuple[FieldInfo, ...]
    fields: tuple[str, ...]
    #: Changes whenever rules, mappings or opt-out change: a new one means a full pull.
    fingerprint: str

    def source_of(self, destination: str | None) -> str | None:
        """The Salesforce field behind a Spotzee destination (for error reports)."""
        for m in self.mappings:
            if m.destination == destination:
                return m.field.name
        return None


def _field(source: Source, obj: str, name: str, what: str) -> FieldInfo:
    info = source.field(obj, name)
    if info is None:
        names = source.schema(obj).names()
        raise ValidationError(
            f"{what}: {obj} has no field {name!r}{close_match(name, names)}"
            + (" (in the frame: add the column)" if source.kind == "frames" else "")
        )
    return info


def plan_object(config: ObjectConfig, source: Source) -> ObjectPlan:
    obj = config.obj
    rules = tuple(
        typed_rule(obj, rule, _field(source, obj, rule.field, f"rule {str(rule)!r}"))
        for rule in config.rules
    )
    explicit = {name.lower(): (name, target) for name, target in config.mappings.items()}
    rows: list[FieldMapping] = []
    for name, destination in DEFAULT_MAPPINGS.items():
        if name.lower() in explicit:
            continue
        info = source.field(obj, name)
        if info is not None:  # a default the object lacks is no default
            rows.append(FieldMapping(info, destination, type_for(obj, info, None)))
    for name, target in explicit.values():
        if target is None:
            continue
        info = _field(source, obj, name, f"mapping {name!r}")
        destination, kind = target
        rows.append(FieldMapping(info, destination, type_for(obj, info, kind)))
    by_destination: dict[str, str] = {}
    for row in rows:
        if row.destination in by_destination:
            raise ValidationError(
                f"mappings of {obj}: {by_destination[row.destination]} and {row.field.name} "
                f"both feed {row.destination}; map one of them elsewhere (or to None)"
            )
        by_destination[row.destination] = row.field.name
    opt_out_fields: tuple[FieldInfo, ...] = ()
    if config.opt_out is not None:
        if config.opt_out in by_destination:
            raise ValidationError(
                f"mappings of {obj}: {by_destination[config.opt_out]} feeds {config.opt_out}, "
                "which is the opt-out property; map it elsewhere"
            )
        found = [source.field(obj, name) for name in OPT_OUT_FIELDS.get(obj, ())]
        opt_out_fields = tuple(f for f in found if f is not None)
        if not opt_out_fields:
            wanted = " or ".join(OPT_OUT_FIELDS.get(obj, ("HasOptedOutOfEmail",)))
            raise ValidationError(
                f"opt-out is on but {obj} has no {wanted} to read it from; add the field "
                "(or the column, for a frame), or pass opt_out=None"
            )
        for f in opt_out_fields:
            if f.type != "boolean":
                raise ValidationError(f"{obj}.{f.name} is a {f.type} field, not a checkbox")
    selected: list[str] = []
    first = ("Id", "LastModifiedDate", *(r.field.name for r in rows))
    for name in (*first, *(f.name for f in opt_out_fields)):
        if name.lower() not in {f.lower() for f in selected}:
            selected.append(name)
    fingerprint = hashlib.sha256(
        orjson.dumps(
            {
                "rules": [(r.field.name, r.operator, repr(r.value)) for r in rules],
                "match": config.match,
                "mappings": [(r.field.name, r.destination, r.type) for r in rows],
                "opt_out": config.opt_out,
            }
        )
    ).hexdigest()[:16]
    return ObjectPlan(
        obj,
        rules,
        config.match,
        tuple(rows),
        config.opt_out,
        opt_out_fields,
        tuple(selected),
        fingerprint,
    )
