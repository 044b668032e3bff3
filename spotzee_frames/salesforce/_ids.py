"""Salesforce record ids and the external ids the server integration gives their users."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["external_id", "external_id_prefix", "id18", "is_record_id"]

_CHECKSUM: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID: Final = re.compile(r"[0-9A-Za-z]{15}(?:[A-Z0-5]{3})?")


def is_record_id(value: object) -> bool:
    """Whether `value` reads as a 15- or 18-character record id."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def id18(record_id: str) -> str:
    """The 18-character, case-safe id: a 15-character id plus its three checksum letters
    (each encodes which of five characters are upper case); an 18-character id as it is."""
    if len(record_id) == 18:
        return record_id
    suffix = ""
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(record_id[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        suffix += _CHECKSUM[bits]
    return record_id + suffix


def external_id_prefix(integration: str, obj: str) -> str:
    """`sf_<integrationId>_<objectType>_`: what every external id of one object starts with."""
    return f"sf_{integration}_{obj}_"


def external_id(integration: str, obj: str, record_id: str) -> str:
    """`sf_<integrationId>_<objectType>_<salesforceId>`, the contract's pattern, with the
    object's API name as written and the 18-character record id."""
    return external_id_prefix(integration, obj) + id18(record_id)
