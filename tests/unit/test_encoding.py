"""Encoding of every pandas dtype into JSON-ready values, by the rules in _encoding."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import math
import uuid
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from spotzee_frames._encoding import (
    MAX_EXACT_INT,
    MISSING,
    EncodedColumn,
    UnencodableValue,
    encode_column,
    encode_object,
    encode_value,
    iso_duration,
)

NA_TEXT = ("nan", "NaN", "NaT", "None", "<NA>", "null")


def enc(
    values: Any, dtype: Any = None, nulls: str = "omit", big_ints: str = "invalid"
) -> EncodedColumn:
    s = values if isinstance(values, pd.Series) else pd.Series(values, dtype=dtype)
    out = encode_column(s, nulls=nulls, column="col", big_ints=big_ints)  # type: ignore[arg-type]
    assert isinstance(out.values, np.ndarray) and out.values.dtype == object
    assert len(out.values) == len(s) == len(out.missing) == len(out.invalid)
    return out


def vals(
    values: Any, dtype: Any = None, nulls: str = "omit", big_ints: str = "invalid"
) -> list[Any]:
    return list(enc(values, dtype, nulls, big_ints).values)


def exact_types(values: list[Any]) -> list[type]:
    return [type(v) for v in values]


# -- numbers and booleans ------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype",
    [
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "Int8",
        "Int16",
        "Int32",
        "Int64",
        "UInt8",
        "UInt16",
        "UInt32",
        "UInt64",
        "int64[pyarrow]",
        "uint8[pyarrow]",
    ],
)
def test_integers_stay_python_ints(dtype: str) -> None:
    out = vals([0, 7, 100], dtype)
    assert out == [0, 7, 100]
    assert exact_types(out) == [int, int, int]


def test_uint64_extremes_and_int64_min_as_exact_text() -> None:
    assert vals([2**64 - 1], "uint64", big_ints="string") == [str(2**64 - 1)]
    assert vals([-(2**63)], "int64", big_ints="string") == [str(-(2**63))]
    assert orjson.loads(orjson.dumps(vals([2**64 - 1], "UInt64", big_ints="string"))) == [
        str(2**64 - 1)
    ]


# Every way a frame holds integers: numpy, nullable, Arrow, objects, categories.
_INT_DTYPES = ["int64", "uint64", "Int64", "UInt64", "int64[pyarrow]", object, "category"]


@pytest.mark.parametrize("dtype", _INT_DTYPES)
def test_integers_beyond_2_53_make_the_row_invalid_by_default(dtype: Any) -> None:
    big = 2**53 + 1
    low = 0 if str(dtype).lower().startswith("uint") else -MAX_EXACT_INT
    out = enc([MAX_EXACT_INT, big, low, 7], dtype)
    assert out.invalid.tolist() == [False, True, False, False]
    assert out.values[0] == MAX_EXACT_INT and out.values[2] == low
    message = out.messages[1]
    assert "column 'col'" in message and str(big) in message
    assert "stores 9007199254740992 instead" in message  # what a double makes of it
    assert "RFC 7493" in message and "big_ints='string'" in message


@pytest.mark.parametrize("dtype", _INT_DTYPES)
def test_integers_beyond_2_53_as_exact_strings_on_request(dtype: Any) -> None:
    big = 9007199254740993
    other = 2**60 if str(dtype).lower().startswith("uint") else -(2**60)
    out = enc([big, 1, other], dtype, big_ints="string")
    assert not out.invalid.any()
    assert list(out.values) == [str(big), 1, str(other)]


def test_missing_values_beside_big_integers_follow_nulls() -> None:
    out = enc([2**60, None, 3], "Int64", nulls="clear", big_ints="string")
    assert list(out.values) == [str(2**60), None, 3]
    omit = enc([2**60, None, 3], "Int64")
    assert omit.invalid.tolist() == [True, False, False] and omit.values[1] is MISSING


def test_big_integers_inside_containers_and_decimals() -> None:
    big = 2**53 + 1
    cells = pd.Series([[1, big], {"n": big}, np.array([big, 1]), decimal.Decimal(big)])
    out = enc(cells)
    assert out.invalid.all()
    kept = enc(cells, big_ints="string")
    assert list(kept.values) == [[1, str(big)], {"n": str(big)}, [str(big), 1], str(big)]
    assert enc(pd.Series([np.array([1, 2])])).values[0] == [1, 2]
    with pytest.raises(UnencodableValue, match="RFC 7493"):
        encode_object({"order": big})
    assert encode_object({"order": big}, big_ints="string") == {"order": str(big)}
    with pytest.raises(UnencodableValue, match="cannot store it"):
        encode_value(2**1100)  # past a double's range: no neighbour to round to


@pytest.mark.parametrize("dtype", ["Int64", "UInt16", "Float64", "boolean", "int32[pyarrow]"])
def test_nullable_missing_follows_nulls(dtype: str) -> None:
    first = True if dtype == "boolean" else 1
    omit = enc([first, None], dtype)
    assert omit.values[1] is MISSING and omit.missing.tolist() == [False, True]
    clear = enc([first, None], dtype, nulls="clear")
    assert clear.values[1] is None and not clear.missing.any()


@pytest.mark.parametrize(
    "dtype",
    [
        "float64",
        "float32",
        "Float32",
        "Float64",
        "float16",
        "halffloat[pyarrow]",
        "float[pyarrow]",
        "double[pyarrow]",
    ],
)
def test_floats_nan_and_shortest_spelling(dtype: str) -> None:
    out = enc([0.1, 2.5, np.nan], dtype)
    assert list(out.values)[:2] == [0.1, 2.5]
    assert exact_types(list(out.values)[:2]) == [float, float]
    assert out.values[2] is MISSING
    assert orjson.dumps(list(out.values)[:2]) == b"[0.1,2.5]"


@pytest.mark.parametrize(
    "dtype", ["float64", "float32", "Float64", "float16", "halffloat[pyarrow]"]
)
def test_infinity_makes_the_row_invalid_naming_the_column(dtype: str) -> None:
    out = enc([1.0, np.inf, -np.inf], dtype)
    assert out.invalid.tolist() == [False, True, True]
    assert set(out.messages) == {1, 2}
    assert out.messages[1] == "column 'col': inf is not valid JSON (infinity)"
    assert out.messages[2] == "column 'col': -inf is not valid JSON (infinity)"


def test_float_whole_numbers_stay_floats_in_data() -> None:
    # in `data` a float column is a float column: 17.0 is sent as 17.0, never as "17.0"
    assert orjson.dumps(vals([17.0], "float64")) == b"[17.0]"


@pytest.mark.parametrize("dtype", ["bool", "boolean", "bool[pyarrow]"])
def test_booleans(dtype: str) -> None:
    out = vals([True, False], dtype)
    assert out == [True, False] and exact_types(out) == [bool, bool]


# -- text and categories -------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype", [object, "string[python]", "string[pyarrow]", "str", "large_string[pyarrow]"]
)
def test_text_and_missing_text(dtype: Any) -> None:
    omit = enc(["a", None, "", "nan"], dtype)
    assert list(omit.values) == ["a", MISSING, "", "nan"]  # a real "nan" string is data
    assert omit.missing.tolist() == [False, True, False, False]
    assert vals(["a", None], dtype, nulls="clear") == ["a", None]


def test_object_text_column_is_copied_not_shared() -> None:
    s = pd.Series(["a", "b"], dtype=object)
    out = enc(s)
    out.values[0] = "changed"
    assert s[0] == "a"


def test_categoricals_are_encoded_by_their_values() -> None:
    assert vals(pd.Categorical(["b", "a", None, "b"])) == ["b", "a", MISSING, "b"]
    assert vals(pd.Categorical([3, 1, None])) == [3, 1, MISSING]
    inf_cat = enc(pd.Series(pd.Categorical([1.0, np.inf, 1.0])))
    assert inf_cat.invalid.tolist() == [False, True, False]
    dates = pd.Series(pd.Categorical(pd.to_datetime(["2024-05-01", "2024-05-02"])))
    assert vals(dates) == ["2024-05-01T00:00:00", "2024-05-02T00:00:00"]


# -- dates and times -----------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_naive_datetimes_have_no_offset(unit: str) -> None:
    s = pd.Series(pd.to_datetime(["2024-05-01 10:00:00", None]).as_unit(unit))
    assert vals(s) == ["2024-05-01T10:00:00", MISSING]
    assert vals(s, nulls="clear") == ["2024-05-01T10:00:00", None]


def test_sub_second_digits_only_when_present() -> None:
    s = pd.Series(
        pd.to_datetime(["2024-05-01 10:00:00.250", "2024-05-01 10:00:01"], format="ISO8601")
    )
    assert vals(s) == ["2024-05-01T10:00:00.250", "2024-05-01T10:00:01.000"]
    ns = pd.Series(pd.to_datetime(["2024-05-01 10:00:00.000000001"]).as_unit("ns"))
    assert vals(ns) == ["2024-05-01T10:00:00.000000001"]


def test_aware_datetimes_keep_their_zone_and_offset() -> None:
    s = pd.Series(pd.to_datetime(["2024-05-01 10:00", "2024-01-01 10:00", None])).dt.tz_localize(
        "Australia/Sydney"
    )
    assert vals(s) == ["2024-05-01T10:00:00+10:00", "2024-01-01T10:00:00+11:00", MISSING]
    ny = pd.Series(pd.to_datetime(["2024-07-04 09:30"])).dt.tz_localize("America/New_York")
    assert vals(ny) == ["2024-07-04T09:30:00-04:00"]
    kolkata = pd.Series(pd.to_datetime(["2024-07-04 09:30"])).dt.tz_localize("Asia/Kolkata")
    assert vals(kolkata) == ["2024-07-04T09:30:00+05:30"]
    utc = pd.Series(pd.to_datetime(["2024-07-04 09:30"])).dt.tz_localize("UTC")
    assert vals(utc) == ["2024-07-04T09:30:00+00:00"]


def test_arrow_timestamps_dates_and_times() -> None:
    ts = pd.Series(pd.to_datetime(["2024-05-01 10:00", None])).astype("timestamp[us][pyarrow]")
    assert vals(ts) == ["2024-05-01T10:00:00", MISSING]
    d = pd.Series([dt.date(2024, 5, 1), None], dtype="date32[pyarrow]")
    assert vals(d) == ["2024-05-01", MISSING]
    t = pd.Series([dt.time(9, 30), None], dtype="time64[us][pyarrow]")
    assert vals(t) == ["09:30:00", MISSING]


def test_python_dates_datetimes_and_times_in_object_columns() -> None:
    s = pd.Series(
        [
            dt.date(2024, 5, 1),
            dt.datetime(2024, 5, 1, 10, 0),
            dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=-3))),
            dt.time(8, 15),
            pd.Timestamp("2024-05-01 10:00:00.5"),
            None,
        ],
        dtype=object,
    )
    assert vals(s) == [
        "2024-05-01",
        "2024-05-01T10:00:00",
        "2024-05-01T10:00:00-03:00",
        "08:15:00",
        "2024-05-01T10:00:00.500000",
        MISSING,
    ]


def test_timedeltas_as_iso_8601_durations() -> None:
    s = pd.Series(pd.to_timedelta(["1 days 02:03:04.5", "0s", "-1h", None, "90s", "3 days"]))
    assert vals(s) == ["P1DT2H3M4.5S", "PT0S", "-PT1H", MISSING, "PT1M30S", "P3D"]
    assert iso_duration(dt.timedelta(microseconds=1)) == "PT0.000001S"
    assert vals(pd.Series([dt.timedelta(hours=1), None], dtype=object)) == ["PT1H", MISSING]


def test_periods() -> None:
    assert vals(pd.Series(pd.period_range("2024-01", periods=2, freq="M"))) == [
        "2024-01",
        "2024-02",
    ]


# -- decimals ------------------------------------------------------------------------------


def test_decimals_numbers_when_exact_else_text() -> None:
    D = decimal.Decimal
    out = vals([D("19.99"), D("17.00"), D("0.1000000000000000000001"), D("NaN"), D("1E+3")], object)
    assert out == [19.99, 17, "0.1000000000000000000001", MISSING, 1000]
    assert exact_types(out) == [float, int, str, type(MISSING), int]
    bad = enc([D("Infinity"), D("-Infinity")], object)
    assert bad.invalid.all() and "not a finite number" in bad.messages[0]


def test_arrow_decimal_column() -> None:
    import pyarrow as pa

    s = pd.Series([decimal.Decimal("1.25"), None], dtype=pd.ArrowDtype(pa.decimal128(10, 2)))
    assert vals(s) == [1.25, MISSING]


def test_integers_past_64_bits_follow_the_same_rule() -> None:
    assert vals([1, 2**70], object, big_ints="string") == [1, str(2**70)]
    assert enc([1, 2**70], object).invalid.tolist() == [False, True]


# -- containers and odd objects ------------------------------------------------------------


def test_lists_dicts_arrays_and_sets_recursively() -> None:
    s = pd.Series(
        [
            [1, np.nan, "a", None],
            {"k": np.nan, 1: dt.date(2020, 1, 1), "n": {"x": [pd.NaT]}},
            np.array([1, 2]),
            {"b", "a"},
            (True, 2.5),
            np.array([1.5, np.nan]),
        ],
        dtype=object,
    )
    out = vals(s)
    assert out == [
        [1, None, "a", None],
        {"k": None, "1": "2020-01-01", "n": {"x": [None]}},
        [1, 2],
        ["a", "b"],
        [True, 2.5],
        [1.5, None],
    ]
    orjson.dumps(out)  # every value is JSON-ready


def test_list_columns_from_arrow() -> None:
    import pyarrow as pa

    s = pd.Series([[1, 2], None, []], dtype=pd.ArrowDtype(pa.list_(pa.int64())))
    assert vals(s) == [[1, 2], MISSING, []]
    st_ = pd.Series(
        [{"a": 1, "b": None}],
        dtype=pd.ArrowDtype(pa.struct([("a", pa.int64()), ("b", pa.string())])),
    )
    assert vals(st_) == [{"a": 1, "b": None}]


class Colour(enum.Enum):
    RED = "red"


def test_uuid_enum_and_numpy_scalars() -> None:
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    out = vals([u, Colour.RED, np.int16(3), np.float32(0.1), np.bool_(True)], object)
    assert out == [str(u), "red", 3, 0.1, True]
    assert exact_types(out) == [str, str, int, float, bool]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"raw", "decode it to str first"),
        (1 + 2j, "complex"),
        (object(), "object value"),
        ([1, float("inf")], "infinity"),
        ({("a", 1): 2}, "not a string"),
    ],
)
def test_unencodable_values_make_the_row_invalid(value: Any, reason: str) -> None:
    out = enc(pd.Series(["fine", value], dtype=object))
    assert out.invalid.tolist() == [False, True]
    assert out.messages[1].startswith("column 'col': ")
    assert reason in out.messages[1]


def test_intervals_are_invalid() -> None:
    out = enc(pd.Series(pd.arrays.IntervalArray.from_breaks([0, 1, 2])))
    assert out.invalid.all() and "interval" in out.messages[0]


def test_mixed_object_column() -> None:
    s = pd.Series(
        [1, "a", 2.5, True, None, pd.NA, pd.NaT, np.nan, dt.date(2020, 1, 2)], dtype=object
    )
    out = enc(s, nulls="clear")
    assert list(out.values) == [1, "a", 2.5, True, None, None, None, None, "2020-01-02"]
    assert exact_types(list(out.values)[:4]) == [int, str, float, bool]


def test_sparse_and_bytes_dtype_columns() -> None:
    assert vals(pd.Series(pd.arrays.SparseArray([1.0, np.nan]))) == [1.0, MISSING]
    fixed = enc(pd.Series(np.array([b"ab", b"c"])))
    assert fixed.invalid.all()


def test_encode_value_top_level_and_nested_missing() -> None:
    assert encode_value(None) is MISSING
    assert encode_value(np.nan, nulls="clear") is None
    assert encode_value([None, np.nan]) == [None, None]
    with pytest.raises(UnencodableValue):
        encode_value(b"x")


def test_bad_null_policy() -> None:
    with pytest.raises(ValueError, match="nulls must be one of"):
        encode_column(pd.Series([1]), nulls="zero", column="c")  # type: ignore[arg-type]


# -- property: any frame column round-trips through JSON -----------------------------------

_dtypes = st.sampled_from(
    [
        "int64",
        "Int64",
        "uint16",
        "float64",
        "Float64",
        "float32",
        "bool",
        "boolean",
        "string[python]",
        "string[pyarrow]",
        "object-str",
        "category",
        "datetime",
        "datetime-tz",
    ]
)


def _column(draw: st.DrawFn, kind: str, n: int) -> tuple[pd.Series, list[Any]]:
    """A column of `kind` plus the values a JSON reader should get back (None = missing)."""
    if kind in ("int64", "uint16"):
        lo, hi = (0, 2**16 - 1) if kind == "uint16" else (-(2**63), 2**63 - 1)
        xs = draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n))
        return pd.Series(xs, dtype=kind), list(xs)
    if kind == "Int64":
        xs = draw(st.lists(st.none() | st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n))
        return pd.Series(xs, dtype="Int64"), list(xs)
    if kind in ("float64", "Float64", "float32"):
        width = 32 if kind == "float32" else 64
        xs = draw(
            st.lists(
                st.none() | st.floats(allow_infinity=False, allow_nan=False, width=width),
                min_size=n,
                max_size=n,
            )
        )
        dtype = "float32" if kind == "float32" else ("Float64" if kind == "Float64" else "float64")
        series = pd.Series([np.nan if x is None else x for x in xs], dtype=dtype)
        expect = [
            None if x is None else (float(str(np.float32(x))) if width == 32 else x) for x in xs
        ]
        return series, expect
    if kind in ("bool", "boolean"):
        opt = st.booleans() if kind == "bool" else st.none() | st.booleans()
        xs = draw(st.lists(opt, min_size=n, max_size=n))
        return pd.Series(xs, dtype=kind), list(xs)
    if kind in ("string[python]", "string[pyarrow]", "object-str", "category"):
        xs = draw(st.lists(st.none() | st.text(max_size=8), min_size=n, max_size=n))
        dtype = {"object-str": object}.get(kind, kind)
        return pd.Series(xs, dtype=dtype), list(xs)
    stamps = draw(
        st.lists(
            st.none()
            | st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)),
            min_size=n,
            max_size=n,
        )
    )
    series = pd.Series(pd.to_datetime(stamps)).astype("datetime64[us]")
    if kind == "datetime-tz":
        series = series.dt.tz_localize("UTC").dt.tz_convert("Europe/Paris")
    tz = "UTC" if kind == "datetime-tz" else None
    expect = [None if t is None else pd.Timestamp(t, tz=tz) for t in stamps]
    return series, expect


@st.composite
def frames(draw: st.DrawFn) -> tuple[list[pd.Series], list[list[Any]]]:
    n = draw(st.integers(0, 12))
    kinds = draw(st.lists(_dtypes, min_size=1, max_size=5))
    cols = [_column(draw, k, n) for k in kinds]
    return [c[0] for c in cols], [c[1] for c in cols]


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, pd.Timestamp):
        parsed = pd.Timestamp(got)
        if want.tzinfo is None:
            return parsed.tzinfo is None and parsed == want
        return parsed.tzinfo is not None and parsed == want
    if isinstance(want, float):
        return isinstance(got, float) and (got == want or (math.isnan(got) and math.isnan(want)))
    if isinstance(want, bool):
        return got is want
    if isinstance(want, int):
        return isinstance(got, int) and not isinstance(got, bool) and got == want
    return bool(got == want)


@settings(max_examples=150, deadline=None)
@given(frames(), st.sampled_from(["omit", "clear"]), st.sampled_from(["invalid", "string"]))
def test_property_columns_round_trip_through_json(data: Any, nulls: str, big_ints: str) -> None:
    series_list, expected = data
    for series, expect in zip(series_list, expected, strict=True):
        out = encode_column(series, nulls=nulls, column="c", big_ints=big_ints)  # type: ignore[arg-type]
        for value, want, miss, bad in zip(
            out.values, expect, out.missing, out.invalid, strict=True
        ):
            inexact = isinstance(want, int) and abs(want) > MAX_EXACT_INT
            # beyond ±(2**53 - 1): never a JSON number; exact text, or the row is invalid
            assert bad == (inexact and big_ints == "invalid"), (series.dtype, want)
            if bad:
                continue
            if inexact:
                want = str(want)
            if want is None:
                if nulls == "omit":
                    assert value is MISSING and miss
                else:
                    assert value is None and not miss
                continue
            assert not miss
            text = orjson.dumps(value)
            for bad in NA_TEXT:
                assert text != f'"{bad}"'.encode() or want == bad
            assert _same(orjson.loads(text), want), (series.dtype, value, want)


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float64, st.integers(0, 30)))
def test_property_float_arrays_never_emit_nan_text_and_flag_exactly_the_infinities(
    arr: np.ndarray,
) -> None:
    out = encode_column(pd.Series(arr), nulls="clear", column="c")
    assert out.invalid.tolist() == np.isinf(arr).tolist()
    body = orjson.dumps([v for v, bad in zip(out.values, out.invalid, strict=True) if not bad])
    assert b"nan" not in body.lower() and b"inf" not in body.lower()
