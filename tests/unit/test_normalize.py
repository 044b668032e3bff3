"""Normalisers of first-class fields: what is fixed, what is refused, and that the bulk fast
paths always agree with the libraries they stand in for."""

from __future__ import annotations

import decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from spotzee_frames._normalize import (
    FieldResult,
    _email_value,
    _phone_value,
    normalize_email,
    normalize_field,
    normalize_id,
    normalize_locale,
    normalize_phone,
    normalize_timezone,
)

TEXT_DTYPES = [object, "string[python]", "string[pyarrow]", "str"]


def _vals(r: FieldResult) -> list[object]:
    return list(r.values)


# -- identifiers ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["int64", "Int64", "int8", "UInt32", "uint64", "int64[pyarrow]"])
def test_integer_ids_become_decimal_text(dtype: str) -> None:
    s = pd.Series([17, 42], dtype=dtype)
    r = normalize_id(s)
    assert _vals(r) == ["17", "42"]
    assert not r.invalid.any() and not r.missing.any()


def test_nullable_int_ids_keep_na_as_missing() -> None:
    r = normalize_id(pd.Series([17, None], dtype="Int64"))
    assert _vals(r) == ["17", None]
    assert r.missing.tolist() == [False, True]


def test_whole_floats_are_ids_fractional_ones_are_not() -> None:
    r = normalize_id(pd.Series([17.0, np.nan, 17.5, np.inf]))
    assert _vals(r)[:2] == ["17", None]
    assert r.missing.tolist() == [False, True, False, False]
    assert r.invalid.tolist() == [False, False, True, True]
    assert "17.5 is not a whole number" in r.messages[2]
    assert "external_id" in r.messages[2]


@pytest.mark.parametrize("dtype", TEXT_DTYPES)
def test_text_ids_are_kept_exactly_and_blanks_are_missing(dtype: object) -> None:
    r = normalize_id(pd.Series([" a1 ", "", "   ", None, "B"], dtype=dtype), "anonymous_id")
    assert _vals(r) == [" a1 ", None, None, None, "B"]
    assert r.missing.tolist() == [False, True, True, True, False]
    assert not r.invalid.any()


def test_mixed_object_ids() -> None:
    s = pd.Series([1, True, 1.0, "x", [1], decimal.Decimal("3"), np.int64(9)], dtype=object)
    r = normalize_id(s, column="CustomerID")
    assert _vals(r) == ["1", None, "1", "x", None, "3", "9"]
    assert r.invalid.tolist() == [False, True, False, False, True, False, False]
    assert r.messages[1].startswith("external_id (column 'CustomerID'): True is a boolean")


def test_categorical_ids() -> None:
    r = normalize_id(pd.Series(pd.Categorical([3, 1, None, 3])))
    assert _vals(r) == ["3", "1", None, "3"]
    assert r.missing.tolist() == [False, False, True, False]


# -- email ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", TEXT_DTYPES)
def test_email_trimmed_and_domain_lowercased_local_part_kept(dtype: object) -> None:
    s = pd.Series(
        [" Ann.Lee@Example.COM ", "bob@x.io", "CAT@Y.ORG", "\u00a0dan@z.com\u00a0", None, ""],
        dtype=dtype,
    )
    r = normalize_email(s)
    assert _vals(r) == ["Ann.Lee@example.com", "bob@x.io", "CAT@y.org", "dan@z.com", None, None]
    assert r.missing.tolist() == [False] * 4 + [True, True]
    assert not r.invalid.any()


def test_email_unusual_but_valid_addresses_go_through_email_validator() -> None:
    r = normalize_email(pd.Series(['"a b"@x.com', "ü@exämple.de", "a@[192.0.2.1]", "a--b@x.com"]))
    assert _vals(r) == ['"a b"@x.com', "ü@exämple.de", "a@[192.0.2.1]", "a--b@x.com"]
    assert not r.invalid.any()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("no-at-sign", "must have an @-sign"),
        ("a@", "something after the @-sign"),
        ("a..b@x.com", "two periods in a row"),
        ("x@foo.test", "special-use"),
        ("a@" + "b" * 64 + ".com", "so many characters"),
        ("Ann <ann@x.com>", "not a valid email"),
    ],
)
def test_email_invalid_with_a_reason(value: str, reason: str) -> None:
    r = normalize_email(pd.Series(["ok@x.com", value]), column="Work Email")
    assert r.invalid.tolist() == [False, True]
    assert r.values[1] is None
    assert r.messages[1].startswith("email (column 'Work Email'):")
    assert reason in r.messages[1]


def test_email_non_text_values_are_invalid() -> None:
    r = normalize_email(pd.Series([1, "a@x.com", None], dtype=object))
    assert r.invalid.tolist() == [True, False, False]
    assert r.missing.tolist() == [False, False, True]


_local = st.text(alphabet="abcXYZ09.+-_'\"!", min_size=0, max_size=8)
_domain = st.text(alphabet="abcXYZ09.-", min_size=0, max_size=10)
_tail = st.sampled_from(["com", "COM", "io", "test", "local", "x", "123", "", "xn--p1ai", "ab--cd"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.builds(
            lambda loc, d, t, ws: f"{ws}{loc}@{d}.{t}{ws}",
            _local,
            _domain,
            _tail,
            st.sampled_from(["", " ", "\t"]),
        ),
        min_size=1,
        max_size=20,
    )
)
@example(["a@b.co", "A@B.CO", "a@b-.co", "a@-b.co", "a.@b.co", ".a@b.co", "a@b..co"])
def test_property_bulk_email_path_agrees_with_email_validator(values: list[str]) -> None:
    r = normalize_email(pd.Series(values, dtype="str"))
    for i, v in enumerate(values):
        want, err = _email_value(v)
        if err is not None:
            assert r.invalid[i], v
        elif want is None:
            assert r.missing[i], v
        else:
            assert not r.invalid[i] and r.values[i] == want, v


# -- phone ------------------------------------------------------------------------------------


def test_phone_e164_kept_formatted_numbers_cleaned() -> None:
    s = pd.Series(["+61400123456", "+61 400 123 456", "+1 (415) 555-2671", "+44 20 7946 0958"])
    r = normalize_phone(s)
    assert _vals(r) == ["+61400123456", "+61400123456", "+14155552671", "+442079460958"]


def test_phone_national_numbers_need_a_default_region() -> None:
    s = pd.Series(["0400 123 456", "(02) 9876 5432"])
    without = normalize_phone(s)
    assert without.invalid.all()
    assert "pass default_region=" in without.messages[0]
    with_region = normalize_phone(s, default_region="au")
    assert _vals(with_region) == ["+61400123456", "+61298765432"]


def test_phone_national_prefix_after_country_code_is_dropped_like_phonenumbers() -> None:
    r = normalize_phone(pd.Series(["+610400123456", "+61 (0)4 0012 3456"]))
    assert _vals(r) == ["+61400123456", "+61400123456"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("+999123456", "no valid country code"),
        ("+15552671", "local number without an area code"),
        ("+6140012345678901", "too long"),
        ("+614001", "too short"),
        ("call me", "cannot be read"),
    ],
)
def test_phone_invalid(value: str, reason: str) -> None:
    r = normalize_phone(pd.Series([value]), default_region="AU")
    assert r.invalid.tolist() == [True]
    assert reason in r.messages[0]


def test_phone_integer_columns() -> None:
    s = pd.Series([61400123456, 400123456], dtype="int64")
    assert normalize_phone(s).invalid.all()
    assert _vals(normalize_phone(s, default_region="AU")) == ["+61400123456", "+61400123456"]
    f = pd.Series([61400123456.0, np.nan])
    r = normalize_phone(f, default_region="AU")
    assert _vals(r) == ["+61400123456", None]
    assert r.missing.tolist() == [False, True]


_cc = st.sampled_from(
    ["1", "7", "33", "39", "44", "61", "64", "81", "86", "91", "358", "800", "999", "0", "21"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.builds(
            lambda cc, rest, sep: "+" + cc + sep + rest,
            _cc,
            st.text(alphabet="0123456789", min_size=0, max_size=14),
            st.sampled_from(["", " ", "-", " (0) "]),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_property_bulk_phone_path_agrees_with_phonenumbers(values: list[str]) -> None:
    r = normalize_phone(pd.Series(values, dtype="str"))
    slow = _phone_value(None)
    for i, v in enumerate(values):
        want, err = slow(v)
        if err is not None:
            assert r.invalid[i], (v, r.values[i])
        else:
            assert not r.invalid[i] and r.values[i] == want, (v, r.messages.get(i))


# -- timezone and locale ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [*TEXT_DTYPES, "category"])
def test_timezone(dtype: object) -> None:
    s = pd.Series(
        ["Australia/Sydney", "australia/sydney", " UTC ", "Mars/Base", None, ""], dtype=dtype
    )
    r = normalize_timezone(s)
    assert _vals(r) == ["Australia/Sydney", "Australia/Sydney", "UTC", None, None, None]
    assert r.invalid.tolist() == [False, False, False, True, False, False]
    assert r.missing.tolist() == [False, False, False, False, True, True]
    assert "not an IANA time zone name" in r.messages[3]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("en_AU", "en-AU"),
        ("EN-au", "en-AU"),
        ("zh_hant_tw", "zh-Hant-TW"),
        ("en_AU.UTF-8", "en-AU"),
        ("de_DE@euro", "de-DE"),
        ("es-419", "es-419"),
        ("sl-rozaj-biske", "sl-rozaj-biske"),
        ("en-US-u-ca-gregory", "en-US-u-ca-gregory"),
        ("x-whatever", "x-whatever"),
        ("i-klingon", "i-klingon"),
        ("ja", "ja"),
    ],
)
def test_locale_canonical_form(value: str, expected: str) -> None:
    r = normalize_locale(pd.Series([value]))
    assert _vals(r) == [expected]


@pytest.mark.parametrize(
    "value", ["english", "C", "e", "en-", "en--AU", "12", "en-AU-" + "x" * 300]
)
def test_locale_invalid(value: str) -> None:
    r = normalize_locale(pd.Series([value]))
    assert r.invalid.tolist() == [True]
    assert "locale" in r.messages[0]


def test_normalize_field_dispatches_and_refuses_unknown_fields() -> None:
    assert _vals(normalize_field("locale", pd.Series(["en_gb"]))) == ["en-GB"]
    with pytest.raises(ValueError, match="no normaliser"):
        normalize_field("first_name", pd.Series(["x"]))


def test_to_series_gives_string_dtype() -> None:
    r = normalize_email(pd.Series(["a@X.com", None]))
    s = r.to_series(pd.Index([5, 6]))
    assert str(s.dtype) == "string"
    assert s.tolist() == ["a@x.com", pd.NA]


def test_national_numbers_must_be_valid_numbers_of_the_default_region() -> None:
    values = pd.Series(
        ["646-555-0186", "12345", "(02) 9374 4000", "0412 345 678", "+1 646 555 0186"]
    )
    result = normalize_field("phone", values, default_region="AU")
    assert list(result.values) == [None, None, "+61293744000", "+61412345678", "+16465550186"]
    assert "not a valid AU number" in result.messages[0]
    assert "international format" in result.messages[0]  # a US-shaped number
    # Too short to be another country's number: no hint about other countries.
    assert result.messages[1] == "phone: '12345' is not a valid AU number"


def test_phone_extensions_are_kept_apart_from_the_number() -> None:
    values = pd.Series(
        ["(283)437-3886x88321", "+1 283 437 3886 ext. 12", "+61491570156", None, "bad x1"]
    )
    result = normalize_field("phone", values, default_region="US")
    assert list(result.values[:3]) == ["+12834373886", "+12834373886", "+61491570156"]
    assert result.extensions is not None
    assert list(result.extensions) == ["88321", "12", None, None, None]
    plain = normalize_field("phone", pd.Series(["+61491570156"]))
    assert plain.extensions is None
    cats = normalize_field(
        "phone", pd.Series(["283-437-3886 x7", None], dtype="category"), default_region="US"
    )
    assert cats.extensions is not None and list(cats.extensions) == ["7", None]


def test_a_local_looking_unallocated_number_is_not_called_foreign() -> None:
    result = normalize_field("phone", pd.Series(["05 1234 5678"]), default_region="AU")
    assert "no AU number is allocated like that" in result.messages[0]
    assert "other countries" not in result.messages[0]
