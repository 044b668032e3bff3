"""`spotzee-frames demo` and the bundled sample it imports."""

from __future__ import annotations

import io
import re

import pandas as pd
from click.testing import CliRunner

from spotzee_frames._cli import cli
from spotzee_frames._demo import run_demo, sample_contacts


def test_sample_contacts_is_messy_and_deterministic() -> None:
    contacts = sample_contacts()
    assert len(contacts) == 200
    assert list(contacts.columns) == [
        "external_id", "first_name", "last_name", "email", "phone", "timezone", "locale",
        "plan", "signup_date", "lifetime_value", "opted_in", "tags",
    ]  # fmt: skip
    assert contacts["external_id"].dtype == "string"  # as written, never a number
    assert contacts["external_id"].isna().sum() == 4
    assert contacts["external_id"].dropna().duplicated().sum() >= 3
    assert contacts["email"].str.contains("@@", regex=False).any()
    assert contacts["email"].str.startswith(" ").any()
    assert contacts["phone"].str.startswith("0491 570").any()  # national AU format
    assert contacts["timezone"].eq("australia/sydney").any()
    assert contacts["locale"].eq("en_AU").any()
    assert set(contacts["plan"].dropna()) == {"free", "pro", "enterprise"}
    assert contacts["lifetime_value"].isna().any()
    assert contacts["first_name"].str.contains("[^\x00-\x7f]").any()  # unicode names
    pd.testing.assert_frame_equal(contacts, sample_contacts())


def test_demo_runs_and_is_honest() -> None:
    out = io.StringIO()
    assert run_demo(progress=False, out=out) == 0
    text = out.getvalue()
    # 1. the upsert summary and every row that was not upserted, with why
    headline = re.search(r"Upsert: 200 rows — (\d+) upserted, (.*)", text)
    assert headline, text
    upserted = int(headline.group(1))
    assert 120 <= upserted < 200
    failed_block = text.split("rows that were not upserted, and why:")[1].split("\n\n")[0]
    failed_lines = [line for line in failed_block.strip().splitlines()[1:] if line.strip()]
    assert len(failed_lines) == 200 - upserted
    assert "external_id" in failed_block
    # Rows with an unusable email, phone, timezone or locale went in without it, each listed.
    without = text.split("and why:")[2].split("The sandbox now")[0]
    for needle in ("email", "phone", "timezone", "locale", "sent without"):
        assert needle in without
    # 2. the campaigns, 3. a trigger for a filtered slice, 4. a re-run that replays
    assert "Welcome email" in text and "draft" in text
    triggered = re.search(r"Trigger: (\d+) rows — (\d+) triggered", text)
    assert triggered and int(triggered.group(2)) > 0
    n = int(triggered.group(2))
    assert f"{n} of {n} calls were replayed" in text
    assert "Traceback" not in text and "sk_" not in text


def test_demo_command_exits_0_with_the_report_on_stdout() -> None:
    result = CliRunner().invoke(cli, ["demo"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "rows that were not upserted, and why" in result.stdout
    assert "triggered" in result.stdout
    assert result.stderr == ""
