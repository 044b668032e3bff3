"""The Salesforce integration as a user runs it: the real simple-salesforce against the fake
Salesforce REST API, and the toolkit against the sandbox, asserting on what Salesforce was
asked and what Spotzee stored."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
import simple_salesforce

from spotzee_frames import (
    Client,
    ConfigurationError,
    Interrupted,
    NotFoundError,
    ValidationError,
    salesforce,
)
from spotzee_frames.salesforce import (
    IntegrationStateError,
    SalesforceError,
    SalesforceSessionError,
)
from spotzee_frames.sandbox import Faults, Sandbox
from spotzee_frames.sandbox.salesforce import FakeSalesforce

from .conftest import FAST

FAST_SF = {"retry_attempts": 4, "retry_backoff": 0.0}


@pytest.fixture
def fake() -> FakeSalesforce:
    return FakeSalesforce()


@pytest.fixture
def sf(fake: FakeSalesforce) -> simple_salesforce.Salesforce:
    return fake.connect()


@pytest.fixture
def spotzee(sandbox: Sandbox) -> Iterator[Client]:
    c = Client.sandbox(sandbox, **FAST)
    yield c
    c.close()


def make(tmp_path: Path, name: str = "acme", **options: Any) -> salesforce.Integration:
    options.setdefault("objects", ["Lead"])
    return salesforce.Integration(name, state=tmp_path / f"{name}.sfstate", **FAST_SF, **options)


def counts(result: pd.DataFrame) -> dict[str, int]:
    return {k: int(v) for k, v in result["status"].value_counts().items() if v}


def subscription_state(client: Client, external_id: str, subscription_id: int) -> int:
    rows = client.get(f"/users/{external_id}/subscriptions")["results"]
    return next(r["state"] for r in rows if r["subscription_id"] == subscription_id)


# -- initial and incremental sync -------------------------------------------------------------


def test_initial_sync_pulls_every_page_with_rules_pushed_down(
    tmp_path: Path, fake: FakeSalesforce, sf: Any, sandbox: Sandbox, spotzee: Client
) -> None:
    web = fake.add_leads(2300, LeadSource="Web")
    fake.add_leads(40, LeadSource="Trade Show")
    fake.add_leads(5, LeadSource="Web", Email=None)
    acme = make(
        tmp_path,
        rules={"Lead": [("LeadSource", "equals", "WEB"), ("Email", "is_set")]},
        mappings={"Lead": {"Company": "data.company", "AnnualRevenue": "data.revenue"}},
    )
    assert acme.status == "Incomplete"
    preview = acme.preview(sf)
    assert preview.loc[0, "matched"] == 2300 and preview.loc[0, "mode"] == "initial"
    assert sandbox.stats["requests"] == 0  # a preview sends nothing

    result = acme.sync(sf, client=spotzee)

    assert counts(result) == {"imported": 2300}
    assert list(result.columns[:8]) == [
        "object",
        "salesforce_id",
        "external_id",
        "status",
        "error_code",
        "error_field",
        "error_message",
        "warnings",
    ]
    pull = fake.queries[-1]
    assert "WHERE (LeadSource = 'WEB' AND Email != null)" in pull  # filtered by Salesforce
    kinds = [r.kind for r in fake.requests]
    assert kinds.count("query_more") == 1  # 2,300 records: two pages of up to 2,000
    first = fake.record("Lead", web[0])
    user = sandbox.get_user(f"sf_acme_Lead_{web[0]}")
    assert user is not None
    assert user["email"] == first["Email"] and user["phone"] == first["Phone"]
    assert user["data"]["first_name"] == first["FirstName"]
    assert user["data"]["company"] == first["Company"]
    assert user["data"]["revenue"] == first["AnnualRevenue"]
    assert user["data"]["unsubscribed"] == first["HasOptedOutOfEmail"]
    assert len(sandbox.users) == 2300
    assert acme.status == "Active"


def test_incremental_run_sends_only_what_changed_since(
    tmp_path: Path, fake: FakeSalesforce, sf: Any, sandbox: Sandbox, spotzee: Client
) -> None:
    ids = fake.add_leads(300)
    acme = make(tmp_path, mappings={"Lead": {"Company": "data.company"}})
    acme.sync(sf, client=spotzee)
    fake.advance(hours=1)
    fake.update("Lead", ids[7], {"Company": "Globex 2"})
    late = fake.now - dt.timedelta(minutes=2)  # a slow commit: stamped before it lands
    fake.update("Lead", ids[8], {"Company": "Late Ltd"}, at=late)
    new = fake.add_leads(2)
    writes = dict(sandbox.write_counts)

    result = acme.sync(sf, client=spotzee)

    assert "LastModifiedDate >= 2026-05-01T08:55:00+00:00" in fake.queries[-1]
    sent = result.loc[result["status"].isin(["imported", "updated"])]
    assert set(sent["salesforce_id"]) == {ids[7], ids[8], *new}
    assert dict(zip(sent["salesforce_id"], sent["status"], strict=True)) == {
        ids[7]: "updated",
        ids[8]: "updated",
        new[0]: "imported",
        new[1]: "imported",
    }
    assert sandbox.get_user(f"sf_acme_Lead_{ids[7]}")["data"]["company"] == "Globex 2"
    changed = {k for k, v in sandbox.write_counts.items() if v != writes.get(k)}
    assert changed == {f"sf_acme_Lead_{i}" for i in (ids[7], ids[8], *new)}

    # The next run reaches back 5 minutes from the newest stamp: the records it finds again
    # unchanged are recognised by id and LastModifiedDate, and not sent twice.
    again = acme.sync(sf, client=spotzee)
    assert set(again["status"]) == {"skipped"}
    assert (again["error_code"] == "already_synced").all()
    assert {k for k, v in sandbox.write_counts.items() if v != writes.get(k)} == changed
    assert "LastModifiedDate >= 2026-05-01T09:55:00+00:00" in fake.queries[-1]


def test_a_500_on_a_later_page_leaves_error_and_the_next_run_catches_up(
    tmp_path: Path, fake: FakeSalesforce, sf: Any, sandbox: Sandbox, spotzee: Client
) -> None:
    fake.add_leads(4500)
    acme = make(tmp_path)
    # Page 3 fails on every attempt.
    fake.inject("500", on="query_more", after=1, times=FAST_SF["retry_attempts"])

    with pytest.raises(SalesforceError) as caught:
        acme.sync(sf, client=spotzee)

    error = caught.value
    assert error.status_code == 500 and error.attempts == 4
    assert "page 3" in str(error)
    assert len(error.result) == 4000 and set(error.result["status"]) == {"imported"}
    assert acme.status == "Error" and "500" in (acme.error or "")
    assert acme.watermarks == {"Lead": None}
    log = acme.log
    assert list(log["event"]) == ["sync_started", "records_imported", "sync_failed"]
    assert log["count"].iloc[1] == 4000

    fake.inject("500", on="query_more", times=1)  # a transient one is retried within the run
    result = acme.sync(sf, client=spotzee)

    assert len(result) == 4500 and set(result["status"]) == {"imported", "updated"}
    assert (result["status"] == "imported").sum() == 500
    assert acme.status == "Active"
    assert set(sandbox.write_counts.values()) == {1}  # the 4,000 resent batches replayed
    assert sandbox.stats["replays"] == 40


def test_a_rerun_cuts_the_same_batches_however_the_pages_were_grouped(
    tmp_path: Path, sandbox: Sandbox, spotzee: Client
) -> None:
    # Pages of 150: batches of 100 and 50 per page. Pages pulled meanwhile are sent as one
    # chunk, and which pages share a chunk depends on timing; the batches must not.
    fake = FakeSalesforce(page_size=150)
    fake.add_leads(600)
    acme = make(tmp_path)
    fake.inject("500", on="query_more", after=1, times=FAST_SF["retry_attempts"])

    with pytest.raises(SalesforceError):
        acme.sync(fake.connect(), client=spotzee)
    first = [r for r in sandbox.requests if r.path == "/users/batch"]
    assert [len(orjson.loads(r.body)) for r in first] == [100, 50, 100, 50]

    result = acme.sync(fake.connect(), client=spotzee)

    assert len(result) == 600 and acme.status == "Active"
    assert set(sandbox.write_counts.values()) == {1}  # nothing applied twice
    assert sandbox.stats["replays"] == 4  # the first run's batches, replayed as they were


def test_a_lost_spotzee_answer_fails_the_run_and_the_rerun_applies_nothing_twice(
    tmp_path: Path, fake: FakeSalesforce, sf: Any, sandbox: Sandbox, spotzee: Client
) -> None:
    fake.add_leads(250)
    acme = make(tmp_path)
    # Every batch is stored, then its answer is lost, on every attempt.
    sandbox.inject("drop", times=3 * spotzee.max_attempts, path="/users/batch")

    result = acme.sync(sf, client=spotzee)

    assert counts(result) == {"failed": 250}
    assert set(result["error_code"]) == {"network_error"}
    assert acme.status == "Error" and acme.watermarks == {"Lead": None}
    assert acme.log["event"].iloc[-1] == "sync_failed"
    assert len(sandbox.users) == 250  # the lost batch was applied

    again = acme.sync(sf, client=spotzee)

    assert counts(again) == {"updated": 250}  # they exist now: compared by external id
    assert set(sandbox.write_counts.values()) == {1}  # nothing applied twice
    assert acme.status == "Active" and acme.watermarks["Lead"] is not None


def test_type_mismatch_drops_the_value_and_keeps_the_record(
    tmp_path: Path, fake: FakeSalesforce, sf: Any, sandbox: Sandbox, spotzee: Client
) -> None:
    hot = fake.create(
        "Lead",
        {
            "LastName": "Hot",
            "Company": "A",
            "Status": "Open - Not Contacted",
            "Email": "hot@example.com",
            "Rating": "Hot",
            "Score__c": 7.5,
            "Interests__c": "SMS;Email",
            "Trial_End__c": dt.date(2026, 6, 1),
        },
    )
    five = fake.create(
        "Lead",
        {
            "LastName": "Five",
            "Company": "B",
            "Status": "Open - Not Contacted",
            "Email": "five@example.com",
            "Rating": "5",
        },
    )
    acme = make(
        tmp_path,
        mappings={
            "Lead": {
                "Rating": ("data.rating", "number"),
                "Score__c": "data.score",
                "Interests__c": "data.interests",
                "Trial_End__c": "data.trial_end",
                "LastModifiedDate": "data.sf_modified",
            }
        },
    )

    result = acme.sync(sf, client=spotzee).set_index("salesforce_id")

    assert result.loc[hot, "status"] == "imported"
    assert result.loc[hot, "warnings"] == (
        "type_mismatch: Rating='Hot' is not a number (data.rating left out)"
    )
    assert pd.isna(result.loc[five, "warnings"])
    stored = sandbox.get_user(f"sf_acme_Lead_{hot}")["data"]
    assert "rating" not in stored and stored["score"] == 7.5
    assert stored["interests"] == ["SMS", "Email"] and stored["trial_end"] == "2026-06-01"
    assert stored["sf_modified"] == "2026-05-01T09:00:00Z"
    assert sandbox.get_user(f"sf_acme_Lead_{five}")["data"]["rating"] == 5
    completed = acme.log.iloc[-1]
    assert completed["event"] == "sync_completed"
    assert completed["warnings"] == [
        {
            "object": "Lead",
            "salesforce_id": hot,
            "warning": "type_mismatch: Rating='Hot' is not a number (data.rating left out)",
        }
    ]


def test_invalid_records_are_rows_and_do_not_fail_the_run(
    tmp_path: Path, fake: FakeSalesforce, sf: Any, sandbox: Sandbox, spotzee: Client
) -> None:
    good = fake.add_leads(3)
    bad = fake.create(
        "Lead",
        {
            "LastName": "X",
            "Company": "C",
            "Status": "Open - Not Contacted",
            "Email": "not an email",
        },
    )
    acme = make(tmp_path)

    result = acme.sync(sf, client=spotzee).set_index("salesforce_id")

    assert result.loc[bad, "status"] == "invalid"
    assert result.loc[bad, "error_field"] == "Email"  # the Salesforce field to fix
    assert (result.loc[good, "status"] == "imported").all()
    assert acme.status == "Active"
    assert "1 invalid" in acme.log.iloc[-1]["message"]


# -- opt-outs ------------------------------------------------------------------------------------


def test_opt_out_unsubscribes_true_and_never_touches_false(
    tmp_path: Path, fake: FakeSalesforce, sf: Any, sandbox: Sandbox, spotzee: Client
) -> None:
    out, stay = fake.add_leads(2, HasOptedOutOfEmail=False)
    fake.update("Lead", out, {"HasOptedOutOfEmail": True})
    # `stay` unsubscribed itself in Spotzee: the sync must not undo that.
    spotzee.request("POST", "/users/batch", json=[{"external_id": f"sf_acme_Lead_{stay}"}])
    spotzee.request(
        "PATCH",
        f"/users/sf_acme_Lead_{stay}/subscriptions",
        json=[{"subscription_id": 1, "state": 0}],
    )
    acme = make(tmp_path, subscription_id=1)

    result = acme.sync(sf, client=spotzee).set_index("salesforce_id")

    assert result.loc[out, "unsubscribed"]
    assert not result.loc[stay, "unsubscribed"]
    assert subscription_state(spotzee, f"sf_acme_Lead_{out}", 1) == 0
    assert subscription_state(spotzee, f"sf_acme_Lead_{stay}", 1) == 0  # left as it was
    assert sandbox.get_user(f"sf_acme_Lead_{out}")["data"]["unsubscribed"] is True
    assert sandbox.get_user(f"sf_acme_Lead_{stay}")["data"]["unsubscribed"] is False
    assert result.loc[stay, "status"] == "updated"  # it existed before the run
    (bulk,) = [r for r in sandbox.requests if r.path == "/subscriptions/batch"]
    assert orjson.loads(bulk.body) == [
        {"external_id": f"sf_acme_Lead_{out}", "subscription_id": 1, "state": 0}
    ]


def test_a_sync_stopped_mid_stream_keeps_every_pulled_record_and_resumes_exactly(
    tmp_path: Path, sandbox: Sandbox, spotzee: Client
) -> None:
    # Pages of 500: the pulled pages go as one stream of several chunks, and the
    # unsubscribes of each chunk's opted-out records follow its upsert in the same stream.
    fake = FakeSalesforce(page_size=500, latency=0.002)
    ids = fake.add_leads(3000, HasOptedOutOfEmail=False)
    opted = ids[::50]
    for record in opted:
        fake.update("Lead", record, {"HasOptedOutOfEmail": True})
    acme = make(tmp_path, subscription_id=1)
    seen: list[Any] = []

    def stop_half_way(event: Any) -> None:
        seen.append(event)
        if event.done >= 1500 and not event.finished:
            raise KeyboardInterrupt

    sandbox.faults = Faults(latency=0.12)  # slower than the reporter's throttle
    slow = Client.sandbox(sandbox, **{**FAST, "max_concurrency": 4})
    with slow, pytest.raises(Interrupted) as caught:
        acme.sync(fake.connect(), client=slow, progress=stop_half_way)
    sandbox.faults = Faults()

    partial = caught.value.result
    assert set(partial["status"]) <= {"imported", "interrupted"}
    imported = partial.loc[partial["status"].eq("imported"), "salesforce_id"].tolist()
    assert len(imported) < 3000
    for record in imported:  # every row said imported is stored
        assert sandbox.get_user(f"sf_acme_Lead_{record}") is not None
    for record in set(imported) & set(opted):  # unsubscribed, as its row says
        assert subscription_state(spotzee, f"sf_acme_Lead_{record}", 1) == 0
    opted_rows = partial[partial["salesforce_id"].isin(opted)]
    assert opted_rows["unsubscribed"].eq(True).sum() == len(set(imported) & set(opted))
    # A record synced whose unsubscribe the stop overtook says so; the next run does it.
    pending = opted_rows[opted_rows["error_code"].eq("unsubscribe_failed")]
    assert set(pending["status"]) <= {"interrupted"}
    assert len(imported) + len(pending) >= 1500  # upserts confirmed when the stop came
    for record in pending["salesforce_id"]:
        assert sandbox.get_user(f"sf_acme_Lead_{record}") is not None
    assert pending["error_message"].str.contains("the run stopped first").all()
    assert opted_rows["status"].eq("imported").any() or len(pending)
    assert acme.watermarks == {"Lead": None}

    result = acme.sync(fake.connect(), client=spotzee, progress=seen.append)

    pulled = list(result["salesforce_id"])
    assert sorted(pulled) == sorted(ids)
    assert list(partial["salesforce_id"]) == pulled[: len(partial)]  # both in pull order
    assert set(result["status"]) == {"imported", "updated"}
    assert set(result.loc[result["salesforce_id"].isin(opted), "unsubscribed"]) == {True}
    assert not result.loc[~result["salesforce_id"].isin(opted), "unsubscribed"].any()
    assert len(sandbox.users) == 3000
    assert set(sandbox.write_counts.values()) == {1}  # what was in flight replayed
    assert seen[-1].done == 3000 and seen[-1].finished


def test_an_unknown_subscription_stops_the_sync_before_anything_is_sent(
    tmp_path: Path, fake: FakeSalesforce, sf: Any, sandbox: Sandbox, spotzee: Client
) -> None:
    fake.add_leads(3, HasOptedOutOfEmail=True)
    acme = make(tmp_path, subscription_id=99)

    with pytest.raises(NotFoundError, match="subscription 99 does not exist"):
        acme.sync(sf, client=spotzee)

    assert not sandbox.users
    assert acme.status == "Error" and acme.watermarks == {"Lead": None}


def test_campaign_member_opt_out_is_read_through_its_parent(
    tmp_path: Path, fake: FakeSalesforce, sf: Any, sandbox: Sandbox, spotzee: Client
) -> None:
    lead_out, lead_in = fake.add_leads(2, HasOptedOutOfEmail=False)
    fake.update("Lead", lead_out, {"HasOptedOutOfEmail": True})
    (contact,) = fake.add_contacts(1, HasOptedOutOfEmail=False)
    campaign = fake.add_campaign("Spring launch")
    members = fake.add_members(campaign, leads=[lead_out, lead_in], contacts=[contact])
    acme = make(
        tmp_path,
        objects=["CampaignMember"],
        subscription_id=1,
        mappings={
            "CampaignMember": {"CampaignId": "data.sf_campaign", "Status": "data.member_status"}
        },
    )

    result = acme.sync(sf, client=spotzee).set_index("salesforce_id")

    assert "Lead.HasOptedOutOfEmail, Contact.HasOptedOutOfEmail" in fake.queries[-1]
    assert list(result["external_id"]) == [f"sf_acme_CampaignMember_{m}" for m in members]
    assert list(result["unsubscribed"]) == [True, False, False]
    user = sandbox.get_user(f"sf_acme_CampaignMember_{members[0]}")
    assert user["data"]["sf_campaign"] == campaign and user["data"]["unsubscribed"] is True
    assert subscription_state(spotzee, f"sf_acme_CampaignMember_{members[0]}", 1) == 0
    assert subscription_state(spotzee, f"sf_acme_CampaignMember_{members[1]}", 1) == 1


# -- several orgs, pause, locking, sessions ------------------------------------------------


def test_two_orgs_side_by_side_give_two_users_per_record(
    tmp_path: Path, sandbox: Sandbox, spotzee: Client
) -> None:
    one, two = FakeSalesforce(seed=1), FakeSalesforce(seed=2)
    one.add_leads(3, LeadSource="Web")
    two.add_leads(2, LeadSource="Other")
    same = one.ids("Lead")[0]
    eu = make(tmp_path, "eu", rules={"Lead": [("LeadSource", "equals", "Web")]})
    us = make(tmp_path, "us", mappings={"Lead": {"LeadSource": "data.source"}})
    eu_b = make(tmp_path, "eu_b")  # a second integration on the first org

    eu.sync(one.connect(), client=spotzee)
    us.sync(two.connect(), client=spotzee)
    eu_b.sync(one.connect(), client=spotzee)

    assert f"sf_eu_Lead_{same}" in sandbox.users and f"sf_eu_b_Lead_{same}" in sandbox.users
    assert len(sandbox.users) == 3 + 2 + 3
    assert sandbox.get_user(f"sf_us_Lead_{two.ids('Lead')[0]}")["data"]["source"] == "Other"
    assert (tmp_path / "eu.sfstate").exists() and (tmp_path / "us.sfstate").exists()
    wrong = salesforce.Integration("us", objects=["Lead"], state=tmp_path / "eu.sfstate")
    with pytest.raises(ConfigurationError, match="belongs to integration 'eu'"):
        wrong.sync(one.connect(), client=spotzee)


def test_pause_refuses_to_sync_until_resume(
    tmp_path: Path, fake: FakeSalesforce, sf: Any, sandbox: Sandbox, spotzee: Client
) -> None:
    fake.add_leads(3)
    acme = make(tmp_path)
    acme.sync(sf, client=spotzee)
    acme.pause()
    assert acme.status == "Inactive"
    fake.advance(minutes=30)
    fake.add_leads(2)
    requests = sandbox.stats["requests"]

    with pytest.raises(IntegrationStateError, match="paused") as caught:
        acme.sync(sf, client=spotzee)

    assert caught.value.reason == "inactive"
    assert sandbox.stats["requests"] == requests
    assert (
        salesforce.Integration("acme", objects=["Lead"], state=tmp_path / "acme.sfstate").status
        == "Inactive"
    )
    acme.resume()
    assert acme.status == "Active"
    assert counts(acme.sync(sf, client=spotzee)) == {"imported": 2, "skipped": 3}


def test_a_second_concurrent_run_refuses_clearly(
    tmp_path: Path, fake: FakeSalesforce, sandbox: Sandbox, spotzee: Client
) -> None:
    fake.add_leads(50)
    acme = make(tmp_path)
    entered, release = threading.Event(), threading.Event()

    class SlowSession(simple_salesforce.Salesforce):
        def query(self, *args: Any, **kwargs: Any) -> Any:
            entered.set()
            release.wait(10)
            return super().query(*args, **kwargs)

    slow = SlowSession(
        instance_url=fake.instance_url, session_id=fake.access_token, session=fake.session()
    )
    first: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: first.update(r=acme.sync(slow, client=spotzee)))
    runner.start()
    try:
        assert entered.wait(10)
        other = make(tmp_path)  # e.g. a cron job while the notebook runs
        with pytest.raises(IntegrationStateError, match="another sync") as caught:
            other.sync(fake.connect(), client=spotzee)
        assert caught.value.reason == "locked"
    finally:
        release.set()
        runner.join(30)
    assert counts(first["r"]) == {"imported": 50}
    assert [e for e in acme.log["event"] if e == "sync_started"] == ["sync_started"]


def test_an_expired_session_is_one_clear_error(
    tmp_path: Path, fake: FakeSalesforce, sf: Any, spotzee: Client
) -> None:
    fake.add_leads(5)
    acme = make(tmp_path)
    fake.expire_session()

    with pytest.raises(SalesforceSessionError, match="expired or is not valid") as caught:
        acme.sync(sf, client=spotzee)

    assert caught.value.error_code == "INVALID_SESSION_ID"
    assert fake.access_token not in str(caught.value)
    assert acme.status == "Error"
    assert "INVALID_SESSION_ID" in acme.log.iloc[-1]["message"]
    health = acme.health(sf).set_index("check")
    assert health.loc["credentials", "ok"] == False  # noqa: E712  (pandas NA-aware)


def test_request_limit_exceeded_and_network_errors_are_retried(
    tmp_path: Path, fake: FakeSalesforce, sf: Any, spotzee: Client
) -> None:
    fake.add_leads(2100)
    fake.inject("request_limit", on="query", times=1)
    fake.inject("disconnect", on="query_more", times=1)
    fake.inject("503", on="describe", times=2)
    acme = make(tmp_path)

    result = acme.sync(sf, client=spotzee)

    assert counts(result) == {"imported": 2100}
    statuses = [r.status for r in fake.requests]
    assert statuses.count(403) == 1 and statuses.count(503) == 2


def test_over_https_with_a_dropped_connection(
    tmp_path: Path, fake: FakeSalesforce, served: Any
) -> None:
    fake.add_leads(2050)
    acme = make(tmp_path)
    with fake.serve() as endpoint:
        fake.inject("disconnect", on="query_more", times=1)
        result = acme.sync(endpoint.connect(), client=served.client)
    assert counts(result) == {"imported": 2050}
    assert len(served.sandbox.users) == 2050


# -- the log, health, dry runs, frames ------------------------------------------------------------


def test_the_log_counts_what_each_run_did(
    tmp_path: Path, fake: FakeSalesforce, sf: Any, spotzee: Client
) -> None:
    fake.add_leads(30)
    fake.add_contacts(20)
    acme = make(tmp_path, objects=["Lead", "Contact"])
    acme.sync(sf, client=spotzee)
    fake.advance(hours=2)
    fake.update("Contact", fake.ids("Contact")[0], {"Title": "CEO"})
    fake.add_leads(4)
    acme.sync(sf, client=spotzee)
    acme.health(sf)

    log = acme.log
    assert list(log["event"]) == [
        "sync_started",
        "records_imported",
        "records_imported",
        "sync_completed",
        "sync_started",
        "records_imported",
        "records_updated",
        "sync_completed",
        "health_check",
    ]
    assert list(log["count"].iloc[[1, 2, 5, 6]]) == [30, 20, 4, 1]
    assert list(log["object"].iloc[[1, 2, 5, 6]]) == ["Lead", "Contact", "Lead", "Contact"]
    assert log["run_id"].iloc[0] == log["run_id"].iloc[3] != log["run_id"].iloc[4]
    assert log["at"].dtype == "datetime64[ns, UTC]"
    assert log["duration"].iloc[3] > pd.Timedelta(0)
    assert log["message"].iloc[4] == "Lead: incremental, Contact: incremental"
    state = orjson.loads((tmp_path / "acme.sfstate").read_bytes())
    assert fake.access_token not in orjson.dumps(state).decode()


def test_health_checks_fields_quota_and_staleness(
    tmp_path: Path, fake: FakeSalesforce, sf: Any, spotzee: Client
) -> None:
    fake.add_leads(3)
    acme = make(tmp_path, mappings={"Lead": {"Score__c": "data.score"}}, frequency="30min")
    acme.sync(sf, client=spotzee)
    fake.remove_field("Lead", "Score__c")
    fake.set_api_usage(95_000, 100_000)

    health = acme.health(sf).set_index("check")

    assert list(health.index) == ["credentials", "mapped_fields", "api_quota", "staleness"]
    assert health["ok"].tolist() == [True, False, False, True]
    assert "Score__c" in health.loc["mapped_fields", "detail"]
    assert "5%" in health.loc["api_quota", "detail"]
    assert acme.status == "Error"
    assert acme.log.iloc[-1]["event"] == "health_check"


def test_dry_run_pulls_and_checks_but_sends_and_stores_nothing(
    tmp_path: Path, fake: FakeSalesforce, sf: Any, sandbox: Sandbox, spotzee: Client
) -> None:
    fake.add_leads(4)
    acme = make(tmp_path)
    result = acme.sync(sf, client=spotzee, dry_run=True)
    assert counts(result) == {"valid": 4}
    assert sandbox.stats["requests"] == 0
    assert not (tmp_path / "acme.sfstate").exists()


def test_frames_of_exported_records_sync_to_the_same_users(
    tmp_path: Path, fake: FakeSalesforce, sf: Any, sandbox: Sandbox, spotzee: Client
) -> None:
    fake.add_leads(40)
    rules = {"Lead": [("LeadSource", "not_equals", "web"), ("Company", "contains", "ACM")]}
    records = pd.DataFrame(
        [
            {k: v for k, v in r.items() if k != "attributes"}
            for r in sf.query_all(
                "SELECT Id, Email, FirstName, LastName, Phone, LeadSource, "
                "Company, HasOptedOutOfEmail, LastModifiedDate FROM Lead"
            )["records"]
        ]
    )
    export = tmp_path / "leads.csv"
    records.rename(columns=str.upper).assign(ID=records["Id"].str[:15]).to_csv(export, index=False)
    # A Data Loader export: upper-case names, 15-character ids, read as text (so a phone
    # such as +14155550123 keeps its +).
    frames = {"Lead": pd.read_csv(export, dtype=str, keep_default_na=False, na_values=[""])}

    from_frames = make(tmp_path, "acme", rules=rules).sync(frames, client=spotzee)
    stored = {k: v["data"] for k, v in sandbox.users.items()}
    from_salesforce = make(tmp_path, "acme2", rules=rules).sync(sf, client=spotzee)

    ids = sorted(from_frames["salesforce_id"])
    assert ids == sorted(from_salesforce["salesforce_id"]) and len(ids) > 0
    assert all(f"sf_acme_Lead_{i}" in stored for i in ids)  # the 18-character ids
    assert counts(from_frames) == {"imported": len(ids)}


def test_a_frame_listing_a_record_twice_sends_its_newest_copy(
    tmp_path: Path, sandbox: Sandbox, spotzee: Client
) -> None:
    frame = pd.DataFrame(
        {
            "Id": ["00Q5g000000000A", "00Q5g000000000B", "00Q5g000000000A"],
            "Email": ["a@example.com", "b@example.com", "a@example.com"],
            "LastName": ["Old", "B", "New"],
            "HasOptedOutOfEmail": [False, False, False],
            "LastModifiedDate": ["2026-05-02T00:00:00Z", "2026-05-01T00:00:00Z",
                                 "2026-05-03T00:00:00Z"],
        }
    )  # fmt: skip

    result = make(tmp_path).sync({"Lead": frame}, client=spotzee)

    assert list(result["status"]) == ["imported", "imported", "skipped"]
    assert result["error_code"].iloc[2] == "duplicate_record"
    assert (
        sandbox.get_user(salesforce.external_id("acme", "Lead", "00Q5g000000000A"))["data"][
            "last_name"
        ]
        == "New"
    )


# -- configuration errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rules": {"Lead": [("LeadSource", "is", "Web")]}}, "unknown operator 'is'"),
        ({"rules": {"Lead": [("Email", "is_set", True)]}}, "takes no value"),
        ({"rules": {"Lead": [("AnnualRevenue", "greater_than", "lots")]}}, "compares numbers"),
        ({"rules": {"Contact": []}}, "not among objects"),
        ({"mappings": {"Lead": {"Company": "company"}}}, "data.company"),
        ({"mappings": {"Lead": {"Rating": ("data.rating", "int")}}}, "unknown type 'int'"),
        ({"objects": ["Leads"]}, "did you mean 'Lead'"),
        ({"subscription_id": 1, "opt_out": None}, "needs opt_out"),
        ({"frequency": 60}, "needs a unit"),
    ],
)
def test_configuration_mistakes_are_caught_when_made(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        make(tmp_path, **options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rules": {"Lead": [("LeadSorce", "equals", "Web")]}}, "did you mean 'LeadSource'"),
        ({"rules": {"Lead": [("AnnualRevenue", "equals", "100")]}}, "give a number"),
        ({"rules": {"Lead": [("HasOptedOutOfEmail", "contains", "x")]}}, "checkbox|boolean"),
        ({"mappings": {"Lead": {"Nope__c": "data.nope"}}}, "no field 'Nope__c'"),
        ({"mappings": {"Lead": {"Title": "data.first_name"}}}, "both feed data.first_name"),
    ],
)
def test_field_mistakes_are_caught_before_anything_is_sent(
    tmp_path: Path,
    fake: FakeSalesforce,
    sf: Any,
    sandbox: Sandbox,
    spotzee: Client,
    options: dict[str, Any],
    message: str,
) -> None:
    fake.add_leads(2)
    acme = make(tmp_path, **options)
    with pytest.raises(Exception, match=message):
        acme.sync(sf, client=spotzee)
    assert sandbox.stats["requests"] == 0
    assert [r.kind for r in fake.requests] == ["describe"]
    assert acme.status == "Error"


def test_secrets_stay_out_of_reprs(tmp_path: Path, fake: FakeSalesforce) -> None:
    acme = make(tmp_path)
    assert fake.access_token not in repr(acme)
    with pytest.raises(ValidationError, match=r"simple_salesforce\.Salesforce session"):
        acme.sync(object())


# -- imported or updated: which users exist ---------------------------------------------------


def _existing_users(client: Client, n: int, prefix: str = "sf_acme_Lead_") -> list[str]:
    ids = [f"{prefix}{i:05d}" for i in range(n)]
    for start in range(0, n, 100):
        batch = [{"external_id": e} for e in ids[start : start + 100]]
        client.request("POST", "/users/batch", json=batch)
    return ids


@pytest.mark.parametrize(
    ("stored", "total", "early", "asked", "requests"),
    [
        (250, 1000, False, 40, 3),  # a large pull: the whole listing (3 pages), nothing per id
        (250, 5, True, 5, 1 + 2),  # a few records: the first page, then per id what it lacks
        (5000, 30, False, 30, 1 + 30),  # a listing longer than the pull: one page, then per id
    ],
)
def test_existing_users_are_learnt_with_the_fewest_requests(
    spotzee: Client, stored: int, total: int, early: bool, asked: int, requests: int
) -> None:
    from spotzee_frames.salesforce._spotzee import ExistingUsers

    ids = _existing_users(spotzee, stored)
    _existing_users(spotzee, 3, prefix="sf_acme_Leads_")  # found by the search, not ours
    existing = ExistingUsers(spotzee, "sf_acme_Lead_")
    existing.start()  # before the pull's total is known
    existing.total = total
    # The listing shows the newest users first: `early` ones are on its first page.
    known = ids[-(asked - 2) :] if early else ids[: asked - 2]
    wanted = [*known, "sf_acme_Lead_new1", "sf_acme_Lead_new2"]

    assert existing.existing(wanted) == set(known)
    assert existing.requests == requests


def test_per_id_look_ups_inside_the_stream_classify_every_chunk(
    tmp_path: Path, sandbox: Sandbox, spotzee: Client
) -> None:
    # A listing of existing users far longer than the pull: each chunk's records are
    # looked up one by one while the chunks before them are still being sent.
    fake = FakeSalesforce(page_size=10)
    ids = fake.add_leads(30)
    _existing_users(spotzee, 5000, prefix="sf_acme_Lead_zz")
    spotzee.request(
        "POST", "/users/batch", json=[{"external_id": f"sf_acme_Lead_{r}"} for r in ids[5:15]]
    )
    acme = make(tmp_path)

    result = acme.sync(fake.connect(), client=spotzee)

    assert counts(result) == {"imported": 20, "updated": 10}
    assert sorted(result.loc[result["status"].eq("updated"), "salesforce_id"]) == sorted(ids[5:15])
    looked_up = [r for r in sandbox.requests if r.method == "GET" and r.path.startswith("/users/")]
    # The ten that exist are the newest users, on the listing's first page: the other
    # twenty are looked up one by one.
    assert len(looked_up) == 20
