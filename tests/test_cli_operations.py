"""The CLI's track, delete, set-subscription, subscriptions, lists and tags commands,
against the sandbox served on 127.0.0.1 (SPOTZEE_API_KEY / SPOTZEE_BASE_URL, as a real
deployment) or embedded (--sandbox): exit codes, what reached the server, and delete's
refusal to act without a confirmation when no one can be asked."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from spotzee_frames import _cli
from spotzee_frames._cli import cli

from .conftest import Served


@pytest.fixture
def env(served: Served) -> dict[str, str]:
    return {"SPOTZEE_API_KEY": "sk_test_cli", "SPOTZEE_BASE_URL": served.base_url}


def run(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)


@pytest.fixture
def orders_csv(tmp_path: Path) -> Path:
    path = tmp_path / "orders.csv"
    pd.DataFrame(
        {
            "external_id": ["1001", "1002", "1003", ""],
            "order_id": ["0042", "0043", "0044", "0045"],
            "total": ["19.90", "5", "7.5", "1"],
            "created_at": [
                "2026-04-28T09:30:00+10:00",
                "2026-04-28T10:00:00+10:00",
                "2026-04-28 11:00:00",
                "2026-04-28T12:00:00Z",
            ],
        }
    ).to_csv(path, index=False)
    return path


@pytest.fixture
def users_csv(tmp_path: Path) -> Path:
    path = tmp_path / "erase.csv"
    pd.DataFrame({"CustomerID": ["u1", "u2", "u3"]}).to_csv(path, index=False)
    return path


def test_track_sends_events_and_a_rerun_replays(
    orders_csv: Path, served: Served, env: dict[str, str], tmp_path: Path
) -> None:
    report = tmp_path / "bad.csv"
    first = run(
        "track", str(orders_csv), "--name", "order_placed", "--report", str(report), env=env
    )
    assert first.exit_code == 1, first.output  # a naive time and a row without an id
    assert "2 queued, 2 invalid" in first.stdout
    stored = {e["data"]["order_id"]: e for e in served.sandbox.events}
    assert set(stored) == {"0042", "0043"}  # order ids stay text, as written
    assert stored["0042"]["data"]["total"] == 19.9
    assert pd.read_csv(report)["error_field"].tolist() == ["created_at", "external_id"]
    again = run("track", str(orders_csv), "--name", "order_placed", env=env)
    assert "replayed" in again.stdout
    assert len(served.sandbox.events) == 2


def test_track_refuses_naive_times_unless_the_zone_is_named(
    tmp_path: Path, served: Served, env: dict[str, str]
) -> None:
    path = tmp_path / "visits.csv"
    pd.DataFrame({"external_id": ["a", "b"], "created_at": ["2026-07-01 12:00", ""]}).to_csv(
        path, index=False
    )
    refused = run("track", str(path), "--name", "visit", env=env)
    assert refused.exit_code == 2 and "timezone" in refused.stderr
    assert served.sandbox.events == []
    ok = run("track", str(path), "--name", "visit", "--timezone", "Europe/London", env=env)
    assert ok.exit_code == 0, ok.output
    assert sorted(e["created_at"] for e in served.sandbox.events)[0] == "2026-07-01T11:00:00.000Z"


def test_delete_without_a_terminal_refuses_unless_told_yes(
    users_csv: Path, served: Served, env: dict[str, str]
) -> None:
    served.sandbox.add_users(4)
    refused = run("delete", str(users_csv), "--map", "CustomerID=external_id", env=env)
    assert refused.exit_code == 2
    assert "--yes" in refused.stderr and "Nothing was deleted" in refused.stderr
    assert len(served.sandbox.users) == 4
    dry = run("delete", str(users_csv), "--map", "CustomerID=external_id", "--dry-run", env=env)
    assert dry.exit_code == 0
    assert dry.stdout.splitlines()[-4:] == ["would delete 3 user(s):", "  u1", "  u2", "  u3"]
    assert len(served.sandbox.users) == 4
    guarded = run(
        "delete",
        str(users_csv),
        "--map",
        "CustomerID=external_id",
        "--yes",
        "--max-users",
        "2",
        env=env,
    )
    assert guarded.exit_code == 2 and "max_users=2" in guarded.stderr
    done = run("delete", str(users_csv), "--map", "CustomerID=external_id", "--yes", env=env)
    assert done.exit_code == 0 and "3 queued" in done.stdout
    assert list(served.sandbox.users) == ["u4"]


def test_delete_in_a_terminal_asks_first(
    users_csv: Path, served: Served, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    served.sandbox.add_users(4)
    monkeypatch.setattr(_cli, "_stdin_is_a_terminal", lambda: True)
    args = ("delete", str(users_csv), "--map", "CustomerID=external_id")
    declined = run(*args, env=env, input="n\n")
    assert declined.exit_code == 2 and "Delete 3 user(s)" in declined.stderr
    assert len(served.sandbox.users) == 4
    confirmed = run(*args, env=env, input="y\n")
    assert confirmed.exit_code == 0
    assert list(served.sandbox.users) == ["u4"]


def test_set_subscription_from_a_file(tmp_path: Path, served: Served, env: dict[str, str]) -> None:
    served.sandbox.add_users(3)
    path = tmp_path / "prefs.csv"
    pd.DataFrame({"external_id": ["u1", "u2", "u3"], "sms": ["true", "false", "2"]}).to_csv(
        path, index=False
    )
    result = run("set-subscription", "3", str(path), "--state-column", "sms", env=env)
    assert result.exit_code == 0, result.output
    assert [served.sandbox.subscription_states(u)[3] for u in ("u1", "u2", "u3")] == [1, 0, 2]
    off = run("set-subscription", "1", str(path), "--state", "unsubscribed", env=env)
    assert off.exit_code == 0 and "3 updated" in off.stdout
    assert served.sandbox.subscription_states("u2")[1] == 0
    unknown = run("set-subscription", "99", str(path), "--state", "0", env=env)
    assert unknown.exit_code == 2 and "subscription 99" in unknown.stderr


@pytest.mark.parametrize("command", ["subscriptions", "lists", "tags"])
def test_listings(command: str) -> None:
    table = run("--sandbox", command)
    assert table.exit_code == 0 and table.stdout.startswith("id  name")
    records = json.loads(run("--sandbox", command, "--format", "json").stdout)
    assert records and all("project_id" in r for r in records)
