"""Turn pandas columns into JSON-ready Python values, one column at a time.

Shared by upserts (`data` values) and the trigger calls (event and attribute values). The
rules, for every dtype:

- Missing values (None, NaN, NA, NaT) follow `nulls`: `"omit"` gives `MISSING` (the key is
  left out of the payload), `"clear"` gives None (JSON `null`). The text "nan", "NaT",
  "None" or "<NA>" is never produced. Inside lists and dicts a missing value is `null`.
- Integers stay integers (numpy, nullable and Arrow ints alike) within ±(2**53 - 1), the
  range a JSON number carries exactly between implementations (I-JSON, RFC 7493 section
  2.2). Beyond it a server that reads numbers as doubles, as Parcelvoy does and Spotzee
  very likely does, stores a neighbour instead (9007199254740993 → …992) without a word, so
  `big_ints` decides: `"invalid"` (default) makes the row invalid, with a message naming the
  column and the value it would have become; `"string"` sends the exact decimal text
  (`"9007199254740993"`), as I-JSON recommends. Booleans stay booleans.
- Floats are JSON numbers; ±inf is not JSON, so it makes the row invalid. float32 values
  are sent with their shortest float32 spelling (0.1, not 0.10000000149011612).
- Categoricals are encoded by their values.
- Naive datetimes → ISO 8601 without an offset (`2024-05-01T10:00:00`); aware datetimes →
  ISO 8601 in their own zone with its offset (`2024-05-01T10:00:00+10:00`; a historic
  offset with seconds, which RFC 3339 cannot spell, is sent as the same instant in UTC).
  Sub-second digits appear only when a column has them. Dates → `YYYY-MM-DD`; times → `HH:MM:SS`.
- Timedeltas → ISO 8601 durations in days, hours, minutes and seconds
  (`P1DT2H3M4.5S`, `PT0S`, negative ones as `-PT1H`).
- Decimals → a JSON number when the number's text survives a round trip through a
  double (`Decimal("19.99")` → `19.99`; integral ones → integers), otherwise the exact
  decimal text as a string (`"0.1000000000000000000001"`), so precision is never lost
  silently. Decimal NaN is missing; ±Infinity makes the row invalid.
- Lists, tuples, numpy arrays → JSON arrays; sets → sorted arrays (so the body, and the
  idempotency key derived from it, is the same on every run); dicts → JSON objects (keys
  must be strings or integers). Everything inside is encoded by these same rules.
- UUIDs and periods → their text; enums → their value.
- bytes, complex numbers, intervals and any other object have no faithful JSON form: the
  row is invalid, with a message naming the column. (Bytes are not base64-encoded on the
  caller's behalf: decode them to `str` first if they are text.)
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._errors import ValidationError

__all__ = [
    "BIG_INT_POLICIES",
    "MAX_EXACT_INT",
    "MISSING",
    "BigIntPolicy",
    "EncodedColumn",
    "NullPolicy",
    "UnencodableValue",
    "big_int_problem",
    "encode_column",
    "encode_object",
    "encode_value",
    "exact_id",
    "iso_duration",
]

NullPolicy = Literal["omit", "clear"]
NULL_POLICIES: tuple[str, ...] = ("omit", "clear")
BigIntPolicy = Literal["invalid", "string"]
BIG_INT_POLICIES: tuple[str, ...] = ("invalid", "string")

#: The largest magnitude an integer may have to travel as a JSON number (I-JSON, RFC 7493).
MAX_EXACT_INT: Final = 2**53 - 1


# A value whose key is left out of the JSON object. It is msgspec's own `UNSET`, which
# msgspec leaves out when it encodes a Struct field, so rows of columns holding it encode
# straight to bodies without a pass that deletes keys (see `_prepare`). As a dict value
# msgspec refuses to encode it, so a key that should have been left out can never be sent
# by mistake. (repr: `UNSET`, falsy, pickles to itself.)
MISSING: Final = msgspec.UNSET


class UnencodableValue(ValueError):
    """A value has no faithful JSON form; the message says why (without the column)."""


@dataclass(frozen=True)
class EncodedColumn:
    """One column, encoded.

    `values` is an object ndarray with one JSON-ready value per row (MISSING where the
    key is left out); an ndarray rather than a list so that a million-row column is one
    object the garbage collector does not have to walk.
    `missing` marks the MISSING positions, `invalid` the rows that cannot be sent, and
    `messages` holds `{row position: message naming the column}` for those rows.
    """

    values: np.ndarray
    missing: np.ndarray
    invalid: np.ndarray
    messages: dict[int, str]

    @property
    def any_invalid(self) -> bool:
        return bool(self.messages)

    @property
    def any_missing(self) -> bool:
        return bool(self.missing.any())


def _null(nulls: str) -> Any:
    return MISSING if nulls == "omit" else None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- single values -------------------------------------------------------------------------


def iso_duration(value: dt.timedelta | pd.Timedelta | np.timedelta64) -> str:
    """An ISO 8601 duration in days/hours/minutes/seconds: `P1DT2H3M4.5S`, `PT0S`, `-PT1H`."""
    ns = pd.Timedelta(value).value
    return _duration_from_ns(int(ns))


def _duration_from_ns(ns: int) -> str:
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    days, ns = divmod(ns, 86_400 * 10**9)
    hours, ns = divmod(ns, 3_600 * 10**9)
    minutes, ns = divmod(ns, 60 * 10**9)
    seconds, frac = divmod(ns, 10**9)
    out = sign + "P"
    if days:
        out += f"{days}D"
    time_part = ""
    if hours:
        time_part += f"{hours}H"
    if minutes:
        time_part += f"{minutes}M"
    if seconds or frac:
        time_part += f"{seconds}.{frac:09d}".rstrip("0").rstrip(".") + "S"
    if time_part:
        out += "T" + time_part
    elif not days:
        out += "T0S"
    return out


def _encode_decimal(value: decimal.Decimal, big_ints: BigIntPolicy) -> Any:
    if value.is_nan():
        return None
    if value.is_infinite():
        raise UnencodableValue(f"{value} is not a finite number (JSON has no infinity)")
    if value == value.to_integral_value():
        return _encode_int(int(value), big_ints)
    as_float = float(value)
    if decimal.Decimal(repr(as_float)) == value:
        return as_float
    return str(value)


def big_int_problem(value: int) -> str:
    """Why an integer beyond ±(2**53 - 1) is not sent as a number (the row's message)."""
    try:
        becomes = f"stores {int(float(value))} instead"
    except OverflowError:  # past a double's range: no neighbour at all
        becomes = "cannot store it"
    return (
        f"{value} is past 2**53 (big_ints='string' sends it as exact text): a server "
        f"reading JSON numbers as doubles {becomes} (I-JSON, RFC 7493)"
    )


def exact_id(value: int, name: str) -> int:
    """An id sent as a JSON number in a request body (an entrance step, a subscription):
    refused past 2**53 - 1, where a server reading doubles would take another id."""
    if abs(value) > MAX_EXACT_INT:
        raise ValidationError(
            f"{name} {value} is beyond 2**53 - 1, the integers a JSON number carries exactly "
            "(I-JSON, RFC 7493): a server reading numbers as doubles would take it for "
            f"{int(float(value))}"
        )
    return value


def _encode_int(value: int, big_ints: BigIntPolicy) -> Any:
    if -MAX_EXACT_INT <= value <= MAX_EXACT_INT:
        return value
    if big_ints == "string":
        return str(value)
    raise UnencodableValue(big_int_problem(value))


def _encode_float(value: float) -> Any:
    if math.isnan(value):
        return None
    if math.isinf(value):
        raise UnencodableValue(f"{value} is not valid JSON (infinity)")
    return value


def _iso_timestamp(value: dt.datetime) -> str:
    offset = value.utcoffset()
    if offset is not None and offset.seconds % 60:
        # Old local mean times (+00:09:21) have no RFC 3339 spelling: same instant in UTC.
        value = value.astimezone(dt.UTC)
    return value.isoformat()


def encode_value(
    value: Any,
    *,
    nulls: NullPolicy = "omit",
    big_ints: BigIntPolicy = "invalid",
    _top: bool = True,
) -> Any:
    """Encode one value by the module's rules; raise `UnencodableValue` if impossible.

    A missing value gives MISSING (`nulls="omit"`) or None (`"clear"`) at the top level
    and None inside containers.
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return _null(nulls) if _top else None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return _encode_int(int(value), big_ints)
    if isinstance(value, np.float32 | np.float16):
        if np.isnan(value):
            return _null(nulls) if _top else None
        return _encode_float(float(str(value)))
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return _null(nulls) if _top else None
        return _encode_float(float(value))
    if isinstance(value, decimal.Decimal):
        out = _encode_decimal(value, big_ints)
        if out is None and _top:
            return _null(nulls)
        return out
    if isinstance(value, dt.datetime):
        if pd.isna(value):
            return _null(nulls) if _top else None
        return _iso_timestamp(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta | np.timedelta64):
        if pd.isna(value):
            return _null(nulls) if _top else None
        return iso_duration(value)
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            return _null(nulls) if _top else None
        return _iso_timestamp(pd.Timestamp(value))
    inner: dict[str, Any] = {"nulls": nulls, "big_ints": big_ints, "_top": False}
    if isinstance(value, Mapping):
        return {_object_key(k): encode_value(v, **inner) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode_value(item, **inner) for item in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "b" or (
            value.dtype.kind in "iu" and not _beyond_exact(value.ravel()).any()
        ):
            if value.ndim:
                return value.tolist()
            return encode_value(value.item(), nulls=nulls, big_ints=big_ints, _top=_top)
        return [encode_value(item, **inner) for item in value]
    if isinstance(value, set | frozenset):
        items = [encode_value(item, **inner) for item in value]
        return sorted(items, key=_sort_key)
    if isinstance(value, pd.Series | pd.Index | pd.api.extensions.ExtensionArray):
        return [encode_value(item, **inner) for item in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return encode_value(value.value, nulls=nulls, big_ints=big_ints, _top=_top)
    if isinstance(value, pd.Period):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raise UnencodableValue(
            f"bytes value {_short(bytes(value))} cannot be sent as JSON; decode it to str first"
        )
    raise UnencodableValue(
        f"a {type(value).__name__} value ({_short(value)}) is not JSON-encodable"
    )


def _object_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, int | np.integer) and not isinstance(key, bool | np.bool_):
        return str(int(key))
    raise UnencodableValue(f"a dict key {_short(key)} is not a string")


def encode_object(
    value: Mapping[Any, Any], *, nulls: NullPolicy = "omit", big_ints: BigIntPolicy = "invalid"
) -> dict[str, Any]:
    """A top-level JSON object (a trigger's event): its values follow `nulls` as a row's
    fields do, so with "omit" a missing value leaves its key out (deeper down, as in
    `encode_value`, a missing value is null)."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        encoded = encode_value(item, nulls=nulls, big_ints=big_ints)
        if encoded is not MISSING:
            out[_object_key(key)] = encoded
    return out


def _sort_key(item: Any) -> tuple[str, str]:
    import orjson

    return (type(item).__name__, orjson.dumps(item).decode())


# --- whole columns ------------------------------------------------------------------------


def _result(
    values: np.ndarray | list[Any],
    missing: np.ndarray,
    invalid: np.ndarray | None = None,
    messages: dict[int, str] | None = None,
) -> EncodedColumn:
    if isinstance(values, list):
        values = np.fromiter(values, dtype=object, count=len(values))
    elif values.dtype != object:
        values = values.astype(object)
    if invalid is None:
        invalid = np.zeros(len(values), dtype=bool)
    return EncodedColumn(values=values, missing=missing, invalid=invalid, messages=messages or {})


def _fill(obj: np.ndarray, mask: np.ndarray, fill: Any) -> np.ndarray:
    if mask.any():
        obj[mask] = fill
    return obj


def _inf_messages(positions: np.ndarray, raw: np.ndarray, column: str) -> dict[int, str]:
    return {
        int(p): f"column {column!r}: {float(raw[p])} is not valid JSON (infinity)"
        for p in positions
    }


def _encode_float_array(
    data: np.ndarray, na: np.ndarray | None, nulls: NullPolicy, column: str
) -> EncodedColumn:
    n = len(data)
    nan = np.isnan(data)
    if na is not None:
        nan |= na
    inf = np.isinf(data)
    if na is not None:
        inf &= ~na
    raw = data
    if data.dtype != np.float64:
        # Shortest spelling of the float32/float16 value, read back as a double.
        data = np.where(np.isfinite(data), data, 0).astype(str).astype(np.float64)
    missing = nan if nulls == "omit" else np.zeros(n, dtype=bool)
    if not nan.any() and not inf.any():
        return _result(data, missing)
    obj = data.astype(object)
    _fill(obj, nan, _null(nulls))
    messages: dict[int, str] = {}
    if inf.any():
        positions = np.flatnonzero(inf)
        messages = _inf_messages(positions, raw, column)
        obj[inf] = None
    return _result(obj, missing, inf, messages)


def _beyond_exact(ints: np.ndarray) -> np.ndarray:
    """Where a 1-D numpy int array holds integers beyond ±(2**53 - 1)."""
    if ints.dtype.itemsize < 8:  # 32 bits and fewer always fit
        return np.zeros(len(ints), dtype=bool)
    if ints.dtype.kind == "u":
        return np.asarray(ints > MAX_EXACT_INT)
    return np.asarray((ints > MAX_EXACT_INT) | (ints < -MAX_EXACT_INT))


def _encode_int_array(
    data: np.ndarray, na: np.ndarray | None, nulls: NullPolicy, column: str, big_ints: BigIntPolicy
) -> EncodedColumn:
    """A numpy int array (`na` marks its missing positions, if any), by the `big_ints`
    rule for integers beyond ±(2**53 - 1)."""
    n = len(data)
    missing = na if na is not None and nulls == "omit" else np.zeros(n, dtype=bool)
    big = _beyond_exact(data)
    if na is not None:
        big &= ~na
    has_na = na is not None and bool(na.any())
    if not big.any() and not has_na:
        return _result(data, missing)
    obj = data.astype(object)
    if na is not None and has_na:
        obj[na] = _null(nulls)
    if not big.any():
        return _result(obj, missing)
    positions = np.flatnonzero(big)
    if big_ints == "string":
        obj[positions] = [str(int(data[p])) for p in positions]
        return _result(obj, missing)
    obj[positions] = None
    messages = {int(p): f"column {column!r}: {big_int_problem(int(data[p]))}" for p in positions}
    return _result(obj, missing, big, messages)


def _encode_masked(
    values: pd.Series, nulls: NullPolicy, column: str, big_ints: BigIntPolicy
) -> EncodedColumn:
    arr = values.array
    na = np.asarray(arr.isna(), dtype=bool)
    kind = arr.dtype.numpy_dtype.kind
    if kind == "f":
        data = arr.to_numpy(dtype=arr.dtype.numpy_dtype, na_value=np.nan)
        return _encode_float_array(data, na, nulls, column)
    fill = False if kind == "b" else 0
    data = arr.to_numpy(dtype=arr.dtype.numpy_dtype, na_value=fill)
    if kind in "iu":
        return _encode_int_array(data, na, nulls, column, big_ints)
    missing = na if nulls == "omit" else np.zeros(len(na), dtype=bool)
    if not na.any():
        return _result(data, missing)
    obj = data.astype(object)
    obj[na] = _null(nulls)
    return _result(obj, missing)


def _finest_unit(ints: np.ndarray, per_second: int) -> tuple[str, int]:
    """The coarsest of s/ms/us/ns that shows every value exactly, given ticks per second."""
    for unit, ticks in (("s", 1), ("ms", 1_000), ("us", 1_000_000), ("ns", 1_000_000_000)):
        if ticks >= per_second:
            return unit, ticks
        step = per_second // ticks
        if not (ints % step).any():
            return unit, ticks
    return "ns", 1_000_000_000  # pragma: no cover - per_second is at most 1e9


_TICKS = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def _iso_naive(data: np.ndarray, nat: np.ndarray) -> np.ndarray:
    """ISO 8601 text (no offset) for a datetime64 array; NaT positions are left as ''."""
    unit = np.datetime_data(data.dtype)[0]
    per_second = _TICKS.get(unit)
    if per_second is None:  # days, months…: coarser than a second
        data = data.astype("datetime64[s]")
        unit, per_second = "s", 1
    ints = data.view("i8")
    valid_ints = ints[~nat] if nat.any() else ints
    out_unit, _ = _finest_unit(valid_ints, per_second)
    if out_unit != unit:
        data = data.astype(f"datetime64[{out_unit}]")
    filled = np.where(nat, np.zeros(1, dtype=data.dtype)[0], data) if nat.any() else data
    arrow = pa.array(filled, type=pa.timestamp(out_unit))
    text = pc.cast(arrow, pa.string())
    four_digit_years = not len(filled) or (
        filled.min() >= np.datetime64("1000-01-01") and filled.max() < np.datetime64("10000-01-01")
    )
    if four_digit_years:  # "YYYY-MM-DD hh:mm:ss": the separator is always byte 10
        text = pc.binary_replace_slice(text, 10, 11, "T")
    else:
        text = pc.replace_substring(text, " ", "T", max_replacements=1)
    out: np.ndarray = text.to_numpy(zero_copy_only=False)
    return out


def _offset_text(seconds: int) -> str:
    sign = "+" if seconds >= 0 else "-"
    seconds = abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{sign}{hours:02d}:{minutes:02d}"
    return text + (f":{secs:02d}" if secs else "")


def _encode_datetime(values: pd.Series, nulls: NullPolicy) -> EncodedColumn:
    dtype = values.dtype
    nat = np.asarray(values.isna(), dtype=bool)
    null = _null(nulls)
    missing = nat if nulls == "omit" else np.zeros(len(nat), dtype=bool)
    if isinstance(dtype, pd.DatetimeTZDtype):
        wall = values.dt.tz_localize(None).to_numpy()
        utc = values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        text = _iso_naive(wall, nat)
        unit = np.datetime_data(wall.dtype)[0]
        diff = (wall.view("i8") - utc.view("i8")) // _TICKS.get(unit, 1)
        diff = np.where(nat, 0, diff)
        codes, uniques = pd.factorize(diff)
        offsets = np.array([_offset_text(int(u)) for u in uniques], dtype=object)
        obj = np.asarray(text, dtype=object)
        obj = obj + offsets[codes] if len(codes) else obj
        odd = (diff % 60 != 0) & ~nat
        if odd.any():
            # Old local mean times (+00:09:21) have no RFC 3339 spelling: same instant, UTC.
            obj[odd] = _iso_naive(utc[odd], nat[odd]).astype(object) + "+00:00"
    else:
        obj = np.asarray(_iso_naive(values.to_numpy(), nat), dtype=object)
    _fill(obj, nat, null)
    return _result(obj, missing)


def _encode_by_unique(values: pd.Series, fn: Any, nulls: NullPolicy, column: str) -> EncodedColumn:
    """Encode through `fn` once per distinct value (for dtypes with few distinct values)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    encoded: list[Any] = []
    problems: dict[int, str] = {}
    for i, u in enumerate(uniques):
        try:
            encoded.append(fn(u))
        except UnencodableValue as exc:
            encoded.append(None)
            problems[i] = f"column {column!r}: {exc}"
    null = _null(nulls)
    lookup = np.fromiter([*encoded, null], dtype=object, count=len(encoded) + 1)
    obj = lookup[codes]
    na = codes < 0
    missing = na if nulls == "omit" else np.zeros(len(na), dtype=bool)
    messages: dict[int, str] = {}
    invalid = np.zeros(len(codes), dtype=bool)
    if problems:
        bad_codes = np.fromiter(problems, dtype=np.int64)
        invalid = np.isin(codes, bad_codes)
        messages = {int(p): problems[int(codes[p])] for p in np.flatnonzero(invalid)}
    return _result(obj, missing, invalid, messages)


def _encode_objects(
    arr: np.ndarray, nulls: NullPolicy, column: str, big_ints: BigIntPolicy
) -> EncodedColumn:
    """The general path: one value at a time, for object columns of mixed content."""
    n = len(arr)
    na = _isna_objects(arr)
    null = _null(nulls)
    out: list[Any] = [null] * n
    messages: dict[int, str] = {}
    for i in np.flatnonzero(~na).tolist():
        try:
            out[i] = encode_value(arr[i], nulls=nulls, big_ints=big_ints)
        except UnencodableValue as exc:
            out[i] = None
            messages[i] = f"column {column!r}: {exc}"
        except (TypeError, ValueError) as exc:  # an odd object whose own methods failed
            out[i] = None
            messages[i] = f"column {column!r}: {type(arr[i]).__name__} value not encodable ({exc})"
    # encode_value may itself return MISSING (a NaN Decimal, for example).
    if nulls == "omit":
        missing = np.fromiter((v is MISSING for v in out), dtype=bool, count=n)
    else:
        missing = np.zeros(n, dtype=bool)
    invalid = np.zeros(n, dtype=bool)
    if messages:
        invalid[np.fromiter(messages, dtype=np.int64)] = True
    return _result(out, missing, invalid, messages)


def _isna_objects(arr: np.ndarray) -> np.ndarray:
    """pd.isna for 1-D object arrays, where list/array-valued cells count as present."""
    try:
        return np.asarray(pd.isna(arr), dtype=bool)
    except (TypeError, ValueError, ArithmeticError):  # e.g. a signalling Decimal NaN
        return np.fromiter((_missing_cell(v) for v in arr), dtype=bool, count=len(arr))


def _missing_cell(value: Any) -> bool:
    """pd.isna for one cell, for the cells pd.isna itself fails on."""
    if isinstance(value, decimal.Decimal):
        return value.is_nan()  # quiet or signalling: missing, like NaN
    if not pd.api.types.is_scalar(value):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError, ArithmeticError):
        return False


def _encode_object_column(
    values: pd.Series, nulls: NullPolicy, column: str, big_ints: BigIntPolicy
) -> EncodedColumn:
    arr = values.to_numpy(dtype=object)
    n = len(arr)
    kind = pd.api.types.infer_dtype(arr, skipna=True)
    if kind == "string" or kind == "empty":
        na = _isna_objects(arr)
        missing = na if nulls == "omit" else np.zeros(n, dtype=bool)
        if not na.any():
            return _result(arr.copy(), missing)  # the frame's own array: never share it
        obj = arr.copy()
        obj[na] = _null(nulls)
        return _result(obj, missing)
    if kind == "boolean":
        na = _isna_objects(arr)
        if not na.any():
            return _result([bool(v) for v in arr], np.zeros(n, dtype=bool))
    if kind == "integer":
        na = _isna_objects(arr)
        if not na.any():
            try:
                ints = arr.astype(np.int64)
            except OverflowError:
                return _encode_objects(arr, nulls, column, big_ints)
            return _encode_int_array(ints, None, nulls, column, big_ints)
    if kind == "floating":
        try:
            data = arr.astype(np.float64)
        except (TypeError, ValueError):  # pragma: no cover - infer_dtype said floats
            return _encode_objects(arr, nulls, column, big_ints)
        if not any(isinstance(v, np.float32 | np.float16) for v in arr):
            return _encode_float_array(data, _isna_objects(arr), nulls, column)
    return _encode_objects(arr, nulls, column, big_ints)


def _encode_timedelta(values: pd.Series, nulls: NullPolicy, column: str) -> EncodedColumn:
    ns = values.to_numpy().astype("timedelta64[ns]")
    return _encode_by_unique(
        pd.Series(ns), lambda v: _duration_from_ns(int(pd.Timedelta(v).value)), nulls, column
    )


def _encode_arrow(
    values: pd.Series, nulls: NullPolicy, column: str, big_ints: BigIntPolicy
) -> EncodedColumn:
    dtype = values.dtype
    assert isinstance(dtype, pd.ArrowDtype)
    pa_type: pa.DataType = dtype.pyarrow_dtype
    target: Any
    if pa.types.is_dictionary(pa_type):
        return encode_column(
            values.astype(pd.ArrowDtype(pa_type.value_type)),
            nulls=nulls,
            column=column,
            big_ints=big_ints,
        )
    if pa.types.is_integer(pa_type):
        target = str(pa_type).replace("int", "Int").replace("uInt", "UInt")
        return encode_column(values.astype(target), nulls=nulls, column=column, big_ints=big_ints)
    if pa.types.is_float16(pa_type):  # no masked float16 dtype: numpy's, nulls as NaN
        arr = pa.array(values.array)
        na = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        data = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float16)
        return _encode_float_array(data, na, nulls, column)
    if pa.types.is_floating(pa_type):
        target = "Float32" if pa.types.is_float32(pa_type) else "Float64"
        return encode_column(values.astype(target), nulls=nulls, column=column)
    if pa.types.is_boolean(pa_type):
        return encode_column(values.astype("boolean"), nulls=nulls, column=column)
    if pa.types.is_timestamp(pa_type):
        unit = pa_type.unit
        target = pd.DatetimeTZDtype(unit, pa_type.tz) if pa_type.tz else f"datetime64[{unit}]"
        return encode_column(values.astype(target), nulls=nulls, column=column)
    if pa.types.is_duration(pa_type):
        target = f"timedelta64[{pa_type.unit}]"
        return encode_column(values.astype(target), nulls=nulls, column=column)
    if pa.types.is_date(pa_type):
        text = pc.cast(pa.array(values.array), pa.string())
        obj = np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
        na = np.asarray(values.isna(), dtype=bool)
        _fill(obj, na, _null(nulls))
        missing = na if nulls == "omit" else np.zeros(len(na), dtype=bool)
        return _result(obj, missing)
    if (
        pa.types.is_string(pa_type)
        or pa.types.is_large_string(pa_type)
        or pa.types.is_string_view(pa_type)
    ):
        return encode_column(values.astype(pd.StringDtype("python")), nulls=nulls, column=column)
    if pa.types.is_null(pa_type):
        n = len(values)
        missing = np.full(n, nulls == "omit")
        return _result([_null(nulls)] * n, missing)
    # decimals, lists, structs, maps, binary…: through Python objects.
    objects = np.empty(len(values), dtype=object)
    objects[:] = pa.array(values).to_pylist() if len(values) else []
    return _encode_objects(objects, nulls, column, big_ints)


def _text_objects(values: pd.Series) -> np.ndarray:
    """A text column as Python strings. Columns with few distinct values (names, plans,
    countries) convert each distinct string once and share it across rows."""
    dtype = values.dtype
    if not isinstance(dtype, pd.StringDtype) or dtype.storage != "pyarrow" or len(values) < 4096:
        return np.asarray(values.to_numpy(dtype=object), dtype=object)
    arr = pa.array(values.array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    sample = arr.slice(0, 2048)
    if len(pc.unique(sample)) > 256:
        return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)
    encoded = arr.dictionary_encode()
    lookup = np.empty(len(encoded.dictionary) + 1, dtype=object)
    lookup[:-1] = encoded.dictionary.to_pylist()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    out: np.ndarray = lookup[codes]
    return out


def encode_column(
    values: pd.Series,
    *,
    nulls: NullPolicy = "omit",
    column: str,
    big_ints: BigIntPolicy = "invalid",
) -> EncodedColumn:
    """Encode a whole column (see the module docstring for the rules).

    `column` names the column in messages of invalid rows. Positions in the result follow
    the Series' positions, not its index labels.
    """
    if nulls not in NULL_POLICIES:
        raise ValueError(f"nulls must be one of {NULL_POLICIES}, not {nulls!r}")
    if big_ints not in BIG_INT_POLICIES:
        raise ValueError(f"big_ints must be one of {BIG_INT_POLICIES}, not {big_ints!r}")
    dtype = values.dtype
    n = len(values)
    if isinstance(dtype, pd.CategoricalDtype):
        cats = encode_column(
            pd.Series(dtype.categories), nulls=nulls, column=column, big_ints=big_ints
        )
        codes = np.asarray(values.cat.codes.to_numpy(), dtype=np.int64)
        lookup = np.fromiter([*cats.values, _null(nulls)], dtype=object, count=len(cats.values) + 1)
        obj = lookup[codes]
        na = codes < 0
        missing = na if nulls == "omit" else np.zeros(n, dtype=bool)
        invalid = np.zeros(n, dtype=bool)
        messages: dict[int, str] = {}
        if cats.messages:
            bad = np.fromiter(cats.messages, dtype=np.int64)
            invalid = np.isin(codes, bad)
            messages = {int(p): cats.messages[int(codes[p])] for p in np.flatnonzero(invalid)}
        return _result(obj, missing, invalid, messages)
    if isinstance(dtype, pd.ArrowDtype):
        return _encode_arrow(values, nulls, column, big_ints)
    if isinstance(dtype, pd.StringDtype):
        na = np.asarray(values.isna(), dtype=bool)
        obj = _text_objects(values)
        if na.any():
            obj = obj.copy()
            obj[na] = _null(nulls)
        missing = na if nulls == "omit" else np.zeros(n, dtype=bool)
        return _result(obj, missing)
    if isinstance(dtype, pd.DatetimeTZDtype):
        return _encode_datetime(values, nulls)
    if isinstance(dtype, pd.SparseDtype):
        dense = pd.Series(np.asarray(values.array), index=values.index)
        return encode_column(dense, nulls=nulls, column=column, big_ints=big_ints)
    if isinstance(dtype, pd.PeriodDtype):
        return _encode_by_unique(values, str, nulls, column)
    if isinstance(dtype, pd.IntervalDtype):
        return _encode_by_unique(values, _reject_interval, nulls, column)
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and hasattr(values.array, "_mask"):
        return _encode_masked(values, nulls, column, big_ints)
    if isinstance(dtype, np.dtype):
        kind = dtype.kind
        if kind == "b":
            return _result(values.to_numpy(), np.zeros(n, dtype=bool))
        if kind in "iu":
            return _encode_int_array(values.to_numpy(), None, nulls, column, big_ints)
        if kind == "f":
            return _encode_float_array(values.to_numpy(), None, nulls, column)
        if kind == "M":
            return _encode_datetime(values, nulls)
        if kind == "m":
            return _encode_timedelta(values, nulls, column)
        if kind == "O":
            return _encode_object_column(values, nulls, column, big_ints)
        if kind in "US":
            return _encode_objects(values.to_numpy().astype(object), nulls, column, big_ints)
    # Anything else (another library's extension type): one value at a time.
    return _encode_objects(values.to_numpy(dtype=object), nulls, column, big_ints)


def _reject_interval(value: Any) -> Any:
    raise UnencodableValue(f"an interval ({value}) has no JSON form; split it into two columns")
