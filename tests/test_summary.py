"""summary(): counts by status and problems grouped by code and field, as text and HTML."""

from __future__ import annotations

import pandas as pd
import pytest

from spotzee_frames import Client, ValidationError
from spotzee_frames._summary import Summary, summary


def upsert_result() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "status": [
                "upserted",
                "invalid",
                "invalid",
                "failed",
                "upserted",
                "invalid",
                "rejected",
            ],
            "error_code": [
                None,
                "parameter_invalid_format",
                "parameter_invalid_format",
                "service_unavailable",
                None,
                "parameter_missing",
                "parameter_invalid_format",
            ],
            "error_field": [None, "email", "email", None, None, "external_id", "phone"],
            "error_message": [
                None,
                "'bob@@example.com' is not a valid email address",
                "'carol at example.com' is not a valid email address",
                "503 service_unavailable after 6 attempts",
                None,
                "a row needs an external_id or anonymous_id",
                "<script>alert(1)</script> is not a phone number",
            ],
            "external_id": ["1", "2", "3", "4", "5", None, "7"],
            "batch": [0, None, None, 1, 0, None, 0],
            "attempts": [1, 0, 0, 6, 1, 0, 1],
            "request_id": ["req_a", None, None, None, "req_a", None, "req_a"],
        },
        index=pd.Index(["a", "b", "c", "d", "e", "f", "g"], name="row"),
    )


def trigger_result() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "status": ["triggered", "triggered", "invalid", "triggered"],
            "error_code": [None, None, "parameter_missing", None],
            "error_message": [None, None, "external_id is required", None],
            "external_id": ["1", "2", None, "4"],
            "attempts": [1, 2, 0, 1],
            "request_id": ["req_1", "req_2", None, "req_4"],
            "replayed": [True, False, False, True],
        },
        index=[10, 11, 12, 13],
    )


def test_counts_by_status_in_a_useful_order() -> None:
    s = summary(upsert_result())
    assert isinstance(s, Summary)
    assert s.total == 7
    assert list(s.counts.index) == ["upserted", "invalid", "rejected", "failed"]
    assert s.counts.tolist() == [2, 3, 1, 1]
    assert not s.ok
    assert s.kind == "upsert"


def test_errors_are_grouped_by_status_code_and_field_with_examples() -> None:
    s = summary(upsert_result(), examples=1)
    errors = s.errors
    assert list(errors.columns) == [
        "status",
        "error_code",
        "error_field",
        "rows",
        "examples",
        "message",
    ]
    first = errors.iloc[0]
    assert (first.status, first.error_code, first.error_field, first.rows) == (
        "invalid",
        "parameter_invalid_format",
        "email",
        2,
    )
    assert first.examples == ["b"]  # index labels, capped at `examples`
    assert "bob@@example.com" in first.message
    assert errors["rows"].sum() == 5
    assert set(errors.error_field) == {"email", "", "external_id", "phone"}


def test_text_rendering_lists_counts_reasons_and_example_labels() -> None:
    text = str(summary(upsert_result()))
    assert text.splitlines()[0] == "Upsert: 7 rows — 2 upserted, 3 invalid, 1 rejected, 1 failed"
    assert "Rows not upserted (5), by reason:" in text
    assert "2 batches" in text and "1 row needed retries" in text
    assert "parameter_invalid_format" in text and "email" in text
    assert "b, c" in text
    assert repr(summary(upsert_result())) == text


def test_html_rendering_is_escaped_and_complete() -> None:
    markup = summary(upsert_result())._repr_html_()
    assert markup.startswith("<div") and markup.endswith("</div>")
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    for word in ("upserted", "invalid", "rejected", "failed", "parameter_missing", "external_id"):
        assert word in markup


def test_trigger_results_show_replays_and_no_batches() -> None:
    s = summary(trigger_result())
    assert s.kind == "trigger"
    assert s.replayed == 2 and s.retried == 1 and s.batches is None
    text = str(s)
    assert text.startswith("Trigger: 4 rows — 3 triggered, 1 invalid")
    assert "2 replayed" in text
    assert s.errors.iloc[0].error_field == ""  # trigger results have no error_field column
    assert s.errors.iloc[0].examples == [12]


def test_all_good_and_dry_run_and_empty() -> None:
    good = pd.DataFrame({"status": ["upserted"] * 3, "batch": [0, 0, 0]})
    assert summary(good).ok and summary(good).errors.empty
    assert "Rows not" not in str(summary(good))
    dry = pd.DataFrame(
        {"status": ["valid", "invalid"], "error_code": [None, "x"], "batch": [0, None]}
    )
    assert summary(dry).dry_run
    assert "dry run: nothing was sent" in str(summary(dry))
    assert "would go in 1 batch" in str(summary(dry)) and "sent in" not in str(summary(dry))
    assert "Rows that would not be sent (1)" in str(summary(dry))
    empty = upsert_result().iloc[:0]
    assert summary(empty).ok and summary(empty).total == 0
    assert "nothing to do" in str(summary(empty))


def test_accessor_and_bad_input() -> None:
    import spotzee_frames  # noqa: F401  (registers the accessor)

    assert str(upsert_result().spotzee.summary()) == str(summary(upsert_result()))
    with pytest.raises(ValidationError, match="result frame"):
        summary(pd.DataFrame({"email": ["a@example.com"]}))
    with pytest.raises(ValidationError, match="examples"):
        summary(upsert_result(), examples=-1)


def test_skipped_duplicates_are_listed_but_not_a_failure() -> None:
    frame = pd.DataFrame(
        {
            "status": ["upserted", "skipped"],
            "error_code": [None, "duplicate_external_id"],
            "error_field": [None, "external_id"],
            "error_message": [None, "same external_id '1' and same values as row 0"],
            "batch": [0, None],
        }
    )
    s = summary(frame)
    assert s.ok
    assert s.errors["status"].tolist() == ["skipped"]
    assert "duplicate_external_id" in str(s)


def test_format_table_aligns_text_left_and_numbers_right() -> None:
    from spotzee_frames._summary import format_table

    table = format_table(
        pd.DataFrame({"id": [1, 12], "name": ["a", "bcd"], "tags": [["x", "y"], []]})
    )
    assert table.splitlines() == ["id  name  tags", " 1  a     x, y", "12  bcd"]


def test_preview_shows_payloads_next_to_source_rows() -> None:
    from spotzee_frames._summary import Preview, preview

    frame = pd.DataFrame(
        {
            "external_id": ["1", "2"],
            "email": [" Ada@Example.COM", "bob@@example.com"],
            "plan": ["pro", "<b>free</b>"],
        },
        index=["r1", "r2"],
    )
    shown = preview(frame, n=2, invalid_fields="reject")
    assert isinstance(shown, Preview)
    assert shown.frame["status"].tolist() == ["valid", "invalid"]
    text = str(shown)
    assert "row r1:" in text and '"email": "Ada@example.com"' in text
    assert "not sent (invalid)" in text
    lenient = str(preview(frame, n=2))  # invalid_fields="omit": sent without the email
    assert "not sent" not in lenient
    assert "warning: email: 'bob@@example.com' is not a valid email" in lenient
    markup = shown._repr_html_()
    assert "<pre" in markup and "&lt;b&gt;free&lt;/b&gt;" in markup and "<b>free" not in markup
    with pytest.raises(ValidationError):
        preview(frame, n=0)


def test_missing_status_values_and_multiindex_labels() -> None:
    frame = pd.DataFrame(
        {"status": pd.array(["upserted", None], dtype="string"), "error_code": [None, None]},
        index=pd.MultiIndex.from_tuples([("x", 1), ("y", 2)]),
    )
    s = summary(frame)
    assert "unknown" in s.counts.index
    assert "(y, 2)" in str(s)


def test_status_lists_what_happened_and_warnings_are_grouped(client: Client) -> None:
    frame = pd.DataFrame(
        {
            "external_id": ["a", "b", "c", None],
            "email": ["a@example.com", "nope", "also nope", "d@example.com"],
            "timezone": ["UTC", "UTC", "Mars/Base", None],
        }
    )
    result = frame.spotzee.upsert(client=client, progress=False)
    # Only the statuses that occur: value_counts() is what happened, with no zeros.
    assert result.status.value_counts().to_dict() == {"upserted": 3, "invalid": 1}
    assert str(result.status.dtype) == "string"
    s = result.spotzee.summary()
    groups = s.warnings.set_index("warning_field")["rows"].to_dict()
    assert groups == {"email": 1, "email, timezone": 1}
    assert "Rows sent without a field (2), by reason:" in str(s)
    markup = s._repr_html_()
    assert "Rows sent without a field" in markup and "sent without email" in markup
