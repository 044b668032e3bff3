"""`spotzee-frames salesforce …`: one TOML configuration, Salesforce from the environment
(the fake served over HTTPS, trusted through REQUESTS_CA_BUNDLE as a real deployment would
trust a corporate CA) or exported files, Spotzee from SPOTZEE_API_KEY or --sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner, Result

import spotzee_frames.salesforce as sf_package
from spotzee_frames._cli import cli
from spotzee_frames.sandbox.salesforce import FakeSalesforce, ServedSalesforce

from .conftest import Served

CONFIG = """
[integration]
id = "acme"
objects = ["Lead"]
state = "acme.sfstate"
subscription_id = 1
retry_attempts = 2
retry_backoff = 0

[rules]
Lead = [["LeadSource", "equals", "Web"]]

[mappings.Lead]
Company = "data.company"
Rating = ["data.rating", "number"]
"""


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "acme.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def endpoint() -> Iterator[tuple[FakeSalesforce, ServedSalesforce]]:
    fake = FakeSalesforce()
    fake.add_leads(30, LeadSource="Web")
    fake.add_leads(5, LeadSource="Other")
    with fake.serve() as served:
        yield fake, served


def environment(served: ServedSalesforce, spotzee: Served) -> dict[str, str]:
    return {
        "SALESFORCE_INSTANCE_URL": served.instance_url,
        "SALESFORCE_ACCESS_TOKEN": served.access_token,
        "REQUESTS_CA_BUNDLE": served.ca_file,
        "SPOTZEE_API_KEY": "sk_test_cli",
        "SPOTZEE_BASE_URL": spotzee.base_url,
    }


def test_sync_status_log_preview_and_health_from_a_shell(
    config: Path, endpoint: tuple[FakeSalesforce, ServedSalesforce], served: Served
) -> None:
    fake, tls = endpoint
    env = environment(tls, served)

    preview = invoke("salesforce", "preview", str(config), env=env)
    assert preview.exit_code == 0, preview.output
    assert "30" in preview.output and "LeadSource = 'Web'" in preview.output

    result = invoke("salesforce", "sync", str(config), "--no-progress", env=env)
    assert result.exit_code == 0, result.output
    assert "imported" in result.stdout and "status: Active" in result.stderr
    assert len(served.sandbox.users) == 30
    assert tls.access_token not in result.output

    status = invoke("salesforce", "status", str(config), env=env)
    assert status.stdout.splitlines()[0] == "acme: Active"
    assert "Lead: synced up to 2026-05-01 09:00:00+00:00" in status.stdout

    log = invoke("salesforce", "log", str(config), "--format", "json", env=env)
    assert [e["event"] for e in json.loads(log.stdout)] == [
        "sync_started", "records_imported", "sync_completed",
    ]  # fmt: skip

    health = invoke("salesforce", "health", str(config), env=env)
    assert health.exit_code == 0, health.output
    fake.expire_session()
    again = invoke("salesforce", "sync", str(config), "--no-progress", env=env)
    assert again.exit_code == 2
    assert "expired or is not valid" in again.stderr and "Traceback" not in again.output
    assert invoke("salesforce", "health", str(config), env=env).exit_code == 1


def test_sync_of_exported_files_with_a_report(config: Path, tmp_path: Path) -> None:
    pd.DataFrame(
        {
            "Id": ["00Q5g000000000A", "00Q5g000000000B", "00Q5g000000000C"],
            "Email": ["a@example.com", "not-an-email", "c@example.com"],
            "LastName": ["A", "B", "C"],
            "LeadSource": ["web", "Web", "Other"],
            "Rating": ["Hot", "5", "1"],
            "Company": ["Acme", "Globex", "Initech"],
            "HasOptedOutOfEmail": ["false", "true", "false"],
            "LastModifiedDate": ["2026-05-01T09:00:00.000+0000"] * 3,
        }
    ).to_csv(tmp_path / "leads.csv", index=False)
    config.write_text(CONFIG + '\n[source]\nLead = "leads.csv"\n', encoding="utf-8")
    report = tmp_path / "problems.csv"

    result = invoke("salesforce", "sync", str(config), "--sandbox", "--report", str(report))

    assert result.exit_code == 1, result.output  # one record could not sync
    rows = pd.read_csv(report)
    assert list(rows["status"]) == ["invalid"]
    assert rows.loc[0, "error_field"] == "Email"
    assert "1 record(s) written" in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[integration]\nid = 'acme'\n", "needs objects"),
        (CONFIG.replace('"equals"', '"is"'), "unknown operator 'is'"),
        (CONFIG + "\n[extra]\n", "unknown table(s) extra"),
        ("[integration\n", "cannot read"),
    ],
)
def test_configuration_problems_exit_2(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    result = invoke("salesforce", "status", str(path))
    assert result.exit_code == 2
    assert message in result.stderr


def test_the_salesforce_namespace_is_pinned() -> None:
    assert sf_package.__all__ == [
        "DEFAULT_MAPPINGS", "LOG_EVENTS", "OPERATORS", "RESULT_COLUMNS", "RESULT_STATUSES",
        "SPOTZEE_TYPES", "STATUSES", "TYPE_OF", "Integration", "IntegrationStateError",
        "SalesforceError", "SalesforceSessionError", "connect", "external_id",
    ]  # fmt: skip
    for name in sf_package.__all__:
        assert getattr(sf_package, name) is not None


def test_connect_reads_a_password_login_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeSalesforce()
    fake.add_login("ana@example.com", "pw-test", "tok-test")
    env = {"SALESFORCE_USERNAME": "ana@example.com", "SALESFORCE_PASSWORD": "pw-test"}
    for name, value in {**env, "SALESFORCE_SECURITY_TOKEN": "tok-test"}.items():
        monkeypatch.setenv(name, value)
    session: Any = sf_package.connect(session=fake.session())
    assert session.query("SELECT COUNT() FROM Lead")["totalSize"] == 0
    monkeypatch.setenv("SALESFORCE_SECURITY_TOKEN", "wrong")
    with pytest.raises(sf_package.SalesforceSessionError, match="refused the login") as caught:
        sf_package.connect(session=fake.session())
    assert "pw-test" not in str(caught.value)
    for name in ("SALESFORCE_USERNAME", "SALESFORCE_PASSWORD", "SALESFORCE_SECURITY_TOKEN"):
        monkeypatch.delenv(name)
    with pytest.raises(Exception, match="SALESFORCE_INSTANCE_URL and SALESFORCE_ACCESS_TOKEN"):
        sf_package.connect()
