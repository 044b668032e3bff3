"""Sync rules: pushed into SOQL (run by the fake Salesforce through simple-salesforce) and
applied locally to an export of the same records select the same records; conversions and
ids."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotzee_frames import ValidationError
from spotzee_frames.salesforce._convert import FieldMapping, convert_column
from spotzee_frames.salesforce._fields import FieldInfo, frame_schema
from spotzee_frames.salesforce._ids import external_id, id18
from spotzee_frames.salesforce._rules import (
    local_mask,
    parse_rules,
    soql_where,
    typed_rule,
)
from spotzee_frames.salesforce._source import modified_text
from spotzee_frames.sandbox.salesforce import FakeSalesforce

TEXTS = ["Web", "web", "WEB site", "Partner", "o'Brien", "50%_off", "back\\slash", "Ünïcode"]
FIELDS: dict[str, tuple[str, Any]] = {
    "Company": ("text", st.sampled_from(TEXTS)),
    "LeadSource": ("text", st.sampled_from(["Web", "Other", "Trade Show"])),
    "AnnualRevenue": ("number", st.sampled_from([0.0, 10.0, 99.5, 1000.0])),
    "NumberOfEmployees": ("number", st.sampled_from([1, 5, 50])),
    "HasOptedOutOfEmail": ("boolean", st.booleans()),
    "ConvertedDate": ("date", st.sampled_from([dt.date(2026, 1, 1), dt.date(2026, 5, 3)])),
}
OPS = {
    "text": ["equals", "not_equals", "contains", "not_contains", "starts_with", "ends_with"],
    "number": ["equals", "not_equals", "greater_than", "less_than"],
    "boolean": ["equals", "not_equals"],
    "date": ["equals", "greater_than", "less_than"],
}
NULLABLE = {"Company": False}  # required on Lead; every other field here may be null


@st.composite
def records(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for _ in range(draw(st.integers(1, 12))):
        record = {}
        for name, (_, values) in FIELDS.items():
            nullable = NULLABLE.get(name, True) and name != "HasOptedOutOfEmail"
            value = draw(st.one_of(st.none(), values) if nullable else values)
            record[name] = value
        out.append(record)
    return out


@st.composite
def rules(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(list(FIELDS)))
        family, values = FIELDS[name]
        op = draw(st.sampled_from([*OPS[family], "is_set", "is_not_set"]))
        if op in ("is_set", "is_not_set"):
            out.append((name, op))
            continue
        value = draw(values)
        if family == "text" and op not in ("equals", "not_equals"):
            value = draw(st.sampled_from(["we", "EB", "'", "%", "_", "\\", "ü", "o'b"]))
        if family == "date":
            value = value.isoformat()
        out.append((name, op, value))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records(), rules(), st.sampled_from(["all", "any"]))
def test_soql_and_local_rules_select_the_same_records(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[dict[str, Any]],
    given_rules: list[tuple[Any, ...]],
    match: str,
) -> None:
    fake = FakeSalesforce()
    for row in rows:
        fake.create("Lead", {"LastName": "L", "Status": "Open - Not Contacted", **row})
    sf = fake.connect()
    parsed = parse_rules("Lead", given_rules)
    schema = sf.Lead.describe()
    kinds = {f["name"]: f["type"] for f in schema["fields"]}
    typed = [typed_rule("Lead", r, FieldInfo(r.field, kinds[r.field])) for r in parsed]
    where = soql_where(typed, match)
    remote = {r["Id"] for r in sf.query_all(f"SELECT Id FROM Lead WHERE {where}")["records"]}

    export = sf.query_all("SELECT Id, " + ", ".join(FIELDS) + " FROM Lead")["records"]
    path = tmp_path_factory.mktemp("export") / "leads.csv"
    pd.DataFrame([{k: v for k, v in r.items() if k != "attributes"} for r in export]).to_csv(
        path, index=False
    )
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    local_schema = frame_schema("Lead", frame)
    local_typed = [
        typed_rule("Lead", r, local_schema.get(r.field) or FieldInfo(r.field, "string"))
        for r in parsed
    ]
    mask = local_mask(frame, local_typed, match, local_schema.columns)
    assert set(frame.loc[mask, "Id"]) == remote


def test_values_are_escaped_by_format_soql_never_pasted() -> None:
    parsed = parse_rules(
        "Lead", [("Company", "contains", "50%_o'k\\"), ("Company", "equals", "a'b")]
    )
    typed = [typed_rule("Lead", r, FieldInfo("Company", "string")) for r in parsed]
    assert soql_where(typed, "any") == ("(Company LIKE '%50\\%\\_o\\'k\\\\%' OR Company = 'a\\'b')")


def test_datetime_rules_become_unquoted_utc_literals() -> None:
    (rule,) = parse_rules("Lead", [("CreatedDate", "greater_than", "2026-05-03T17:57:00+02:00")])
    typed = typed_rule("Lead", rule, FieldInfo("CreatedDate", "datetime"))
    assert soql_where([typed], "all") == "(CreatedDate > 2026-05-03T15:57:00+00:00)"
    with pytest.raises(ValidationError, match="a date field"):
        typed_rule("Lead", rule, FieldInfo("ConvertedDate", "date"))


@pytest.mark.parametrize(
    ("sf_type", "kind", "values", "expected", "dropped"),
    [
        ("picklist", "number", ["Hot", "5", " 7.5 ", None, ""], [None, 5, 7.5, None, None], [0]),
        ("double", "number", [1.5, float("nan"), True], [1.5, None, None], [2]),
        ("boolean", "boolean", [True, "false", "TRUE", "yes"], [True, False, True, None], [3]),
        (
            "datetime",
            "date",
            ["2026-05-03T15:57:00.000+0000", "soon"],
            ["2026-05-03T15:57:00Z", None],
            [1],
        ),
        ("date", "date", ["2026-05-03", dt.date(2026, 1, 2)], ["2026-05-03", "2026-01-02"], []),
        ("multipicklist", "array", ["A;B; C", 3], [["A", "B", "C"], None], [1]),
        ("currency", "string", [1200.0, 3, True], ["1200", "3", "true"], []),
        # past 2**53 a JSON number is stored as another double: no exact number property
        (
            "long",
            "number",
            [2**53, 2**53 + 1, "-9007199254740993", -(2**53)],
            [2**53, None, None, -(2**53)],
            [1, 2],
        ),
        ("long", "string", [2**53 + 1], ["9007199254740993"], []),
    ],
)
def test_conversion_by_type_drops_what_does_not_fit(
    sf_type: str, kind: str, values: list[Any], expected: list[Any], dropped: list[int]
) -> None:
    mapping = FieldMapping(FieldInfo("F__c", sf_type), "data.f", kind)
    out, warnings = convert_column(values, mapping)
    assert list(out) == expected
    assert sorted(warnings) == dropped
    for message in warnings.values():
        assert message.startswith("type_mismatch: F__c=") and "data.f left out" in message


def test_ids_and_external_ids() -> None:
    # Each 5-character chunk's upper-case letters, as bits, pick one checksum character.
    assert id18("00Q5g0000000001") == "00Q5g0000000001EAA"
    assert id18("001aB00000XyZ12") == "001aB00000XyZ12QAF"
    assert id18("00Q5g0000000001EAA") == "00Q5g0000000001EAA"
    assert external_id("acme", "Lead", "00Q5g0000000001") == "sf_acme_Lead_00Q5g0000000001EAA"


# -- LastModifiedDate as watermarks keep it -----------------------------------------------


@given(
    moment=st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2100, 12, 31)),
    suffix=st.sampled_from(["+0000", "+00:00", "Z", "+0200", "-0530"]),
)
def test_modified_text_reads_rest_times_as_pandas_does(moment: dt.datetime, suffix: str) -> None:
    # The REST API's UTC text takes a fast path; any other offset goes through pandas.
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}{suffix}"
    assert modified_text(text) == modified_text(pd.Timestamp(text))


@pytest.mark.parametrize(
    "text", ["2026-13-03T15:57:00.000+0000", "2026-02-30T10:00:00.000Z", "not a date", ""]
)
def test_modified_text_refuses_what_is_not_a_time(text: str) -> None:
    assert modified_text(text) is None
