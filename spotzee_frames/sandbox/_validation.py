"""Field rules of the Main API: small functions that accept, normalise or refuse one value.

Each check raises `FieldError` (code, message, param) and is cheap on the common path:
precompiled patterns first, the slower libraries (email-validator, phonenumbers) only
for input the fast path cannot settle.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any, Final
from zoneinfo import available_timezones

import email_validator
import phonenumbers

__all__ = [
    "USER_FIELDS",
    "FieldError",
    "check_data",
    "check_email",
    "check_identifier",
    "check_locale",
    "check_phone",
    "check_timestamp",
    "check_timezone",
    "check_upsert_item",
    "check_user_profile",
    "check_user_reference",
    "json_type",
]


class FieldError(Exception):
    """One refused value: an error code from the catalogue, a message, and where."""

    def __init__(self, code: str, message: str, param: str | None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param

    def as_item_error(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "param": self.param}


def json_type(value: object) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _bad_type(param: str, wanted: str, value: object) -> FieldError:
    return FieldError(
        "parameter_invalid_format", f"{param} must be {wanted}, got {json_type(value)}", param
    )


def _empty(param: str) -> FieldError:
    return FieldError("parameter_invalid_empty", f"{param} must not be empty", param)


MAX_IDENTIFIER: Final = 255


def check_identifier(value: object, param: str) -> str:
    """external_id / anonymous_id: a non-empty string (the API takes strings, not numbers)."""
    if type(value) is str:
        if len(value) > MAX_IDENTIFIER:
            raise FieldError(
                "parameter_invalid_format", f"{param} must be at most 255 characters", param
            )
        if value and not value.isspace():
            return value
        raise _empty(param)
    raise _bad_type(param, "a string", value)


# Dot-atom local part and letters-digits-hyphens labels: a strict subset of what
# email-validator accepts, so a match needs no second opinion.
_ATEXT: Final = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL_FAST: Final = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}")
# Domains email-validator refuses even without deliverability checks (RFC 6761 and kin).
_SPECIAL_USE: Final = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})


def _fast_email(value: str) -> bool:
    if len(value) > 254 or _EMAIL_FAST.fullmatch(value) is None:
        return False
    local, _, domain = value.rpartition("@")
    if len(local) > 64 or len(domain) > 253:
        return False
    lowered = domain.lower()
    # Punycode labels need IDNA decoding; leave them to email-validator.
    if "xn--" in lowered or "--" in lowered:
        return False
    return lowered.rpartition(".")[2] not in _SPECIAL_USE


def _nullable_text(value: object, param: str) -> str | None:
    """The value of a `string or null` field: None, or a non-empty string (else an error)."""
    if value is None:
        return None
    if type(value) is not str:
        raise _bad_type(param, "a string or null", value)
    if not value:
        raise _empty(param)
    return value


def check_email(value: object, param: str) -> str | None:
    """RFC 5322 address syntax (no deliverability check); stored as given."""
    if (value := _nullable_text(value, param)) is None:
        return None
    if _fast_email(value):
        return value
    try:
        email_validator.validate_email(value, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        raise FieldError(
            "parameter_invalid_format", f"{param} is not a valid email address: {exc}", param
        ) from None
    return value


_E164: Final = re.compile(r"\+[1-9][0-9]{1,14}")


def check_phone(value: object, param: str) -> str | None:
    """E.164 as is; another international format normalised to E.164 when it parses."""
    if (value := _nullable_text(value, param)) is None:
        return None
    if _E164.fullmatch(value) is not None:
        return value
    problem = (
        f"{param} must be a phone number in E.164 format (+61293744000) or an international "
        "format with a leading + and country code"
    )
    if len(value) > 64:
        raise FieldError("parameter_invalid_format", problem, param)
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise FieldError("parameter_invalid_format", problem, param) from None
    if not phonenumbers.is_possible_number(number):
        raise FieldError("parameter_invalid_format", problem, param)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(value: object, param: str) -> str | None:
    """An IANA zone name known to zoneinfo, at most 50 characters."""
    if (value := _nullable_text(value, param)) is None:
        return None
    if len(value) > 50:
        raise FieldError(
            "parameter_invalid_format", f"{param} must be at most 50 characters", param
        )
    if value not in _zones():
        raise FieldError(
            "validation_failed",
            f"{param} {value!r} is not an IANA time zone name (e.g. Australia/Sydney)",
            param,
        )
    return value


# BCP 47 (RFC 5646) language tag syntax: langtag | privateuse | grandfathered.
_LANGTAG: Final = (
    r"(?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4,8})"  # language (+ extlangs)
    r"(?:-[a-z]{4})?"  # script
    r"(?:-(?:[a-z]{2}|[0-9]{3}))?"  # region
    r"(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*"  # variants
    r"(?:-[0-9a-wyz](?:-[a-z0-9]{2,8})+)*"  # extensions
    r"(?:-x(?:-[a-z0-9]{1,8})+)?"  # private use
)
_GRANDFATHERED: Final = (
    r"en-gb-oed|i-(?:ami|bnn|default|enochian|hak|klingon|lux|mingo|navajo|pwn|tao|tay|tsu)"
    r"|sgn-(?:be-fr|be-nl|ch-de)|art-lojban|cel-gaulish|no-bok|no-nyn"
    r"|zh-(?:guoyu|hakka|min|min-nan|xiang)"
)
_LOCALE: Final = re.compile(
    rf"{_LANGTAG}|x(?:-[a-z0-9]{{1,8}})+|{_GRANDFATHERED}", re.IGNORECASE | re.ASCII
)


def check_locale(value: object, param: str) -> str | None:
    """A BCP 47 tag (`en-AU`, not `en_AU`), at most 255 characters."""
    if (value := _nullable_text(value, param)) is None:
        return None
    if len(value) > 255 or _LOCALE.fullmatch(value) is None:
        raise FieldError(
            "parameter_invalid_format",
            f"{param} must be a BCP 47 language tag such as en-AU (hyphens, not underscores)",
            param,
        )
    return value


def check_data(value: object, param: str) -> dict[str, Any] | None:
    """Custom attributes: an object, or null to clear them."""
    if value is None:
        return None
    if type(value) is not dict:
        raise _bad_type(param, "an object or null", value)
    return value


_RFC3339: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)


def check_timestamp(value: object, param: str) -> datetime:
    """An RFC 3339 timestamp with an offset (`2026-04-28T09:30:00Z`)."""
    if type(value) is not str:
        raise _bad_type(param, "an RFC 3339 timestamp string", value)
    if not value:
        raise _empty(param)
    problem = f"{param} must be an RFC 3339 timestamp with an offset, e.g. 2026-04-28T09:30:00Z"
    if _RFC3339.fullmatch(value) is None:
        raise FieldError("parameter_invalid_format", problem, param)
    text = value.upper()
    if "." in text:
        # fromisoformat takes at most 6 fractional digits; RFC 3339 allows more.
        head, _, tail = text.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        text = f"{head}.{tail[: min(digits, 6)].ljust(6, '0')}{tail[digits:]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise FieldError("parameter_invalid_format", problem, param) from None


Check = Callable[[object, str], Any]

#: The first-class user fields, in the order the API documents them.
USER_FIELDS: Final = ("external_id", "anonymous_id", "email", "phone", "timezone", "locale", "data")
_UPSERT_CHECKS: Final[dict[str, Check]] = {
    "external_id": check_identifier,
    "anonymous_id": check_identifier,
    "email": check_email,
    "phone": check_phone,
    "timezone": check_timezone,
    "locale": check_locale,
    "data": check_data,
}
_UPSERT_KEYS: Final = frozenset(_UPSERT_CHECKS)
_ALLOWED_TEXT: Final = ", ".join(USER_FIELDS)


def check_upsert_item(item: object) -> dict[str, Any]:
    """One item of `POST /users/batch` or `PATCH /users`, normalised.

    The result holds only the keys the item had; a key with value None means "clear it".
    Params in errors are the item's field names.
    """
    if type(item) is not dict:
        raise FieldError(
            "parameter_invalid_format", f"each item must be an object, got {json_type(item)}", None
        )
    if not item.keys() <= _UPSERT_KEYS:
        unknown = next(key for key in item if key not in _UPSERT_KEYS)
        raise FieldError(
            "parameter_unknown",
            f"unknown field {unknown!r}: allowed fields are {_ALLOWED_TEXT}; "
            "put custom attributes in data",
            unknown,
        )
    fields = {key: _UPSERT_CHECKS[key](value, key) for key, value in item.items()}
    if "external_id" not in fields and "anonymous_id" not in fields:
        raise FieldError(
            "parameter_missing", "each item needs an external_id or an anonymous_id", "external_id"
        )
    return fields


_PROFILE_CHECKS: Final[dict[str, Check]] = {
    key: _UPSERT_CHECKS[key] for key in ("email", "phone", "timezone", "locale", "data")
}


def check_user_profile(value: object, param: str) -> dict[str, Any]:
    """The `user` of an event: optional email, phone, timezone, locale and data."""
    if type(value) is not dict:
        raise _bad_type(param, "an object", value)
    fields: dict[str, Any] = {}
    for key, item in value.items():
        check = _PROFILE_CHECKS.get(key)
        if check is None:
            raise FieldError(
                "parameter_unknown",
                f"unknown field {key!r} in {param}: allowed are email, phone, timezone, "
                "locale, data",
                f"{param}.{key}",
            )
        fields[key] = check(item, f"{param}.{key}")
    return fields


def check_user_reference(value: object, param: str) -> tuple[dict[str, Any], str | None]:
    """The `user` of a campaign or journey trigger.

    `external_id` is required; known fields are checked like an upsert; `device_token` is
    returned apart; any other key is a custom attribute and joins `data`.
    """
    if type(value) is not dict:
        raise _bad_type(param, "an object", value)
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    device_token: str | None = None
    for key, item in value.items():
        check = _UPSERT_CHECKS.get(key)
        if check is not None:
            fields[key] = check(item, f"{param}.{key}")
        elif key == "device_token":
            if item is not None:
                device_token = check_identifier(item, f"{param}.device_token")
        else:
            extra[key] = item
    if "external_id" not in fields:
        raise FieldError(
            "parameter_missing", f"{param}.external_id is required", f"{param}.external_id"
        )
    if extra:
        merged = dict(fields.get("data") or {})
        merged.update(extra)
        fields["data"] = merged
    return fields, device_token
