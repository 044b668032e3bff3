"""The `spotzee-frames` command line: every command, its exit codes, report files, help,
where the key comes from, and that data goes to stdout while errors go to stderr.

Commands run through click's CliRunner against the embedded sandbox (`--sandbox`) or the
sandbox served on 127.0.0.1 (through SPOTZEE_API_KEY / SPOTZEE_BASE_URL, like a real
deployment); a few run the installed entry point as a real subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from click.testing import CliRunner

from spotzee_frames import Interrupted

from .conftest import Served, invoke

SECRET = "sk_live_do_not_print_me_0123456789"

CONTACTS = pd.DataFrame(
    {
        "external_id": ["1001", "1002", "1003", "1004", None],
        "email": [
            "ada@example.com",
            " Grace.Hopper@Example.COM ",
            "bob@@example.com",
            "linus@example.org",
            "nobody@example.com",
        ],
        "phone": ["+61491570156", "+61 491 570 157", None, "+61491570006", None],
        "first_name": ["Ada", "Grace", "Bob", "Linus", "Nobody"],
        "plan": ["pro", "enterprise", "free", "enterprise", "pro"],
    }
)
GOOD = CONTACTS.iloc[[0, 1, 3]].reset_index(drop=True)


@pytest.fixture
def mixed_csv(tmp_path: Path) -> Path:
    path = tmp_path / "contacts.csv"
    CONTACTS.to_csv(path, index=False)
    return path


@pytest.fixture
def good_csv(tmp_path: Path) -> Path:
    path = tmp_path / "good.csv"
    GOOD.to_csv(path, index=False)
    return path


def users_in(served: Served) -> dict[str, dict[str, object]]:
    return {u["external_id"]: u for u in served.client.paginate("/users")}


def sends_of(served: Served, campaign_id: int) -> list[dict[str, object]]:
    params = {
        "from": "2000-01-01T00:00:00Z",
        "to": "2100-01-01T00:00:00Z",
        "campaign_id": campaign_id,
        "event_name": "campaign.sent",
    }
    return list(served.client.paginate("/events", params))


# -- help ----------------------------------------------------------------------------------

COMMANDS = ["upsert", "campaigns", "journeys", "trigger-campaign", "trigger-journey", "demo"]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_command_has_help(runner: CliRunner, command: str | None) -> None:
    args = [command, "--help"] if command else ["--help"]
    result = invoke(runner, *[a for a in args if a])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: ")
    assert "SPOTZEE_API_KEY" in result.stdout
    assert result.stderr == ""


def test_sandbox_command_help(runner: CliRunner) -> None:
    result = invoke(runner, "sandbox", "--help")
    assert result.exit_code == 0, result.output
    assert "--port" in result.stdout


def test_group_help_lists_commands_and_exit_codes(runner: CliRunner) -> None:
    text = invoke(runner, "--help").stdout
    for command in [*COMMANDS, "sandbox"]:
        assert command in text
    assert "Exit codes" in text and "--sandbox" in text


def test_version(runner: CliRunner) -> None:
    from spotzee_frames import __version__

    result = invoke(runner, "--version")
    assert result.exit_code == 0 and __version__ in result.stdout


def test_unknown_command_and_bad_option_exit_2(runner: CliRunner, good_csv: Path) -> None:
    assert invoke(runner, "frobnicate").exit_code == 2
    result = invoke(runner, "upsert", str(good_csv), "--mode", "sideways", "--sandbox")
    assert result.exit_code == 2
    assert "sideways" in result.stderr and result.stdout == ""


# -- the key ---------------------------------------------------------------------------------


def test_no_key_is_a_configuration_error(runner: CliRunner, good_csv: Path) -> None:
    for args in (["upsert", str(good_csv)], ["campaigns"], ["journeys"]):
        result = invoke(runner, *args)
        assert result.exit_code == 2, result.output
        assert "SPOTZEE_API_KEY" in result.stderr and "--sandbox" in result.stderr
        assert result.stdout == ""
        assert "Traceback" not in result.output


def test_the_key_is_never_an_option(runner: CliRunner) -> None:
    for option in ("--api-key", "--key", "--token"):
        result = invoke(runner, option, SECRET, "campaigns")
        assert result.exit_code == 2
        assert "No such option" in result.stderr
    for command in ["--help", *[f"{c} --help" for c in COMMANDS]]:
        text = invoke(runner, *command.split()).stdout
        assert "--api-key" not in text and "--key " not in text


def test_key_from_the_environment_reaches_the_api(
    runner: CliRunner, good_csv: Path, served: Served, served_env: dict[str, str]
) -> None:
    result = invoke(runner, "upsert", str(good_csv), env=served_env)
    assert result.exit_code == 0, result.output
    assert set(users_in(served)) == {"1001", "1002", "1004"}


def test_the_key_never_appears_in_any_output(runner: CliRunner, good_csv: Path) -> None:
    # Plain http to a host that is not loopback: refused before anything is sent.
    env = {"SPOTZEE_API_KEY": SECRET, "SPOTZEE_BASE_URL": "http://api.example.com/api/client"}
    result = invoke(runner, "upsert", str(good_csv), env=env)
    assert result.exit_code == 2
    assert "http" in result.stderr
    # A publishable key: refused for anything but events, before sending.
    pk = "pk_live_do_not_print_me_0123456789"
    listing = invoke(runner, "campaigns", env={"SPOTZEE_API_KEY": pk})
    assert listing.exit_code == 2 and "pk_" in listing.stderr
    for output in (result.output, listing.output):
        assert SECRET not in output and pk not in output
        assert "do_not_print" not in output


# -- upsert ----------------------------------------------------------------------------------


def test_upsert_all_good_exits_0_with_the_summary_on_stdout(
    runner: CliRunner, good_csv: Path
) -> None:
    result = invoke(runner, "--sandbox", "upsert", str(good_csv))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Upsert: 3 rows — 3 upserted")
    assert result.stderr == ""  # no progress bar: stderr is not a terminal


def test_upsert_with_failed_rows_exits_1_and_writes_a_csv_report(
    runner: CliRunner, mixed_csv: Path, tmp_path: Path
) -> None:
    report = tmp_path / "errors.csv"
    result = invoke(runner, "upsert", str(mixed_csv), "--report", str(report), "--sandbox")
    assert result.exit_code == 1, result.output
    # The bad email is left out (invalid_fields="omit"): Bob is upserted without it.
    assert "4 upserted, 1 invalid" in result.stdout
    assert "Rows sent without a field (1)" in result.stdout
    assert "email" in result.stdout and "external_id" in result.stdout
    assert "report: 1 row(s) not sent and 1 sent without a field" in result.stderr
    assert "Upsert:" not in result.stderr
    rows = pd.read_csv(report, dtype=str, keep_default_na=False)
    # File lines (the header is line 1), not 0-based labels.
    assert rows["line"].tolist() == ["4", "6"]
    assert rows["status"].tolist() == ["upserted", "invalid"]
    assert rows["error_field"].tolist() == ["", "external_id"]
    assert rows["warning_field"].tolist() == ["email", ""]
    assert "sent without email" in rows.loc[0, "warning_message"]
    assert rows.loc[0, "email"] == "bob@@example.com"  # the source columns, as read
    assert rows.loc[1, "first_name"] == "Nobody"
    assert {"error_code", "error_message", "plan", "phone"} <= set(rows.columns)
    rejected = invoke(runner, "--sandbox", "upsert", str(mixed_csv), "--invalid-fields", "reject")
    assert "3 upserted, 2 invalid" in rejected.stdout
    # the result's normalised external_id does not shadow the source column
    assert "spotzee_external_id" not in rows.columns or "external_id" in rows.columns


def test_parquet_report_and_parquet_and_jsonl_input(runner: CliRunner, tmp_path: Path) -> None:
    parquet_in = tmp_path / "contacts.parquet"
    CONTACTS.to_parquet(parquet_in, index=False)
    jsonl_in = tmp_path / "contacts.jsonl"
    CONTACTS.to_json(jsonl_in, orient="records", lines=True)
    for source in (parquet_in, jsonl_in):
        report = tmp_path / f"errors-{source.suffix[1:]}.parquet"
        result = invoke(runner, "--sandbox", "upsert", str(source), "--report", str(report))
        assert result.exit_code == 1, result.output
        rows = pd.read_parquet(report)
        assert rows["status"].tolist() == ["upserted", "invalid"]  # Bob: without his email
        assert rows["email"].tolist()[0] == "bob@@example.com"
        assert rows["warning_field"].tolist()[0] == "email"


def test_report_path_and_input_format_are_checked_before_sending(
    runner: CliRunner, mixed_csv: Path, tmp_path: Path, served: Served, served_env: dict[str, str]
) -> None:
    bad_report = invoke(runner, "upsert", str(mixed_csv), "--report", "errors.xlsx", env=served_env)
    assert bad_report.exit_code == 2 and ".csv or .parquet" in bad_report.stderr
    odd = tmp_path / "contacts.docx"
    odd.write_text("not really")
    unknown = invoke(runner, "upsert", str(odd), env=served_env)
    assert unknown.exit_code == 2 and ".parquet" in unknown.stderr and ".xlsx" in unknown.stderr
    fake = tmp_path / "contacts.xlsx"
    fake.write_text("not really a workbook")
    not_a_book = invoke(runner, "upsert", str(fake), env=served_env)
    assert not_a_book.exit_code == 2 and "cannot read" in not_a_book.stderr
    missing = invoke(runner, "upsert", str(tmp_path / "nope.csv"), env=served_env)
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    unreadable = invoke(runner, "upsert", str(broken), env=served_env)
    assert unreadable.exit_code == 2 and "cannot read" in unreadable.stderr
    assert users_in(served) == {}


def test_mapping_options(
    runner: CliRunner, tmp_path: Path, served: Served, served_env: dict[str, str]
) -> None:
    crm = GOOD.rename(columns={"external_id": "customer_id", "email": "work_email"})
    path = tmp_path / "crm.csv"
    crm.to_csv(path, index=False)
    result = invoke(
        runner,
        "upsert",
        str(path),
        "--map",
        "customer_id=external_id",
        "--map",
        "work_email=email",
        "--map",
        "plan=",
        env=served_env,
    )
    assert result.exit_code == 0, result.output
    stored = users_in(served)
    assert stored["1002"]["email"] == "Grace.Hopper@example.com"
    assert "plan" not in stored["1002"]["data"] and stored["1002"]["data"]["first_name"] == "Grace"

    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"customer_id": "external_id", "work_email": "email"}))
    assert (
        invoke(runner, "--sandbox", "upsert", str(path), "--mapping", str(mapping)).exit_code == 0
    )

    typo = invoke(runner, "--sandbox", "upsert", str(path), "--map", "work_email=emial")
    assert typo.exit_code == 2 and "emial" in typo.stderr and "'email'" in typo.stderr
    malformed = invoke(runner, "--sandbox", "upsert", str(path), "--map", "work_email")
    assert malformed.exit_code == 2 and "COLUMN=FIELD" in malformed.stderr
    mapping.write_text("[1, 2]")
    bad_file = invoke(runner, "--sandbox", "upsert", str(path), "--mapping", str(mapping))
    assert bad_file.exit_code == 2 and "JSON object" in bad_file.stderr


def test_leading_zeros_and_ids_survive_the_csv(
    runner: CliRunner, tmp_path: Path, served: Served, served_env: dict[str, str]
) -> None:
    path = tmp_path / "zeros.csv"
    path.write_text("external_id,phone,postcode,note\n007,0491 570 158,0800,NA\n", encoding="utf-8")
    result = invoke(runner, "upsert", str(path), "--default-region", "AU", env=served_env)
    assert result.exit_code == 0, result.output
    user = users_in(served)["007"]
    assert user["phone"] == "+61491570158"
    assert user["data"]["note"] == "NA"  # only empty cells are missing


def test_dry_run_sends_nothing(
    runner: CliRunner, mixed_csv: Path, good_csv: Path, served: Served, served_env: dict[str, str]
) -> None:
    bad = invoke(runner, "upsert", str(mixed_csv), "--dry-run", env=served_env)
    assert bad.exit_code == 1
    assert "dry run" in bad.stdout and "4 valid, 1 invalid" in bad.stdout
    assert "Rows that would be sent without a field (1)" in bad.stdout
    good = invoke(runner, "upsert", str(good_csv), "--dry-run", env=served_env)
    assert good.exit_code == 0
    assert users_in(served) == {}


def test_preview_prints_payloads_beside_source_rows(runner: CliRunner, mixed_csv: Path) -> None:
    result = invoke(runner, "--sandbox", "upsert", str(mixed_csv), "--dry-run", "--preview", "3")
    assert result.exit_code == 1
    text = result.stdout
    # Rows are named by their line in the file: the header is line 1.
    assert text.index("line 2:") < text.index("line 4:") < text.index("Upsert: 5 rows")
    assert '"email": "Grace.Hopper@example.com"' in text  # normalised, as it would be sent
    assert "warning: email: 'bob@@example.com' is not a valid email" in text
    assert "line 5:" not in text
    strict = invoke(
        runner,
        *("--sandbox", "upsert", str(mixed_csv), "--dry-run", "--preview", "3"),
        *("--invalid-fields", "reject"),
    )
    assert "line 4:\n" in strict.stdout and "not sent (invalid)" in strict.stdout


def test_async_mode_and_nulls(runner: CliRunner, good_csv: Path) -> None:
    result = invoke(
        runner, "--sandbox", "upsert", str(good_csv), "--mode", "async", "--nulls", "clear"
    )
    assert result.exit_code == 0, result.output
    assert "3 queued" in result.stdout


def test_rerunning_the_same_file_is_safe(
    runner: CliRunner, good_csv: Path, served: Served, served_env: dict[str, str]
) -> None:
    for _ in range(2):
        assert invoke(runner, "upsert", str(good_csv), env=served_env).exit_code == 0
    assert len(users_in(served)) == 3


def test_forced_progress_goes_to_stderr_only(runner: CliRunner, good_csv: Path) -> None:
    result = invoke(runner, "--sandbox", "upsert", str(good_csv), "--progress")
    assert result.exit_code == 0
    assert "3/3 rows" in result.stderr
    assert "rows [" not in result.stdout


def test_interrupted_run_writes_the_partial_report_and_exits_130(
    runner: CliRunner, mixed_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spotzee_frames import _upsert

    real = _upsert.upsert

    def stopped_halfway(frame: pd.DataFrame, *args: object, **kwargs: object) -> pd.DataFrame:
        partial = real(frame, *args, **kwargs)
        partial.loc[partial.index[3:], "status"] = "interrupted"
        raise Interrupted("stopped", result=partial)

    monkeypatch.setattr(_upsert, "upsert", stopped_halfway)
    report = tmp_path / "partial.csv"
    result = invoke(runner, "--sandbox", "upsert", str(mixed_csv), "--report", str(report))
    assert result.exit_code == 130
    assert "interrupted" in result.stderr
    # Bob, sent without his email, then the two rows the stop left without an outcome.
    assert pd.read_csv(report)["status"].tolist() == ["upserted", "interrupted", "interrupted"]


def test_ctrl_c_outside_a_run_exits_130_not_1(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spotzee_frames import _listing

    def pressed_ctrl_c(**_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_listing, "campaigns", pressed_ctrl_c)
    result = invoke(runner, "--sandbox", "campaigns")
    assert result.exit_code == 130 and result.stderr == "interrupted\n"


# -- listings ----------------------------------------------------------------------------------


def test_campaigns_as_table_csv_and_json(runner: CliRunner) -> None:
    table = invoke(runner, "--sandbox", "campaigns")
    assert table.exit_code == 0 and table.stderr == ""
    header = table.stdout.splitlines()[0].split()
    assert header[:5] == ["id", "name", "type", "channel", "state"]
    assert "Welcome email" in table.stdout and "draft" in table.stdout

    as_csv = invoke(runner, "campaigns", "--format", "csv", "--sandbox")
    frame = pd.read_csv(pd.io.common.StringIO(as_csv.stdout))
    assert len(frame) == 15 and {"id", "state", "delivery_sent", "tags"} <= set(frame.columns)
    assert isinstance(json.loads(frame.loc[0, "tags"]), list)  # lists as JSON text

    as_json = invoke(runner, "--sandbox", "campaigns", "--format", "json")
    records = json.loads(as_json.stdout)
    assert sorted(r["id"] for r in records) == list(range(1, 16))
    assert all(isinstance(r["tags"], list) for r in records)


def test_journeys_and_search(runner: CliRunner) -> None:
    table = invoke(runner, "--sandbox", "journeys")
    assert table.exit_code == 0
    assert "Onboarding" in table.stdout and "live" in table.stdout
    records = json.loads(invoke(runner, "--sandbox", "journeys", "--format", "json").stdout)
    assert {r["status"] for r in records} == {"draft", "live", "off"}
    found = invoke(runner, "--sandbox", "campaigns", "--search", "welcome", "--format", "json")
    assert [r["name"] for r in json.loads(found.stdout)] == ["Welcome email"]


# -- triggers ----------------------------------------------------------------------------------


def test_trigger_campaign_for_a_filtered_slice(
    runner: CliRunner, mixed_csv: Path, served: Served, served_env: dict[str, str]
) -> None:
    args = [
        "trigger-campaign",
        "1",
        str(mixed_csv),
        "--where",
        "plan == 'enterprise'",
        "--event-columns",
        "plan",
        "--attributes",
        "first_name",
    ]
    result = invoke(runner, *args, env=served_env)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Trigger: 2 rows — 2 triggered")
    sends = sends_of(served, 1)
    assert sorted(s["user"]["external_id"] for s in sends) == ["1002", "1004"]
    # the same command again replays: nobody is sent to twice
    again = invoke(runner, *args, env=served_env)
    assert again.exit_code == 0 and "2 replayed" in again.stdout
    assert len(sends_of(served, 1)) == 2
    # a new --send-id sends again, on purpose
    third = invoke(runner, *args, "--send-id", "second-wave", env=served_env)
    assert third.exit_code == 0
    assert len(sends_of(served, 1)) == 4


def test_trigger_rows_without_an_id_exit_1_with_a_report(
    runner: CliRunner, mixed_csv: Path, tmp_path: Path
) -> None:
    report = tmp_path / "trigger-errors.csv"
    result = invoke(
        runner, "--sandbox", "trigger-campaign", "1", str(mixed_csv), "--report", str(report)
    )
    assert result.exit_code == 1, result.output
    rows = pd.read_csv(report)
    assert rows["line"].tolist() == [4, 6] and rows["status"].tolist() == ["invalid", "invalid"]
    assert rows["error_field"].tolist() == ["email", "external_id"]


def test_trigger_refusals_exit_2_and_send_nothing(
    runner: CliRunner, good_csv: Path, served: Served, served_env: dict[str, str]
) -> None:
    draft = invoke(runner, "trigger-campaign", "5", str(good_csv), env=served_env)
    assert draft.exit_code == 2 and "draft" in draft.stderr
    assert draft.stdout == "" and "Traceback" not in draft.output
    blast = invoke(runner, "trigger-campaign", "6", str(good_csv), env=served_env)
    assert blast.exit_code == 2 and "blast" in blast.stderr
    unknown = invoke(runner, "trigger-campaign", "999", str(good_csv), env=served_env)
    assert unknown.exit_code == 2 and "404" in unknown.stderr
    guard = invoke(
        runner, "trigger-campaign", "1", str(good_csv), "--max-recipients", "2", env=served_env
    )
    assert guard.exit_code == 2 and "max_recipients" in guard.stderr.replace("-", "_")
    where = invoke(
        runner, "trigger-campaign", "1", str(good_csv), "--where", "plan ==", env=served_env
    )
    assert where.exit_code == 2 and "--where" in where.stderr
    column = invoke(
        runner, "trigger-campaign", "1", str(good_csv), "--attributes", "nope", env=served_env
    )
    assert column.exit_code == 2 and "nope" in column.stderr
    assert sends_of(served, 1) == [] and users_in(served) == {}


def test_trigger_dry_run(
    runner: CliRunner, good_csv: Path, served: Served, served_env: dict[str, str]
) -> None:
    result = invoke(runner, "trigger-campaign", "1", str(good_csv), "--dry-run", env=served_env)
    assert result.exit_code == 0, result.output
    assert "3 valid" in result.stdout
    assert sends_of(served, 1) == []


def test_trigger_journey(runner: CliRunner, good_csv: Path) -> None:
    ok = invoke(runner, "--sandbox", "trigger-journey", "1", str(good_csv), "--entrance-id", "101")
    assert ok.exit_code == 0, ok.output
    assert "3 triggered" in ok.stdout
    missing = invoke(runner, "--sandbox", "trigger-journey", "1", str(good_csv))
    assert missing.exit_code == 2 and "--entrance-id" in missing.stderr
    not_live = invoke(
        runner, "--sandbox", "trigger-journey", "3", str(good_csv), "--entrance-id", "301"
    )
    assert not_live.exit_code == 2 and "draft" in not_live.stderr


# -- real processes -------------------------------------------------------------------------


def entry_point() -> str:
    found = shutil.which("spotzee-frames", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("the spotzee-frames entry point is not installed next to this Python")
    return found


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOTZEE_")}
    env.update(extra)
    return env


def test_installed_entry_point_exit_codes_and_streams(mixed_csv: Path, tmp_path: Path) -> None:
    report = tmp_path / "errors.parquet"
    run = subprocess.run(
        [entry_point(), "--sandbox", "upsert", str(mixed_csv), "--report", str(report)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert run.returncode == 1, run.stderr
    assert run.stdout.startswith("Upsert: 5 rows — 4 upserted, 1 invalid")
    assert run.stderr.startswith("report: 1 row(s) not sent and 1 sent without a field")
    assert len(pd.read_parquet(report)) == 2

    no_key = subprocess.run(
        [entry_point(), "campaigns"], capture_output=True, text=True, env=clean_env(), timeout=60
    )
    assert no_key.returncode == 2
    assert no_key.stdout == "" and "SPOTZEE_API_KEY" in no_key.stderr
    assert "Traceback" not in no_key.stderr and len(no_key.stderr.splitlines()) == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sandbox_process() -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    proc = subprocess.Popen(
        [entry_point(), "sandbox", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        yield proc, port
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=10)  # also closes the pipes
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate(timeout=10)


def test_sandbox_command_serves_the_api(
    sandbox_process: tuple[subprocess.Popen[str], int], good_csv: Path
) -> None:
    proc, port = sandbox_process
    base = f"http://127.0.0.1:{port}/api/client"
    deadline = time.monotonic() + 30
    while True:
        try:
            reply = httpx.get(
                f"{base}/campaigns",
                headers={"Authorization": "Bearer sk_test_x", "Spotzee-Version": "2026-04-28"},
            )
            break
        except httpx.TransportError:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the sandbox did not start"
            time.sleep(0.1)
    assert reply.status_code == 200 and reply.json()["results"]
    run = subprocess.run(
        [entry_point(), "upsert", str(good_csv)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(SPOTZEE_API_KEY="sk_test_x", SPOTZEE_BASE_URL=base),
    )
    assert run.returncode == 0, run.stderr
    assert "3 upserted" in run.stdout


def test_spreadsheet_exports_are_read_as_written(runner: CliRunner, tmp_path: Path) -> None:
    # A UTF-8 file with a byte-order mark, CRLF line ends and capitalised headers.
    bom = tmp_path / "export.csv"
    bom.write_bytes(b"\xef\xbb\xbfExternal ID,Email\r\n7,ada@example.com\r\n")
    result = invoke(runner, "--sandbox", "upsert", str(bom), "--dry-run", "--preview", "1")
    assert result.exit_code == 0, result.output
    assert '"external_id": "7"' in result.output
    assert '"email": "ada@example.com"' in result.output

    # A Windows spreadsheet's cp1252 text: a clear usage error, then read with --encoding.
    latin = tmp_path / "latin.csv"
    latin.write_bytes("external_id,email,city\n8,b@example.com,Montréal\n".encode("cp1252"))
    refused = invoke(runner, "--sandbox", "upsert", str(latin), "--dry-run")
    assert refused.exit_code == 2
    assert "--encoding" in refused.stderr
    read = invoke(
        runner,
        "--sandbox",
        "upsert",
        str(latin),
        "--dry-run",
        "--preview",
        "1",
        "--encoding",
        "cp1252",
    )
    assert read.exit_code == 0, read.output
    assert "Montréal" in read.output
    unknown = invoke(runner, "--sandbox", "upsert", str(latin), "--encoding", "klingon")
    assert unknown.exit_code == 2
    assert "unknown --encoding" in unknown.stderr


def test_real_world_files_lose_nothing(
    runner: CliRunner, tmp_path: Path, served: Served, served_env: dict[str, str]
) -> None:
    """Trailing separators, leading zeros and long ids in data columns, blanks in whole
    numbers, semicolons, JSON arrays and lines, a BOM read as cp1252."""
    files = {
        # spreadsheets end rows with a separator: the columns must not shift
        "trailing.csv": "external_id,first_name,plan\nC1,Ann,pro,\nC2,Bob,free,\n",
        "numbers.csv": (
            "external_id,postcode,account,crm_id,visits,score,vip\n"
            "C3,0800,00123,123456789012345678,4,1.5,TRUE\n"
            "C4,2000,00124,,,2,false\n"
        ),
        "european.csv": "external_id;email;spend\nC5;e@example.com;1.234,56\n",
        "array.json": '[{"external_id": 123456789012345678, "n": 1}, {"external_id": null, '
        '"anonymous_id": "a6", "n": null}]',
        "lines.jsonl": '\ufeff{"external_id": "C7", "crm": "00777"}\n',
    }
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        # an 18-digit crm_id is beyond 2**53: a server reading doubles would round it, so
        # by default its row is held back (and said so); --big-ints string sends it exact
        if name == "numbers.csv":
            held = invoke(runner, "upsert", str(path), "--dry-run", env=served_env)
            assert held.exit_code == 1 and "is past 2**53" in held.output, held.output
            result = invoke(runner, "upsert", str(path), "--big-ints", "string", env=served_env)
        else:
            result = invoke(runner, "upsert", str(path), env=served_env)
        assert result.exit_code == 0, (name, result.output, result.stderr)
    users = users_in(served)
    assert users["C1"]["data"] == {"first_name": "Ann", "plan": "pro"}
    assert users["C3"]["data"] == {
        "postcode": "0800",
        "account": "00123",
        "crm_id": "123456789012345678",
        "visits": 4,
        "score": 1.5,
        "vip": True,
    }
    assert users["C4"]["data"] == {
        "postcode": "2000",
        "account": "00124",
        "score": 2.0,
        "vip": False,
    }
    assert users["C5"]["email"] == "e@example.com" and users["C5"]["data"] == {"spend": "1.234,56"}
    assert users["123456789012345678"]["data"] == {"n": 1}
    assert users["C7"]["data"] == {"crm": "00777"}
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfexternal_id,city\nC8,Paris\n")
    result = invoke(runner, "upsert", str(bom), "--encoding", "cp1252", env=served_env)
    assert result.exit_code == 0, result.output
    assert users_in(served)["C8"]["data"] == {"city": "Paris"}


def test_a_source_column_named_line_and_a_report_folder_that_is_missing(
    runner: CliRunner, tmp_path: Path
) -> None:
    source = tmp_path / "rows.csv"
    source.write_text("line,external_id,email\n1,,a@x.com\n2,b,b@example.com\n", encoding="utf-8")
    report = tmp_path / "report.csv"
    result = invoke(runner, "--sandbox", "upsert", str(source), "--report", str(report))
    assert result.exit_code == 1, result.output
    written = pd.read_csv(report, dtype=str)
    assert list(written.columns[:2]) == ["spotzee_line", "status"]
    assert written["line"].tolist() == ["1"] and written["spotzee_line"].tolist() == ["2"]
    missing = invoke(
        runner, "--sandbox", "upsert", str(source), "--report", str(tmp_path / "no" / "r.csv")
    )
    assert missing.exit_code == 2 and "does not exist" in missing.stderr


def test_main_turns_ctrl_c_anywhere_into_130(monkeypatch: pytest.MonkeyPatch) -> None:
    from spotzee_frames import _cli

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli.cli, "main", interrupted)
    with pytest.raises(SystemExit) as caught:
        _cli.main(["campaigns"])
    assert caught.value.code == 130
