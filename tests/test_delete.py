"""`delete`: users named by a frame are deleted in URL-bounded batches, guarded, with a dry
run that names exactly who would go; bad ids are rows; lost answers are retried (DELETE is
idempotent) — all asserted on what the sandbox received and deleted."""

from __future__ import annotations

from collections import Counter
from urllib.parse import parse_qs

import numpy as np
import pandas as pd
import pytest

import spotzee_frames as sf
from spotzee_frames import Client, Interrupted, ProgressEvent, ValidationError
from spotzee_frames._delete import URL_BUDGET, id_groups
from spotzee_frames.sandbox import Faults, Sandbox

from .conftest import FAST, Served


def deletes(sandbox: Sandbox) -> list[list[str]]:
    """The ids of each DELETE /users call the sandbox received."""
    return [
        parse_qs(r.query)["user_id"]
        for r in sandbox.requests
        if r.method == "DELETE" and r.path == "/users"
    ]


def test_the_named_users_are_deleted_and_no_one_else(client: Client, sandbox: Sandbox) -> None:
    sandbox.add_users(10)  # u1..u10
    frame = pd.DataFrame({"external_id": ["u2", "u5", "u5", "ghost", "u9"]}, index=list("abcde"))
    result = frame.spotzee.delete(client=client, progress=False)
    assert result.index.equals(frame.index)
    assert result.status.eq("queued").all()
    assert sorted(sandbox.users) == sorted(f"u{k}" for k in (1, 3, 4, 6, 7, 8, 10))
    assert sandbox.deletions == Counter({"u2": 1, "u5": 1, "u9": 1})
    assert deletes(sandbox) == [["u2", "u5", "ghost", "u9"]]  # u5 once, in frame order
    assert str(sf.summary(result)).startswith("Delete: 5 rows")


def test_a_dry_run_names_exactly_who_would_be_deleted(client: Client, sandbox: Sandbox) -> None:
    sandbox.add_users(3)
    frame = pd.DataFrame({"CustomerID": [1, 2, None, 2.5, 3]})
    result = sf.delete(
        frame.assign(CustomerID=frame.CustomerID.map(lambda v: v if v != v else f"u{v:g}")),
        mapping={"CustomerID": "external_id"},
        dry_run=True,
        client=client,
    )
    assert result.status.astype(str).tolist() == ["valid", "valid", "invalid", "valid", "valid"]
    assert result.external_id[result.status.eq("valid")].tolist() == ["u1", "u2", "u2.5", "u3"]
    assert sandbox.requests == [] and len(sandbox.users) == 3
    assert "dry run" in str(sf.summary(result))


def test_bad_ids_are_rows_not_a_crash(client: Client, sandbox: Sandbox) -> None:
    sandbox.add_users(2)
    frame = pd.DataFrame({"external_id": ["u1", None, "  ", True, 3.5, "x" * 7000, 2]})
    result = sf.delete(frame, client=client, progress=False)
    assert result.status.astype(str).tolist() == ["queued"] + ["invalid"] * 5 + ["queued"]
    assert result.error_code[1] == "parameter_missing" and result.error_code[3] == (
        "parameter_invalid_format"
    )
    assert "too long" in result.error_message[5]
    assert deletes(sandbox) == [["u1", "2"]]


def test_a_frame_without_ids_is_a_clear_error(client: Client, sandbox: Sandbox) -> None:
    with pytest.raises(ValidationError, match="no column gives external_id"):
        sf.delete(pd.DataFrame({"email": ["a@example.com"]}), client=client)
    with pytest.raises(ValidationError, match="max_users"):
        sf.delete(pd.DataFrame({"external_id": ["a"]}), max_users=0, client=client)
    assert sandbox.requests == []


def test_more_users_than_max_users_is_refused_but_a_dry_run_is_not(
    client: Client, sandbox: Sandbox
) -> None:
    sandbox.add_users(30)
    frame = pd.DataFrame({"external_id": [f"u{k}" for k in range(1, 31)] * 2})
    with pytest.raises(ValidationError, match=r"30 users.*max_users=25"):
        sf.delete(frame, max_users=25, client=client)
    assert sandbox.requests == [] and len(sandbox.users) == 30
    assert sf.delete(frame, max_users=25, dry_run=True).status.eq("valid").all()
    assert sf.delete(frame, max_users=30, client=client, progress=False).status.eq("queued").all()
    assert sandbox.users == {}
    assert sf.delete.__kwdefaults__["max_users"] <= 10_000


def test_calls_stay_under_the_url_budget_with_every_id_encoded(served: Served) -> None:
    sb = served.sandbox
    ids = [f"cust/{k} é&x=1+{'z' * (k % 40)}" for k in range(1500)]
    sf.upsert(pd.DataFrame({"external_id": ids[::7]}), client=served.client, progress=False)
    result = sf.delete(
        pd.DataFrame({"external_id": ids}), max_users=2000, client=served.client, progress=False
    )
    assert result.status.eq("queued").all()
    calls = [r for r in sb.requests if r.method == "DELETE"]
    assert len(calls) > 1
    assert all(len("/users?") + len(r.query) <= URL_BUDGET for r in calls)
    sent = [i for r in calls for i in parse_qs(r.query)["user_id"]]
    assert sorted(sent) == sorted(ids)  # each exactly once, decoded back as written
    assert result.batch.nunique() == len(calls)
    assert sb.users == {}
    assert sb.deletions == Counter(ids[::7])


def test_id_groups_fill_each_call_and_keep_the_order() -> None:
    ids = [f"id{k:05d}" for k in range(2000)]
    groups = id_groups(ids, budget=1000)
    assert [i for g in groups for i in g] == list(range(2000))
    sizes = [len("/users") + sum(1 + 8 + len(ids[i]) for i in g) for g in groups]
    assert max(sizes) <= 1000 and min(sizes[:-1]) > 1000 - 16  # full up to the last


def test_lost_answers_and_503s_are_retried_served(served: Served) -> None:
    sb = served.sandbox
    sb.add_users(300)
    sb.inject("drop", times=2, method="DELETE")
    sb.inject("503", times=2, method="DELETE")
    frame = pd.DataFrame({"external_id": [f"u{k}" for k in range(1, 301)]})
    result = sf.delete(frame, client=served.client, progress=False)
    assert result.status.eq("queued").all()
    assert result.attempts.max() > 1
    assert sb.users == {}
    assert set(sb.deletions) == set(frame.external_id)  # each deleted, retried or not


def test_failed_calls_are_rows_and_deleting_them_again_is_harmless(sandbox: Sandbox) -> None:
    sandbox.add_users(5)
    sandbox.inject("503", times=1, method="DELETE")
    with Client.sandbox(sandbox, **{**FAST, "max_attempts": 1}) as once:
        result = sf.delete(pd.DataFrame({"external_id": ["u1", "u2"]}), client=once)
    assert result.status.eq("failed").all()
    assert result.error_code.eq("service_unavailable").all()
    again = sf.delete(pd.DataFrame({"external_id": ["u1", "u2"]}), client=Client.sandbox(sandbox))
    assert again.status.eq("queued").all()
    assert sorted(sandbox.users) == ["u3", "u4", "u5"]


def test_interrupted_deletes_keep_what_was_done(sandbox: Sandbox) -> None:
    ids = [f"user-{k:04d}-" + "p" * 60 for k in range(800)]  # long ids: several calls
    sandbox.faults = Faults(latency=0.05)

    def stop(event: ProgressEvent) -> None:
        if event.done and not event.finished:
            raise KeyboardInterrupt

    with (
        Client.sandbox(sandbox, **{**FAST, "max_concurrency": 1}) as api,
        pytest.raises(Interrupted, match="harmless") as caught,
    ):
        sf.delete(pd.DataFrame({"external_id": ids}), client=api, progress=stop)
    partial = caught.value.result
    counts = partial.status.value_counts()
    assert counts["queued"] > 0 and counts["interrupted"] > 0
    assert np.all(partial.batch.notna())
