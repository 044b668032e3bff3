"""Contact files as analysts have them, through the CLI and through the Python API, checked
against what the sandbox stored: ids with leading zeros, CR-only line ends, `First Name`
headers, phones with extensions, unusable optional fields, email-only lists, `Customer Id`
columns. The files are small, written here in the shapes of public CRM exports, address
books and lead lists (the data is made up)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import spotzee_frames as sf
from spotzee_frames import Client, NumericIdWarning, ValidationError
from spotzee_frames.sandbox import Sandbox

from .conftest import Served, invoke

# A CRM's customer export: an index column, a text id, `First Name`-style headers.
CRM = (
    "Index,Customer Id,First Name,Last Name,Company,City,Phone,Email,Subscription Date\n"
    "1,0000001,Ann,Lee,Acme,Sydney,(283)437-3886x88321,ann@example.com,2021-05-01\n"
    "2,0000002,Bob,Ng,Initech,Melbourne,+61 491 570 156,bob@example.com,2021-06-11\n"
    "3,0000010,Cy,Roe,Hooli,Perth,283.437.3887 x2,cy@@example.com,2022-01-03\n"
)
# An address book saved on an old Mac: CR-only line ends, `Surname`, a postcode.
ADDRESS_BOOK = (
    "Contact ID\rGiven Name\rSurname\rE-mail\rPostcode\r".replace("\r", ",").rstrip(",")
    + "\r0042,Dee,Park,dee@example.com,0800\r0043,Eve,Kim,eve@example.com,2000\r"
)
# A lead list: an email is all there is to know a lead by; some phones are junk.
LEADS = (
    "Email Address,fname,lname,Phone Number,Time Zone\n"
    "lead1@example.com,Fay,Ito,0491 570 006,Australia/Sydney\n"
    "lead2@example.com,Gus,Ode,12345,Mars/Base\n"
    "lead3@example.com,Hal,Poe,call me,\n"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))  # bytes: the line ends stay as written
    return path


# -- 1. ids as written ----------------------------------------------------------------------


def test_cli_and_read_file_keep_leading_zeros_pd_read_csv_warns(
    runner: CliRunner, tmp_path: Path, served: Served, served_env: dict[str, str]
) -> None:
    path = write(tmp_path, "crm.csv", CRM)
    result = invoke(runner, "upsert", str(path), "--map", "Customer Id=external_id", env=served_env)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no warning: the CLI reads ids as text
    assert set(served.sandbox.users) == {"0000001", "0000002", "0000010"}

    python = Sandbox()
    with Client.sandbox(python) as client, warnings.catch_warnings():
        warnings.simplefilter("error")  # read_file's frame gives no NumericIdWarning
        frame = sf.read_file(path, {"Customer Id": "external_id"})
        assert frame["Customer Id"].tolist() == ["0000001", "0000002", "0000010"]
        frame.spotzee.upsert({"Customer Id": "external_id"}, client=client, progress=False)
    assert set(python.users) == set(served.sandbox.users)

    naive = Sandbox()
    numbers = pd.read_csv(path)  # what a notebook does first: 0000001 becomes 1
    with (
        Client.sandbox(naive) as client,
        pytest.warns(NumericIdWarning, match=r"column 'Customer Id' \(int64\).*read_file") as seen,
    ):
        numbers.spotzee.upsert({"Customer Id": "external_id"}, client=client, progress=False)
    assert len(seen) == 1  # once per call
    assert "dtype={'Customer Id': str}" in str(seen[0].message)
    assert set(naive.users) == {"1", "2", "10"}  # the hazard the warning names


def test_numeric_id_warning_points_at_the_callers_line_once_per_call() -> None:
    frame = pd.DataFrame({"external_id": [1, 2], "anonymous_id": [3.0, 4.0]})
    with pytest.warns(NumericIdWarning) as seen:
        sf.preview(frame, n=2)
    assert len(seen) == 1 and seen[0].filename == __file__
    assert "external_id comes from column 'external_id'" in str(seen[0].message)
    assert "anonymous_id comes from column 'anonymous_id'" in str(seen[0].message)
    assert issubclass(NumericIdWarning, sf.SpotzeeWarning) and issubclass(
        NumericIdWarning, UserWarning
    )


def test_workbook_ids_and_postcodes_read_as_the_sheet_shows_them(
    runner: CliRunner, tmp_path: Path, served: Served, served_env: dict[str, str]
) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Customer Id", "First Name", "Postcode", "Visits", "Joined", "VIP"])
    sheet.append([1, "Ann", "0800", 3, pd.Timestamp("2021-05-01").to_pydatetime(), True])
    sheet.append([])  # a blank row, skipped
    sheet.append([12, "Bob", 2000, None, None, False])
    for row in (2, 4):
        sheet.cell(row=row, column=1).number_format = "0000000"  # shown as 0000001
    path = tmp_path / "contacts.xlsx"
    book.save(path)

    frame = sf.read_file(path, {"Customer Id": "external_id"}, line_numbers=True)
    assert frame.index.tolist() == [2, 4] and frame.index.name == "row"
    assert frame["Customer Id"].tolist() == ["0000001", "0000012"]
    assert frame["Postcode"].tolist() == ["0800", "2000"]  # text and number cells alike
    assert str(frame["Visits"].dtype) == "Int64" and str(frame["VIP"].dtype) == "boolean"
    assert frame["Joined"].dtype.kind == "M"

    result = invoke(runner, "upsert", str(path), "--map", "Customer Id=external_id", env=served_env)
    assert result.exit_code == 0, result.output
    ann = served.sandbox.users["0000001"]
    assert ann["data"]["first_name"] == "Ann" and ann["data"]["Postcode"] == "0800"
    assert served.sandbox.users["0000012"]["data"]["Postcode"] == "2000"
    with pytest.raises(ValidationError, match="no sheet 'Leads'"):
        sf.read_file(path, sheet_name="Leads")
    leads = book.create_sheet("Leads")
    leads.append(["Email Address", "First Name"])
    leads.append(["lead9@example.com", "Ivy"])
    book.save(path)
    args = ["upsert", str(path), "--map", "Email Address=external_id", "--sheet", "Leads"]
    assert invoke(runner, *args, env=served_env).exit_code == 0
    assert served.sandbox.users["lead9@example.com"]["data"] == {"first_name": "Ivy"}
    assert invoke(runner, *args[:-1], "1", env=served_env).exit_code == 0  # by position
    missing = invoke(runner, *args[:-1], "Nope", env=served_env)
    assert missing.exit_code == 2 and "no sheet 'Nope'" in missing.stderr


# -- 2. names where templates look, CR-only files ------------------------------------------


def test_cr_only_address_book_names_land_in_conventional_keys(
    runner: CliRunner, tmp_path: Path, served: Served, served_env: dict[str, str]
) -> None:
    path = write(tmp_path, "address-book.csv", ADDRESS_BOOK)
    assert b"\n" not in path.read_bytes()
    preview = invoke(
        runner,
        *("upsert", str(path), "--map", "Contact ID=external_id", "--dry-run", "--preview", "1"),
        env=served_env,
    )
    assert preview.exit_code == 0, preview.output
    # The dry run says which header went where.
    matched = preview.stdout.split("matched by name: ")[1].splitlines()[0]
    assert matched == "'E-mail' → email, 'Given Name' → data.first_name, 'Surname' → data.last_name"
    assert "line 2:" in preview.stdout
    result = invoke(runner, "upsert", str(path), "--map", "Contact ID=external_id", env=served_env)
    assert result.exit_code == 0, result.output
    dee = served.sandbox.users["0042"]
    assert dee["email"] == "dee@example.com"
    assert dee["data"] == {"first_name": "Dee", "last_name": "Park", "Postcode": "0800"}

    frame = sf.read_file(path)
    assert frame["Contact ID"].tolist() == ["0042", "0043"]
    result_py = sf.upsert(frame, {"Contact ID": "external_id"}, dry_run=True, include_payload=True)
    assert result_py.loc[0, "payload"]["data"]["first_name"] == "Dee"
    assert "'Given Name' → data.first_name" in str(result_py.spotzee.summary())


def test_a_column_that_already_gives_the_key_keeps_it() -> None:
    frame = pd.DataFrame(
        {"external_id": ["a"], "first_name": ["Ann"], "First Name": ["ANN"], "surname": ["Lee"]}
    )
    payload = sf.upsert(frame, dry_run=True, include_payload=True).loc[0, "payload"]
    assert payload["data"] == {"first_name": "Ann", "First Name": "ANN", "last_name": "Lee"}
    mapped = sf.upsert(frame, {"surname": "data.family"}, dry_run=True, include_payload=True).loc[
        0, "payload"
    ]
    assert mapped["data"]["family"] == "Lee" and "last_name" not in mapped["data"]


# -- 3. one bad field is not the whole contact ---------------------------------------------


def test_invalid_optional_fields_are_left_out_and_reported(
    client: Client, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.add_users(1, prefix="lead")  # lead1 exists, with a stored email
    frame = sf.read_file(write(tmp_path, "leads.csv", LEADS))
    frame["external_id"] = ["lead1", "lead2", "lead3"]
    result = frame.spotzee.upsert(default_region="AU", nulls="clear", client=client)
    assert result.status.tolist() == ["upserted"] * 3
    assert result.warning_field.tolist() == [pd.NA, "phone, timezone", "phone"]
    assert "'12345' is not a valid AU number; sent without phone" in result.warning_message[1]
    gus = sandbox.users["lead2"]
    assert gus["email"] == "lead2@example.com" and gus["data"]["first_name"] == "Gus"
    assert gus["phone"] is None and gus["timezone"] is None  # never sent, not even as null
    fay = sandbox.users["lead1"]
    assert fay["phone"] == "+61491570006" and fay["timezone"] == "Australia/Sydney"
    # Grouped by the summary, with the rows in each group.
    summary = result.spotzee.summary()
    assert summary.ok and "Rows sent without a field (2), by reason:" in str(summary)
    groups = summary.warnings.set_index("warning_field")["rows"].to_dict()
    assert groups == {"phone, timezone": 1, "phone": 1}

    strict = frame.spotzee.upsert(default_region="AU", invalid_fields="reject", client=client)
    assert strict.status.tolist() == ["upserted", "invalid", "invalid"]
    assert strict.error_field.tolist()[1:] == ["phone", "phone"]
    with pytest.raises(ValidationError, match="invalid_fields must be one of 'omit', 'reject'"):
        frame.spotzee.upsert(invalid_fields="skip", client=client)


def test_cli_invalid_fields_and_the_report_of_what_was_left_out(
    runner: CliRunner, tmp_path: Path, served: Served, served_env: dict[str, str]
) -> None:
    path = write(tmp_path, "leads.csv", LEADS)
    report = tmp_path / "report.csv"
    base = ["upsert", str(path), "--map", "Email Address=external_id", "--default-region", "AU"]
    result = invoke(runner, *base, "--report", str(report), env=served_env)
    assert result.exit_code == 0, result.output  # every row was sent
    assert "Rows sent without a field (2)" in result.stdout
    assert "report: 0 row(s) not sent and 2 sent without a field" in result.stderr
    rows = pd.read_csv(report, dtype=str, keep_default_na=False)
    assert rows["line"].tolist() == ["3", "4"]
    assert rows["warning_field"].tolist() == ["phone, timezone", "phone"]
    assert rows["Phone Number"].tolist() == ["12345", "call me"]  # the source, as read
    assert served.sandbox.users["lead3@example.com"]["phone"] is None
    strict = invoke(runner, *base, "--invalid-fields", "reject", env=served_env)
    assert strict.exit_code == 1 and "2 invalid" in strict.stdout


# -- 4. phone extensions --------------------------------------------------------------------


def test_phone_extensions_go_to_data_and_show_in_the_preview(
    runner: CliRunner, tmp_path: Path, served: Served, served_env: dict[str, str]
) -> None:
    path = write(tmp_path, "crm.csv", CRM)
    args = ["upsert", str(path), "--map", "Customer Id=external_id", "--default-region", "US"]
    shown = invoke(runner, *args, "--dry-run", "--preview", "1", env=served_env)
    assert "extensions in 'Phone' → data.phone_extension" in shown.stdout
    assert '"phone_extension": "88321"' in shown.stdout
    assert invoke(runner, *args, env=served_env).exit_code == 0
    ann = served.sandbox.users["0000001"]
    assert ann["phone"] == "+12834373886" and ann["data"]["phone_extension"] == "88321"
    assert "phone_extension" not in served.sandbox.users["0000002"]["data"]

    frame = sf.read_file(path, {"Customer Id": "external_id"})
    frame["phone_extension"] = ["1", None, None]  # the frame gives the key itself
    result = sf.upsert(
        frame,
        {"Customer Id": "external_id"},
        default_region="US",
        dry_run=True,
        include_payload=True,
    )
    assert result.loc[0, "payload"]["data"]["phone_extension"] == "1"  # the frame's own
    assert result.loc[0, "warning_code"] == "phone_extension_not_sent"
    assert "extension '88321' not sent" in result.loc[0, "warning_message"]
    assert "extension '2' not sent" in result.loc[2, "warning_message"]


def test_trigger_carries_the_extension_as_an_attribute(client: Client, sandbox: Sandbox) -> None:
    cid = next(c for c, v in sorted(sandbox.campaigns.items()) if v["state"] == "running")
    frame = pd.DataFrame({"external_id": ["a"], "phone": ["+1 283 437 3886 ext. 12"]})
    assert sf.trigger_campaign(frame, cid, client=client).status.tolist() == ["triggered"]
    user = sandbox.campaign_sends[-1]["user"]
    assert user["phone"] == "+12834373886" and user["phone_extension"] == "12"


# -- 5. email-only lists --------------------------------------------------------------------


def test_one_column_feeds_several_fields(
    runner: CliRunner, tmp_path: Path, served: Served, served_env: dict[str, str]
) -> None:
    path = write(tmp_path, "leads.csv", LEADS)
    result = invoke(
        runner,
        *("upsert", str(path), "--default-region", "AU"),
        *("--map", "Email Address=external_id", "--map", "Email Address=email"),
        env=served_env,
    )
    assert result.exit_code == 0, result.output
    lead = served.sandbox.users["lead1@example.com"]
    assert lead["email"] == "lead1@example.com" and lead["data"]["first_name"] == "Fay"
    assert "Email Address" not in lead["data"]

    python = Sandbox()
    with Client.sandbox(python) as client:
        frame = sf.read_file(path)
        frame.spotzee.upsert({"Email Address": ["external_id", "email"]}, client=client)
    assert python.users["lead2@example.com"]["email"] == "lead2@example.com"
    clash = invoke(
        runner,
        *("upsert", str(path), "--map", "Email Address=external_id", "--map", "Email Address="),
        env=served_env,
    )
    assert clash.exit_code == 2 and "choose one" in clash.stderr


# -- 6. the CLI speaks CLI -------------------------------------------------------------------


def test_id_like_columns_are_suggested_never_picked(
    runner: CliRunner, tmp_path: Path, served: Served, served_env: dict[str, str]
) -> None:
    path = write(tmp_path, "crm.csv", CRM)
    result = invoke(runner, "upsert", str(path), env=served_env)
    assert result.exit_code == 2
    assert "'Customer Id' looks like an id" in result.stderr
    assert '--map "Customer Id=external_id"' in result.stderr
    assert "mapping=" not in result.stderr
    assert served.sandbox.users == {}
    with pytest.raises(ValidationError, match=r"mapping=\{'Customer Id': 'external_id'\}"):
        sf.upsert(sf.read_file(path), dry_run=True)


def test_cli_messages_name_flags_and_commands(
    runner: CliRunner, tmp_path: Path, served: Served, served_env: dict[str, str]
) -> None:
    dupes = write(tmp_path, "dupes.csv", "external_id,plan\nx,pro\nx,free\n")
    result = invoke(runner, "upsert", str(dupes), env=served_env)
    assert "keep one (--duplicates first" in result.stdout
    assert "lines 2, 3" in result.stdout  # file lines, not 0-based labels
    national = write(tmp_path, "national.csv", "external_id,phone\nx,0491 570 156\n")
    reject = invoke(
        runner, "upsert", str(national), "--invalid-fields", "reject", "--preview", "1",
        env=served_env,
    )  # fmt: skip
    assert "pass --default-region to read national numbers" in reject.stdout
    draft = next(c for c, v in sorted(served.sandbox.campaigns.items()) if v["state"] == "draft")
    good = write(tmp_path, "good.csv", "external_id\nx\n")
    refused = invoke(runner, "trigger-campaign", str(draft), str(good), env=served_env)
    assert refused.exit_code == 2
    assert f"Promote it with spotzee-frames schedule-campaign {draft}" in refused.stderr
    promoted = invoke(runner, "schedule-campaign", str(draft), env=served_env)
    assert promoted.exit_code == 0 and "scheduled" in promoted.stdout
    assert served.sandbox.campaigns[draft]["state"] == "scheduled"
    sent = invoke(runner, "trigger-campaign", str(draft), str(good), env=served_env)
    assert sent.exit_code == 0, sent.output
    spaced = write(tmp_path, "spaced.csv", "external_id,Plan Type\nx,pro\n")
    where = invoke(
        runner, "trigger-campaign", "1", str(spaced), "--where", "Plan Type == 'pro'",
        env=served_env,
    )  # fmt: skip
    assert where.exit_code == 2
    assert "goes between backticks: --where \"`Plan Type` == 'pro'\"" in where.stderr
    too_many = invoke(
        runner, "trigger-campaign", "1", str(dupes), "--max-recipients", "1", env=served_env
    )
    assert "--max-recipients 2" in too_many.stderr and "max_recipients=" not in too_many.stderr
    # Python callers are told in Python.
    with pytest.raises(sf.TargetStateError, match=r"spotzee_frames.schedule_campaign\(\d+\)"):
        other = next(
            c for c, v in sorted(served.sandbox.campaigns.items()) if v["state"] == "draft"
        )
        sf.trigger_campaign(pd.DataFrame({"external_id": ["x"]}), other, client=served.client)


# -- 7. set-up: the sample file ---------------------------------------------------------------


def test_demo_writes_the_sample_the_readme_commands_use(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    wrote = invoke(runner, "demo", "--write-sample", "contacts.csv")
    assert wrote.exit_code == 0 and "contacts.csv" in wrote.stderr
    assert sf.read_file("contacts.csv")["external_id"].tolist() == (
        sf.sample_contacts()["external_id"].tolist()
    )
    upsert = invoke(
        runner, "--sandbox", "upsert", "contacts.csv", "--default-region", "AU",
        "--report", "errors.csv",
    )  # fmt: skip
    assert upsert.exit_code == 1 and upsert.stdout.startswith("Upsert: 200 rows")
    assert Path("errors.csv").exists()


def test_the_cli_shows_a_numeric_id_warning_as_one_line(
    runner: CliRunner, tmp_path: Path, served: Served, served_env: dict[str, str]
) -> None:
    """A Parquet file whose ids are floats (a column that had blanks): the file itself holds
    numbers, so the CLI says so once, in its own words, and sends what it can."""
    path = tmp_path / "floats.parquet"
    pd.DataFrame({"external_id": [17.0, None, 18.0]}).to_parquet(path)
    result = invoke(runner, "upsert", str(path), env=served_env)
    assert result.exit_code == 1, result.output  # the row without an id
    lines = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1 and "external_id comes from column 'external_id'" in lines[0]
    assert "store the ids as text in the file" in lines[0] and "pd.read_csv" not in lines[0]
    assert "Traceback" not in result.stderr and "_warnings.py" not in result.stderr
    assert set(served.sandbox.users) == {"17", "18"}
