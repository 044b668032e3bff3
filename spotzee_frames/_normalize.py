"""Normalise first-class user fields column by column: ids, email, phone, timezone, locale.

Shared by upserts and the trigger calls. Each normaliser takes a whole column and returns a
`FieldResult`: the value to send per row (or None), which rows have no value, which rows
are invalid and why. Work is vectorised over the column (Arrow string kernels, numpy), and
anything that needs a per-value library call (email-validator, phonenumbers, the IANA zone
list, the BCP-47 grammar) runs once per *distinct* value, never once per row.

Blank strings (empty or only whitespace) count as missing in every first-class field.

- `external_id`, `anonymous_id`: strings are kept exactly as given; integers (any int
  dtype, and whole floats such as 17.0 from a column that had NaN) become `"17"`.
  Fractional or infinite floats, booleans and other objects are invalid.
- `email`: trimmed, the domain lower-cased (the local part is kept as written), checked
  for RFC 5322 / RFC 5321 syntax without any DNS look-up. A vectorised pattern accepts
  the ordinary dot-atom addresses; the rest go through `email_validator` (quoted local
  parts, internationalised domains, IP literals…), which accepts or explains.
- `phone`: E.164 (`+61400123456`). Numbers already written as `+<digits>` (spaces, dots,
  dashes and parentheses allowed) are checked in bulk against phonenumbers' metadata;
  anything else is parsed by phonenumbers, national numbers with `default_region`. A
  number phonenumbers cannot parse, or whose length is not possible for its country
  (including local-only numbers without an area code), is invalid. Integer phone columns
  are read as digits, i.e. as national numbers unless they start with the country code
  *and* `default_region` is given (phonenumbers then recognises the prefix).
- `timezone`: an IANA name from `zoneinfo.available_timezones()`; a name that differs only
  in letter case is fixed (`australia/sydney` → `Australia/Sydney`). At most 50 characters.
- `locale`: a BCP-47 tag (RFC 5646 syntax; the language subtag must have 2 or 3 letters,
  as every registered language has, so `english` is refused) with the conventional case:
  `en_au`, `EN-au`
  → `en-AU`, `zh_hant_tw` → `zh-Hant-TW`. POSIX suffixes are dropped (`en_AU.UTF-8` →
  `en-AU`). At most 255 characters.
"""

from __future__ import annotations

import decimal
import functools
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import email_validator
import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import PhoneMetadata

from . import _spelling as spell
from ._errors import ValidationError
from ._mapping import FIRST_CLASS, ID_FIELDS

__all__ = [
    "FIRST_CLASS",
    "FieldResult",
    "check_region",
    "normalize_email",
    "normalize_field",
    "normalize_id",
    "normalize_locale",
    "normalize_phone",
    "normalize_timezone",
    "plain_arrow",
]

TIMEZONE_MAX = 50
LOCALE_MAX = 255


@dataclass(frozen=True)
class FieldResult:
    """A normalised column. Positions follow the input Series' positions.

    `values`: object array, the normalised string per row, None where missing or invalid.
    `missing`: bool array, True where the row has no value (NA, NaN, None, blank string).
    `invalid`: bool array, True where the row has a value that cannot be used.
    `messages`: `{position: message}` for the invalid rows.
    `extensions`: for phones, the extension each number was written with (`x88321` →
    `"88321"`; E.164 has no room for one), None where none; None when no row has one.
    """

    values: np.ndarray
    missing: np.ndarray
    invalid: np.ndarray
    messages: dict[int, str]
    extensions: np.ndarray | None = None

    def to_series(self, index: pd.Index | None = None) -> pd.Series:
        """The normalised values as a `string` Series (NA where missing or invalid)."""
        return pd.Series(self.values, index=index, dtype="string")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


# --- plumbing -----------------------------------------------------------------------------


def _is_stringish(values: pd.Series) -> bool:
    dtype = values.dtype
    if isinstance(dtype, pd.StringDtype):
        return True
    if isinstance(dtype, pd.ArrowDtype):
        t = dtype.pyarrow_dtype
        return bool(pa.types.is_string(t) or pa.types.is_large_string(t))
    if pd.api.types.is_object_dtype(dtype):
        return pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")
    return False


def _arrow_text(values: pd.Series) -> pa.Array:
    """A string column as one Arrow string array (nulls where missing)."""
    dtype = values.dtype
    if pd.api.types.is_object_dtype(dtype):
        arr = pa.array(values.to_numpy(dtype=object), type=pa.large_string(), from_pandas=True)
    else:
        arr = pa.array(values.array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.large_string())
    return arr


def _np_bool(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An Arrow boolean array as numpy, nulls as False."""
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _np_objects(arr: pa.Array) -> np.ndarray:
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)


_PerValue = Callable[[Any], tuple[str | None, str | None]]


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _by_unique(
    objects: np.ndarray, rows: np.ndarray, fn: _PerValue
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run `fn(value) -> (normalised, error)` once per distinct value of `objects[rows]`.

    Returns (values, errors-or-None, blank) arrays aligned with `rows`, where `fn`
    returning (None, None) means the value counts as blank (missing).
    """
    subset = objects[rows]
    if len({type(v) for v in subset}) > 1:
        # 1 == 1.0 == True to a hash table; keep the type so each is judged on its own.
        keys = np.empty(len(subset), dtype=object)
        keys[:] = [(type(v), v) if _hashable(v) else (type(v), id(v)) for v in subset]
        codes, _ = pd.factorize(keys)
        first = np.full(codes.max() + 1 if len(codes) else 0, -1, dtype=np.int64)
        first[codes[::-1]] = np.arange(len(codes))[::-1]
        uniques = subset[first]
    else:
        try:
            codes, uniques = pd.factorize(subset, use_na_sentinel=True)
        except TypeError:  # unhashable values: judge each one
            codes, uniques = np.arange(len(subset)), subset
    out = np.empty(len(uniques), dtype=object)
    err = np.empty(len(uniques), dtype=object)
    for i, u in enumerate(uniques):
        out[i], err[i] = fn(u)
    values = out[codes]
    errors = err[codes]
    blank = np.asarray(pd.isna(values), dtype=bool) & np.asarray(pd.isna(errors), dtype=bool)
    return values, errors, blank


def _finish(
    n: int,
    field: str,
    column: Any,
    values: np.ndarray,
    missing: np.ndarray,
    errors: dict[int, str],
) -> FieldResult:
    invalid = np.zeros(n, dtype=bool)
    messages: dict[int, str] = {}
    if errors:
        where = f"{field}" if column is None or column == field else f"{field} (column {column!r})"
        pos = np.fromiter(errors, dtype=np.int64, count=len(errors))
        invalid[pos] = True
        values[pos] = None
        messages = {p: f"{where}: {msg}" for p, msg in errors.items()}
    return FieldResult(
        values=values, missing=missing & ~invalid, invalid=invalid, messages=messages
    )


def _errors_at(rows: np.ndarray, errors: np.ndarray) -> dict[int, str]:
    bad = np.flatnonzero(np.asarray(pd.notna(errors), dtype=bool))
    return {int(rows[i]): str(errors[i]) for i in bad}


def _via_objects(values: pd.Series, field: str, column: Any, fn: _PerValue) -> FieldResult:
    """The generic path: per distinct value, for columns that are not plain text."""
    objects = values.to_numpy(dtype=object)
    n = len(objects)
    na = np.asarray(pd.isna(objects), dtype=bool)
    rows = np.flatnonzero(~na)
    out = np.full(n, None, dtype=object)
    missing = na.copy()
    errors: dict[int, str] = {}
    if len(rows):
        vals, errs, blank = _by_unique(objects, rows, fn)
        out[rows] = vals
        missing[rows[blank]] = True
        errors = _errors_at(rows, errs)
    return _finish(n, field, column, out, missing, errors)


def _via_dictionary(values: pd.Series, field: str, column: Any, fn: _PerValue) -> FieldResult:
    """Like `_via_objects`, for text columns: Arrow finds the distinct values, fast."""
    if not _is_stringish(values):
        return _via_objects(values, field, column, fn)
    n = len(values)
    encoded = _arrow_text(values).dictionary_encode()
    dictionary = encoded.dictionary.to_pylist()
    out_dict = np.empty(len(dictionary) + 1, dtype=object)
    err_dict = np.empty(len(dictionary) + 1, dtype=object)
    for i, u in enumerate(dictionary):
        out_dict[i], err_dict[i] = fn(u)
    out_dict[-1], err_dict[-1] = None, None  # null entries point here
    codes = np.asarray(
        pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64
    )
    err_mask = np.array([e is not None for e in err_dict], dtype=bool)
    gap_mask = np.array([v is None for v in out_dict], dtype=bool) & ~err_mask
    out = out_dict[codes]
    has_err = err_mask[codes]
    missing = gap_mask[codes]
    errors = {int(p): str(err_dict[codes[p]]) for p in np.flatnonzero(has_err)}
    return _finish(n, field, column, out, missing, errors)


def _categorical(values: pd.Series, normalise: Callable[[pd.Series], FieldResult]) -> FieldResult:
    """Normalise the categories once, then spread the outcome over the codes."""
    cats = normalise(pd.Series(values.cat.categories))
    codes = np.asarray(values.cat.codes.to_numpy(), dtype=np.int64)
    na = codes < 0
    safe = np.where(na, 0, codes)
    if len(cats.values) == 0:
        n = len(codes)
        return FieldResult(np.full(n, None, dtype=object), na, np.zeros(n, bool), {})
    out = cats.values[safe]
    out[na] = None
    missing = cats.missing[safe] | na
    invalid = cats.invalid[safe] & ~na
    messages = {int(p): cats.messages[int(safe[p])] for p in np.flatnonzero(invalid)}
    extensions = None
    if cats.extensions is not None:
        extensions = cats.extensions[safe]
        extensions[na] = None
    return FieldResult(out, missing, invalid, messages, extensions)


# --- identifiers ----------------------------------------------------------------------------


def _id_value(value: Any) -> tuple[str | None, str | None]:
    if isinstance(value, str):
        return (None, None) if not value.strip() else (value, None)
    if isinstance(value, bool | np.bool_):
        return None, f"{value!r} is a boolean, not an id"
    if isinstance(value, int | np.integer):
        return str(int(value)), None
    if isinstance(value, decimal.Decimal):
        if value.is_finite() and value == int(value):
            return str(int(value)), None
        return None, f"{value!r} is not a whole number; ids are strings or integers"
    if isinstance(value, float | np.floating):
        if not np.isfinite(value) or value != int(value):
            return None, f"{value!r} is not a whole number; ids are strings or integers"
        exact = _exact_float_limit(np.asarray(value).dtype)
        if abs(float(value)) > exact:
            return None, _rounded_id(value, exact)
        return str(int(value)), None
    return None, f"{type(value).__name__} value {_short(value)} is not a string or integer id"


def _exact_float_limit(dtype: Any) -> int:
    """The largest magnitude up to which a float dtype holds every integer (2**53 for
    float64): past it, a whole float may be a rounded id."""
    try:
        bits = int(np.finfo(dtype).nmant) + 1
    except (TypeError, ValueError):  # not a numpy float dtype: take float64's
        bits = 53
    return int(2**bits)


def _rounded_id(value: np.floating | float, exact: int) -> str:
    head = (
        f"{value!s} cannot be trusted as an id: past 2**{exact.bit_length() - 1} a float "
        "skips integers, so the id may have been rounded already"
    )
    if spell.is_cli():
        return f"{head}; write the ids as text in the file"
    return (
        f"{head} (a blank cell in a CSV column of ids makes it float); read the column as "
        "text, e.g. with spotzee_frames.read_file(path) or "
        "pd.read_csv(..., dtype={'<column>': str})"
    )


def normalize_id(
    values: pd.Series, field: str = "external_id", *, column: Any = None
) -> FieldResult:
    """`external_id` / `anonymous_id`: strings as given, integers (and whole floats) as text."""
    n = len(values)
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _categorical(values, lambda s: normalize_id(s, field, column=column))
    if _is_stringish(values):
        text = _arrow_text(values)
        na = np.asarray(text.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        blank = _np_bool(pc.or_(pc.equal(text, ""), pc.utf8_is_space(text)))
        out = _np_objects(text)
        missing = na | blank
        if blank.any():
            out[blank] = None
        return _finish(n, field, column, out, missing, {})
    kind = getattr(getattr(dtype, "numpy_dtype", dtype), "kind", "O")
    if kind in "iu" and isinstance(dtype, np.dtype | pd.api.extensions.ExtensionDtype):
        if isinstance(dtype, np.dtype):
            na = np.zeros(n, dtype=bool)
            ints = values.to_numpy()
        else:
            na = np.asarray(values.isna(), dtype=bool)
            ints = values.to_numpy(dtype=getattr(dtype, "numpy_dtype", np.int64), na_value=0)
        out = np.array(ints.astype(str), dtype=object)
        out[na] = None
        return _finish(n, field, column, out, na, {})
    if kind == "f":
        float_type: np.dtype[Any] = (
            dtype if isinstance(dtype, np.dtype) else np.dtype(getattr(dtype, "numpy_dtype", "f8"))
        )
        exact = _exact_float_limit(float_type)
        floats = values.to_numpy(dtype=np.float64, na_value=np.nan)
        na = np.isnan(floats)
        whole = np.isfinite(floats) & (np.floor(floats) == floats)
        too_big = whole & (np.abs(floats) > exact)
        whole &= ~too_big
        out = np.full(n, None, dtype=object)
        if whole.any():
            out[whole] = floats[whole].astype(np.int64).astype(str)
        bad = ~na & ~whole & ~too_big
        errors = {
            int(p): f"{float(floats[p])!r} is not a whole number; ids are strings or integers"
            for p in np.flatnonzero(bad)
        }
        errors.update(
            {
                int(p): _rounded_id(float_type.type(floats[p]), exact)
                for p in np.flatnonzero(too_big)
            }
        )
        return _finish(n, field, column, out, na, errors)
    return _via_objects(values, field, column, _id_value)


# --- email ----------------------------------------------------------------------------------

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
# Plain dot-atom addresses with an ASCII domain of letter-digit-hyphen labels (no `--`, so
# no R-LDH or Punycode label) and a top-level label of letters. Together with the length
# checks and the special-use test below, a strict subset of what email_validator accepts
# (the tests hold it to that), decided in bulk; everything else asks email_validator.
_EMAIL_FAST = rf"^{_ATEXT}+(?:\.{_ATEXT}+)*@(?:[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\.)+[A-Za-z][A-Za-z]+$"
_EMAIL_SPECIAL_TAIL = (
    r"(?i)[@.](?:"
    + "|".join(re.escape(d) for d in email_validator.SPECIAL_USE_DOMAIN_NAMES)
    + r")$"
)
_EMAIL_DOMAIN_FAST_MAX = 63  # a domain this short cannot have a label over 63 characters
_EMAIL_LOCAL_MAX = 64
_EMAIL_MAX = 254


def _email_value(value: Any) -> tuple[str | None, str | None]:
    if not isinstance(value, str):
        return None, f"{type(value).__name__} value {_short(value)} is not an email address"
    text = value.strip()
    if not text:
        return None, None
    try:
        checked = email_validator.validate_email(
            text,
            check_deliverability=False,
            allow_quoted_local=True,
            allow_domain_literal=True,
            allow_smtputf8=True,
        )
    except email_validator.EmailNotValidError as exc:
        return None, f"{_short(text)} is not a valid email address: {exc}"
    return str(checked.normalized), None


def normalize_email(values: pd.Series, *, column: Any = None) -> FieldResult:
    """Trim, lower-case the domain, check RFC 5322 syntax (no DNS)."""
    field = "email"
    n = len(values)
    if isinstance(values.dtype, pd.CategoricalDtype):
        return _categorical(values, lambda s: normalize_email(s, column=column))
    if not _is_stringish(values):
        return _via_objects(values, field, column, _email_value)
    # ASCII trimming is much faster; values with other white space fail the pattern and
    # are trimmed by `str.strip` on the slow path.
    text = pc.ascii_trim_whitespace(_arrow_text(values))
    na = np.asarray(text.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    blank = _np_bool(pc.equal(text, ""))
    at = np.asarray(
        pc.fill_null(pc.find_substring(text, "@"), -1).to_numpy(zero_copy_only=False),
        dtype=np.int64,
    )
    length = np.asarray(
        pc.fill_null(pc.binary_length(text), 0).to_numpy(zero_copy_only=False), dtype=np.int64
    )
    fast = (
        _np_bool(pc.match_substring_regex(text, _EMAIL_FAST))
        & (at <= _EMAIL_LOCAL_MAX)
        & (length - at - 1 <= _EMAIL_DOMAIN_FAST_MAX)
    )
    if fast.any():
        fast &= ~_np_bool(pc.match_substring_regex(text, _EMAIL_SPECIAL_TAIL))
    out = np.full(n, None, dtype=object)
    if fast.any():
        # Lower-casing the whole address is right unless the local part has capitals:
        # only those few need the domain lowered on its own.
        lowered = pc.ascii_lower(text)
        if fast.all():
            out = _np_objects(lowered)
        else:
            out[fast] = _np_objects(pc.filter(lowered, pa.array(fast)))
        upper_local = fast & _np_bool(pc.match_substring_regex(text, "^[^@A-Z]*[A-Z][^@]*@"))
        if upper_local.any():
            mixed = pc.filter(text, pa.array(upper_local))
            parts = pc.split_pattern(mixed, "@", max_splits=1)
            joined = pc.binary_join_element_wise(
                pc.list_element(parts, 0),
                pc.ascii_lower(pc.list_element(parts, 1)),
                pa.scalar("@", pa.large_string()),
            )
            out[upper_local] = _np_objects(joined)
    missing = na | blank
    slow = ~fast & ~missing
    errors: dict[int, str] = {}
    if slow.any():
        rows = np.flatnonzero(slow)
        subset = _np_objects(pc.filter(text, pa.array(slow)))
        vals, errs, blank_slow = _by_unique(subset, np.arange(len(rows)), _email_value)
        out[rows] = vals
        missing[rows[blank_slow]] = True
        errors = _errors_at(rows, errs)
    return _finish(n, field, column, out, missing, errors)


# --- phone ----------------------------------------------------------------------------------

_E164_STRICT = r"^\+[1-9][0-9]{2,14}$"
_E164_LOOSE = r"^\+[\s().\-/]*[1-9](?:[\s().\-/]*[0-9]){2,14}$"

_PHONE_PUNCT = r"[\s().\-/]"
_PNF = phonenumbers.PhoneNumberFormat.E164
_VR = phonenumbers.ValidationResult


def _possible_reason(num: phonenumbers.PhoneNumber) -> str | None:
    """None if the number's length is possible for its country, else why not."""
    reason = phonenumbers.is_possible_number_with_reason(num)
    if reason == _VR.IS_POSSIBLE:
        return None
    if reason == _VR.IS_POSSIBLE_LOCAL_ONLY:
        return "is a local number without an area code"
    if reason == _VR.INVALID_COUNTRY_CODE:
        return "has no valid country code"
    if reason == _VR.TOO_SHORT:
        return "is too short for its country"
    if reason == _VR.TOO_LONG:
        return "is too long for its country"
    return "has a length no number of its country has"


@functools.lru_cache(maxsize=4096)
def _group_reason(country_code: int, length: int) -> str | None:
    """Whether a +<country_code><length digits> number is possible (by length alone)."""
    num = phonenumbers.PhoneNumber(country_code=country_code, national_number=int("1" * length))
    return _possible_reason(num)


@functools.lru_cache(maxsize=512)
def _national_prefix(country_code: int) -> str | None:
    region = phonenumbers.region_code_for_country_code(country_code)
    meta = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if meta is None:  # pragma: no cover - only for codes phonenumbers does not know
        return None
    prefix = meta.national_prefix_for_parsing
    return prefix or None


def _phone_value(region: str | None) -> _PerValue:
    def parse(value: Any) -> tuple[str | None, str | None]:
        if isinstance(value, bool | np.bool_):
            return None, f"{value!r} is a boolean, not a phone number"
        if isinstance(value, int | np.integer):
            text = str(int(value))
        elif isinstance(value, float | np.floating):
            if not np.isfinite(value) or value != int(value):
                return None, f"{value!r} is not a phone number"
            text = str(int(value))
        elif isinstance(value, str):
            text = value.strip()
            if not text:
                return None, None
        else:
            return None, f"{type(value).__name__} value {_short(value)} is not a phone number"
        try:
            num = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException as exc:
            if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
                hint = (
                    "it is not in international format (+...); pass "
                    f"{spell.option('default_region')} to read national numbers"
                    if region is None
                    else f"it has no valid country code ({spell.option('default_region', region)})"
                )
                return None, f"{_short(text)} cannot be read as a phone number: {hint}"
            return None, f"{_short(text)} cannot be read as a phone number: {exc._msg}"
        why = _possible_reason(num)
        if why is not None:
            return None, f"{_short(text)} {why}"
        # A number written without its country code was read as one of default_region's:
        # the length alone can't tell a foreign number from a local one (646-555-0186 is
        # a possible AU length), so it must be a valid number of that region.
        if not text.startswith("+") and not phonenumbers.is_valid_number(num):
            where = phonenumbers.region_code_for_number(num) or region
            return None, f"{_short(text)} {_not_valid_reason(text, where)}"
        e164 = phonenumbers.format_number(num, _PNF)
        return (f"{e164}{_EXTENSION}{num.extension}" if num.extension else e164), None

    return parse


def _not_valid_reason(text: str, region: str | None) -> str:
    """Why a number written without a country code is no valid number of `region`: one
    written the local way (with the region's trunk prefix, like AU's 0) is simply not
    allocated there; a short one is no number anywhere; only a long one may well be
    another country's."""
    digits = re.sub(r"\D", "", text)
    metadata = PhoneMetadata.metadata_for_region(region or "")
    prefix = metadata.national_prefix if metadata is not None else None
    if prefix and digits.startswith(prefix):
        return f"is not a valid {region} number: no {region} number is allocated like that"
    if len(digits) < _FOREIGN_MIN_DIGITS:
        return f"is not a valid {region} number"
    return (
        f"is not a valid {region} number; write numbers from other countries in "
        "international format (+...)"
    )


# The fewest digits a foreign number written without its country code has in practice.
_FOREIGN_MIN_DIGITS = 8

# How `_phone_value` hands on an extension with the number: E.164 never holds a `;`.
_EXTENSION = ";ext="


def _split_extensions(result: FieldResult, rows: np.ndarray | None = None) -> FieldResult:
    """Move the extensions `_phone_value` appended to the numbers into `extensions`;
    only the positions `rows` (all by default) went through `_phone_value`."""
    values = result.values
    candidates = range(len(values)) if rows is None else rows.tolist()
    at = [i for i in candidates if isinstance(v := values[i], str) and _EXTENSION in v]
    if not at:
        return result
    values = values.copy()
    extensions = np.full(len(values), None, dtype=object)
    for i in at:
        values[i], extensions[i] = values[i].split(_EXTENSION, 1)
    return FieldResult(values, result.missing, result.invalid, result.messages, extensions)


_CC_TABLE = np.zeros(1000, dtype=bool)
_CC_TABLE[list(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)] = True


def _prefix_match(e164: pa.Array, code: int, prefix: str) -> np.ndarray:
    """Which `+<code><national number>` strings have a national number that starts with
    the national prefix pattern (as phonenumbers applies it, with `re.match`)."""
    try:
        return _np_bool(pc.match_substring_regex(e164, rf"^\+{code}(?:{prefix})"))
    except pa.ArrowInvalid:  # a pattern RE2 cannot run: use Python's re
        pattern = re.compile(prefix)
        start = 1 + len(str(code))
        return np.fromiter(
            (pattern.match(s, start) is not None for s in e164.to_pylist()),
            dtype=bool,
            count=len(e164),
        )


def _country_code_tables() -> tuple[np.ndarray, np.ndarray]:
    """For each 3-digit head 000-999 of an E.164 number: its country code and that code's
    length in digits (0: none). Country codes are prefix-free, so at most one of the 1-,
    2- and 3-digit heads is one."""
    heads = np.arange(1000)
    cc = np.zeros(1000, dtype=np.int64)
    cc_len = np.zeros(1000, dtype=np.int64)
    for width in (1, 2, 3):
        part = heads // 10 ** (3 - width)
        hit = (cc_len == 0) & _CC_TABLE[part]
        cc[hit] = part[hit]
        cc_len[hit] = width
    return cc, cc_len


_CC_OF_HEAD, _CC_LEN_OF_HEAD = _country_code_tables()


def _fast_e164(e164: pa.Array) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Check `+<3 to 15 digits>` strings in bulk against phonenumbers' metadata.

    Returns (accepted mask, slow mask, errors by position). A number goes to the slow path
    when phonenumbers might rewrite it (a national prefix after the country code, as in
    +61 0400…), so the bulk verdict always equals phonenumbers' own.
    """
    m = len(e164)
    accepted = np.zeros(m, dtype=bool)
    slow = np.zeros(m, dtype=bool)
    errors: dict[int, str] = {}
    lengths = np.asarray(pc.binary_length(e164).to_numpy(zero_copy_only=False), dtype=np.int64) - 1
    # Every candidate has at least three digits: its first three say the country code.
    head3 = np.asarray(
        pc.cast(pc.utf8_slice_codeunits(e164, 1, 4), pa.int16()).to_numpy(zero_copy_only=False),
        dtype=np.intp,
    )
    cc = _CC_OF_HEAD[head3]
    cc_len = _CC_LEN_OF_HEAD[head3]
    no_cc = cc_len == 0
    for p in np.flatnonzero(no_cc):
        errors[int(p)] = "has no valid country code"
    key = np.where(no_cc, -1, cc * 100 + (lengths - cc_len))
    # Usually a handful of (country, length) pairs: find them on a sample and pick
    # their rows with one comparison each; sort whatever the sample missed.
    present = np.unique(key[:: max(1, m // 10_000)])
    seen = np.zeros(m, dtype=bool)
    groups: list[tuple[int, np.ndarray]] = []
    if len(present) <= 32:
        for k in present.tolist():
            rows = np.flatnonzero(key == k)
            seen[rows] = True
            groups.append((k, rows))
    if not seen.all():
        rest = np.flatnonzero(~seen)
        order = rest[np.argsort(key[rest], kind="stable")]
        cut = np.flatnonzero(np.diff(key[order])) + 1
        groups.extend((int(key[g[0]]), g) for g in np.split(order, cut))
    for k, rows in groups:
        if k < 0:
            continue
        code, length = divmod(int(k), 100)
        prefix = _national_prefix(code)
        if prefix is not None:
            # phonenumbers drops a national prefix here when that leaves a possible
            # number, whatever the length before: let it decide those rows.
            everyone = len(rows) == m  # then rows is 0..m-1: no need to gather
            might_strip = _prefix_match(
                e164 if everyone else e164.take(pa.array(rows)), code, prefix
            )
            if might_strip.any():
                slow[rows[might_strip]] = True
                rows = rows[~might_strip]
        why = _group_reason(code, length) if length >= 2 else "is too short"
        if why is None:
            accepted[rows] = True
        else:
            for p in rows:
                errors[int(p)] = why
    return accepted, slow, errors


def normalize_phone(
    values: pd.Series, *, default_region: str | None = None, column: Any = None
) -> FieldResult:
    """To E.164 with phonenumbers; national numbers need `default_region` (e.g. "AU")."""
    field = "phone"
    n = len(values)
    region = default_region.upper() if default_region else None
    if isinstance(values.dtype, pd.CategoricalDtype):
        return _categorical(
            values, lambda s: normalize_phone(s, default_region=default_region, column=column)
        )
    if not _is_stringish(values):
        return _split_extensions(_via_objects(values, field, column, _phone_value(region)))
    text = pc.ascii_trim_whitespace(_arrow_text(values))
    na = np.asarray(text.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    blank = _np_bool(pc.equal(text, ""))
    missing = na | blank
    strict = _np_bool(pc.match_substring_regex(text, _E164_STRICT))
    # Written like E.164 but with spaces, dots, dashes or parentheses: strip them first.
    loose = ~strict & ~missing
    if loose.any():
        loose[loose] = _np_bool(
            pc.match_substring_regex(pc.filter(text, pa.array(loose)), _E164_LOOSE)
        )
    rows = np.flatnonzero(strict)
    candidates = text if len(rows) == n else pc.filter(text, pa.array(strict))
    if loose.any():
        cleaned = pc.replace_substring_regex(pc.filter(text, pa.array(loose)), r"[^0-9+]", "")
        rows = np.concatenate([rows, np.flatnonzero(loose)])
        candidates = pa.concat_arrays([candidates, cleaned])
    out = np.full(n, None, dtype=object)
    errors: dict[int, str] = {}
    slow = ~missing & ~strict & ~loose
    slow_rows = np.zeros(0, dtype=np.int64)
    if len(rows):
        ok, to_slow, errs = _fast_e164(candidates)
        if ok.all() and len(rows) == n and not loose.any():  # rows is 0..n-1
            out = _np_objects(candidates)
        elif ok.any():
            out[rows[ok]] = _np_objects(pc.filter(candidates, pa.array(ok)))
        slow[rows[to_slow]] = True
        if errs:
            at = np.fromiter(errs, dtype=np.int64, count=len(errs))
            shown = _np_objects(text.take(pa.array(rows[at])))
            for (p, why), raw in zip(errs.items(), shown, strict=True):
                errors[int(rows[p])] = f"{_short(raw)} {why}"
    if slow.any():
        slow_rows = np.flatnonzero(slow)
        subset = _np_objects(pc.filter(text, pa.array(slow)))
        vals, errs_arr, blank_slow = _by_unique(
            subset, np.arange(len(slow_rows)), _phone_value(region)
        )
        out[slow_rows] = vals
        missing[slow_rows[blank_slow]] = True
        errors.update(_errors_at(slow_rows, errs_arr))
    # Only numbers phonenumbers parsed one by one can carry an extension.
    return _split_extensions(_finish(n, field, column, out, missing, errors), slow_rows)


# --- timezone -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _zones() -> tuple[frozenset[str], dict[str, str]]:
    names = zoneinfo.available_timezones()
    return frozenset(names), {name.lower(): name for name in sorted(names)}


def _timezone_value(value: Any) -> tuple[str | None, str | None]:
    if not isinstance(value, str):
        return None, f"{type(value).__name__} value {_short(value)} is not a time zone name"
    text = value.strip()
    if not text:
        return None, None
    exact, folded = _zones()
    if text in exact:
        name = text
    elif text.lower() in folded:
        name = folded[text.lower()]
    else:
        return None, f"{_short(text)} is not an IANA time zone name (like 'Australia/Sydney')"
    if len(name) > TIMEZONE_MAX:  # pragma: no cover - no IANA name is that long today
        return None, f"{_short(name)} is longer than {TIMEZONE_MAX} characters"
    return name, None


def normalize_timezone(values: pd.Series, *, column: Any = None) -> FieldResult:
    """An IANA zone name, letter case fixed; anything else is invalid."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return _categorical(values, lambda s: normalize_timezone(s, column=column))
    return _via_dictionary(values, "timezone", column, _timezone_value)


# --- locale ---------------------------------------------------------------------------------

_ALNUM = "[a-z0-9]"
_BCP47 = re.compile(
    r"""
    (?:
      (?P<lang>[a-z]{2,3}(?:-[a-z]{3}){0,3})
      (?:-(?P<script>[a-z]{4}))?
      (?:-(?P<region>[a-z]{2}|[0-9]{3}))?
      (?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*
      (?:-[a-wyz0-9](?:-[a-z0-9]{2,8})+)*
      (?:-x(?:-[a-z0-9]{1,8})+)?
    |
      x(?:-[a-z0-9]{1,8})+
    )
    """,
    re.VERBOSE | re.IGNORECASE,
)
_GRANDFATHERED = {
    tag.lower(): tag
    for tag in (
        "en-GB-oed",
        "i-ami",
        "i-bnn",
        "i-default",
        "i-enochian",
        "i-hak",
        "i-klingon",
        "i-lux",
        "i-mingo",
        "i-navajo",
        "i-pwn",
        "i-tao",
        "i-tay",
        "i-tsu",
        "sgn-BE-FR",
        "sgn-BE-NL",
        "sgn-CH-DE",
        "art-lojban",
        "cel-gaulish",
        "no-bok",
        "no-nyn",
        "zh-guoyu",
        "zh-hakka",
        "zh-min",
        "zh-min-nan",
        "zh-xiang",
    )
}


def _canonical_case(tag: str) -> str:
    """RFC 5646 §2.1.1 case conventions: `en`, `Hant`, `AU`, everything else lower case."""
    parts = tag.lower().split("-")
    out = [parts[0]]
    in_extension = parts[0] == "x"
    for part in parts[1:]:
        if in_extension:
            out.append(part)
        elif len(part) == 1:
            in_extension = True
            out.append(part)
        elif len(part) == 4 and part.isalpha():
            out.append(part.title())
        elif len(part) == 2 and part.isalpha():
            out.append(part.upper())
        else:
            out.append(part)
    return "-".join(out)


def _locale_value(value: Any) -> tuple[str | None, str | None]:
    if not isinstance(value, str):
        return None, f"{type(value).__name__} value {_short(value)} is not a locale"
    text = value.strip()
    if not text:
        return None, None
    # POSIX spellings: en_AU.UTF-8, de_DE@euro
    tag = re.sub(r"[.@].*$", "", text).replace("_", "-")
    if tag.lower() in _GRANDFATHERED:
        tag = _GRANDFATHERED[tag.lower()]
    elif _BCP47.fullmatch(tag):
        tag = _canonical_case(tag)
    else:
        return None, f"{_short(text)} is not a BCP-47 language tag (like 'en-AU')"
    if len(tag) > LOCALE_MAX:
        return None, f"{_short(text)} is longer than {LOCALE_MAX} characters"
    return tag, None


def normalize_locale(values: pd.Series, *, column: Any = None) -> FieldResult:
    """A BCP-47 tag in conventional case (`en_AU` → `en-AU`); anything else is invalid."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return _categorical(values, lambda s: normalize_locale(s, column=column))
    return _via_dictionary(values, "locale", column, _locale_value)


# --- dispatch -------------------------------------------------------------------------------


def check_region(default_region: Any) -> str | None:
    """`default_region=` checked (a region phonenumbers knows, any case), upper-cased."""
    if default_region is None:
        return None
    if not isinstance(default_region, str) or (
        default_region.upper() not in phonenumbers.SUPPORTED_REGIONS
    ):
        raise ValidationError(
            "default_region must be a two-letter region code phonenumbers knows, such as "
            f"'AU', 'GB' or 'US'; got {default_region!r}"
        )
    return default_region.upper()


def plain_arrow(values: pd.Series) -> pd.Series:
    """An Arrow column of a type the normalisers do not read directly, as one they do: a
    dictionary column (what `read_parquet(dtype_backend="pyarrow")` gives for a category)
    as a pandas categorical, a string_view column as large_string text."""
    dtype = values.dtype
    if not isinstance(dtype, pd.ArrowDtype):
        return values
    t = dtype.pyarrow_dtype
    if pa.types.is_dictionary(t):
        arr = values.array.__arrow_array__()
        return pd.Series(arr.to_pandas().array, index=values.index, name=values.name)
    if pa.types.is_string_view(t):
        text = pc.cast(values.array.__arrow_array__(), pa.large_string())
        return pd.Series(pd.arrays.ArrowExtensionArray(text), index=values.index, name=values.name)
    return values


def normalize_field(
    field: str,
    values: pd.Series,
    *,
    default_region: str | None = None,
    column: Any = None,
) -> FieldResult:
    """Normalise a column for a first-class field (one of `FIRST_CLASS`).

    `column` (the frame column's label) is named in messages when it differs from `field`.
    """
    values = plain_arrow(values)
    if field in ID_FIELDS:
        return normalize_id(values, field, column=column)
    if field == "email":
        return normalize_email(values, column=column)
    if field == "phone":
        return normalize_phone(values, default_region=default_region, column=column)
    if field == "timezone":
        return normalize_timezone(values, column=column)
    if field == "locale":
        return normalize_locale(values, column=column)
    raise ValueError(f"no normaliser for {field!r}; fields are {FIRST_CLASS}")
