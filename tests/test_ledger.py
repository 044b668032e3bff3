"""`ledger=` and `only_changed=`: send only what changed, never mark what the server did
not confirm, resend an unanswered call exactly as it was, one writer at a time, and
"never twice" for triggers past the server's 24 hours."""

from __future__ import annotations

import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from spotzee_frames import (
    Client,
    IdempotencyNotHonouredWarning,
    Interrupted,
    Ledger,
    LedgerBusyError,
    LedgerError,
    ProgressEvent,
    ValidationError,
    _ledger,
    summary,
    track,
    trigger_campaign,
    trigger_journey,
    upsert,
)
from spotzee_frames._prepare import prepare
from spotzee_frames.sandbox import Faults, Sandbox

from .conftest import FAST, Served


def contacts(n: int, *, start: int = 0) -> pd.DataFrame:
    ids = range(start, start + n)
    return pd.DataFrame(
        {
            "external_id": [f"c{k}" for k in ids],
            "email": [f"c{k}@example.com" for k in ids],
            "plan": ["pro" if k % 3 else None for k in ids],
            "score": list(ids),
        }
    )


def _sent_ids(sandbox: Sandbox, since: int, path: str = "/users/batch") -> list[str]:
    """external_ids of every item the server received at `path` after request `since`."""
    out: list[str] = []
    for record in sandbox.requests[since:]:
        if record.path != path or record.fault is not None:
            continue
        body = orjson.loads(record.body)
        items = body if isinstance(body, list) else [body["user"]]
        out.extend(item["external_id"] for item in items)
    return out


def _statuses(result: pd.DataFrame) -> dict[str, int]:
    return {k: int(v) for k, v in result.status.astype(str).value_counts().items()}


# -- change detection ---------------------------------------------------------------------------


def test_unchanged_rows_are_skipped_and_changed_rows_sent(
    client: Client, sandbox: Sandbox, tmp_path: Path
) -> None:
    ledger = tmp_path / "crm.ledger"
    df = contacts(250)
    first = upsert(df, client=client, ledger=ledger, only_changed=True, progress=False)
    assert _statuses(first) == {"upserted": 250}

    seen = len(sandbox.requests)
    again = upsert(df, client=client, ledger=ledger, only_changed=True, progress=False)
    assert _statuses(again) == {"unchanged": 250}
    assert len(sandbox.requests) == seen  # nothing sent at all
    assert again.batch.isna().all() and again.error_code.isna().all()
    assert summary(again).ok
    assert "250 unchanged" in str(summary(again)) and "by reason" not in str(summary(again))

    changed = df.copy()
    changed.loc[[3, 140], "plan"] = "enterprise"
    changed.loc[200, "email"] = "new@example.com"
    third = upsert(changed, client=client, ledger=ledger, only_changed=True, progress=False)
    assert third.index[third.status.eq("upserted")].tolist() == [3, 140, 200]
    assert third.status.drop([3, 140, 200]).eq("unchanged").all()
    assert sorted(_sent_ids(sandbox, seen)) == ["c140", "c200", "c3"]  # one batch of three
    assert sandbox.users["c200"]["email"] == "new@example.com"
    assert third.batch.dropna().tolist() == [0, 0, 0]

    # The same ledger without only_changed sends (and records) every row.
    full = upsert(changed, client=client, ledger=ledger, progress=False)
    assert _statuses(full) == {"upserted": 250}


def test_failed_and_rejected_rows_are_never_marked_and_go_again(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    ledger = tmp_path / "crm.ledger"
    df = contacts(300)
    df.loc[7, "external_id"] = "x" * 300  # the server refuses this item
    with Client.sandbox(sandbox, **{**FAST, "max_attempts": 1, "max_concurrency": 1}) as api:
        sandbox.inject("503", times=1, path="/users/batch")  # the first batch fails for good
        first = upsert(df, client=api, ledger=ledger, only_changed=True, progress=False)
    assert _statuses(first) == {"failed": 100, "upserted": 200}  # row 7 is in the failed batch
    confirmed = set(Ledger(ledger).confirmed().item)
    assert confirmed == {f"external_id:c{k}" for k in range(100, 300)}

    seen = len(sandbox.requests)
    with Client.sandbox(sandbox, **FAST) as api:
        second = upsert(df, client=api, ledger=ledger, only_changed=True, progress=False)
    assert second.status[:100].drop(7).eq("upserted").all()
    assert second.loc[7, "status"] == "rejected"
    assert second.status[100:].eq("unchanged").all()
    assert len(_sent_ids(sandbox, seen)) == 100  # the failed batch, nothing else

    with Client.sandbox(sandbox, **FAST) as api:
        third = upsert(df, client=api, ledger=ledger, only_changed=True, progress=False)
    assert _statuses(third) == {"unchanged": 299, "rejected": 1}  # rejected: sent again
    assert set(sandbox.write_counts.values()) == {1}


def test_async_mode_marks_a_whole_batch_on_204(
    client: Client, sandbox: Sandbox, tmp_path: Path
) -> None:
    ledger = tmp_path / "crm.ledger"
    df = contacts(150)
    first = upsert(
        df, mode="async", client=client, ledger=ledger, only_changed=True, progress=False
    )
    assert _statuses(first) == {"queued": 150}
    again = upsert(
        df, mode="async", client=client, ledger=ledger, only_changed=True, progress=False
    )
    assert _statuses(again) == {"unchanged": 150}
    # Another route is another destination: sync knows nothing of what async confirmed.
    sync = upsert(df, client=client, ledger=ledger, only_changed=True, progress=False)
    assert _statuses(sync) == {"upserted": 150}
    routes = set(Ledger(ledger).destinations().route)
    assert routes == {"PATCH /users", "POST /users/batch"}


def test_a_missing_ledger_file_is_a_first_run(client: Client, tmp_path: Path) -> None:
    ledger = tmp_path / "fresh.ledger"
    assert Ledger(ledger).destinations().empty and Ledger(ledger).pending().empty
    assert not ledger.exists()  # reading never creates it
    result = upsert(contacts(20), client=client, ledger=ledger, only_changed=True, progress=False)
    assert _statuses(result) == {"upserted": 20}
    assert ledger.exists()
    assert Ledger(ledger).destinations().confirmed.tolist() == [20]


def test_another_key_or_host_is_another_destination(sandbox: Sandbox, tmp_path: Path) -> None:
    ledger = tmp_path / "crm.ledger"
    df = contacts(10)
    with Client.sandbox(sandbox, **FAST) as one:
        upsert(df, client=one, ledger=ledger, only_changed=True, progress=False)
    other = Client(
        "sk_test_other_project",
        "http://localhost/api/client",
        transport=sandbox.transport(),
        **FAST,
    )
    with other:
        result = upsert(df, client=other, ledger=ledger, only_changed=True, progress=False)
    assert _statuses(result) == {"upserted": 10}
    destinations = Ledger(ledger).destinations()
    assert destinations.key_fingerprint.nunique() == 2
    text = ledger.read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("crm.ledger")
    )
    assert b"sk_test_other_project" not in text and b"sk_test_sandbox" not in text


def test_a_dry_run_reads_the_ledger_and_writes_nothing(client: Client, tmp_path: Path) -> None:
    ledger = tmp_path / "crm.ledger"
    df = contacts(30)
    upsert(df, client=client, ledger=ledger, only_changed=True, progress=False)
    changed = df.copy()
    changed.loc[4, "score"] = -1
    before = ledger.stat().st_mtime_ns
    dry = upsert(changed, client=client, ledger=ledger, only_changed=True, dry_run=True)
    assert dry.index[dry.status.eq("valid")].tolist() == [4]
    assert dry.status.drop(4).eq("unchanged").all()
    assert summary(dry).dry_run
    assert ledger.stat().st_mtime_ns == before


def test_bad_ledger_arguments_raise_before_anything_is_sent(
    client: Client, sandbox: Sandbox, tmp_path: Path
) -> None:
    df = contacts(3)
    with pytest.raises(ValidationError, match="only_changed=True needs a ledger"):
        upsert(df, client=client, only_changed=True)
    with pytest.raises(ValidationError, match="only_changed must be True or False"):
        upsert(df, client=client, ledger=tmp_path / "x.ledger", only_changed="yes")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="ledger must be a file path"):
        upsert(df, client=client, ledger=42)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="is a folder"):
        upsert(df, client=client, ledger=tmp_path)
    with pytest.raises(LedgerError, match="does not exist"):
        upsert(df, client=client, ledger=tmp_path / "no" / "such.ledger")
    garbage = tmp_path / "garbage.ledger"
    garbage.write_bytes(b"this is no database, just text " * 100)
    with pytest.raises(LedgerError, match="not a ledger file"):
        upsert(df, client=client, ledger=garbage)
    assert sandbox.requests == []


# -- one writer at a time -----------------------------------------------------------------------


def test_a_second_run_on_a_busy_ledger_refuses_and_sends_nothing(
    served: Served, tmp_path: Path
) -> None:
    ledger = tmp_path / "crm.ledger"
    served.sandbox.faults = Faults(latency=0.05)
    first_done = threading.Event()
    results: dict[str, Any] = {}
    started = threading.Event()

    def noticed(event: ProgressEvent) -> None:
        started.set()

    def first() -> None:
        with Client("sk_test_served", served.base_url, **{**FAST, "max_concurrency": 1}) as api:
            results["first"] = upsert(
                contacts(500), client=api, ledger=ledger, only_changed=True, progress=noticed
            )
        first_done.set()

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert started.wait(10)
        with Client("sk_test_served", served.base_url, **FAST) as second:
            with pytest.raises(LedgerBusyError, match="in use by another run") as caught:
                upsert(
                    contacts(500), client=second, ledger=ledger, only_changed=True, progress=False
                )
            assert second.stats["requests"] == 0
        assert "process" in str(caught.value) and "nothing was sent" in str(caught.value)
        with pytest.raises(LedgerBusyError):
            Ledger(ledger).resolve("whatever", applied=False)
        assert not Ledger(ledger).destinations().empty  # readers never wait
    finally:
        thread.join(60)
    assert first_done.is_set()
    assert _statuses(results["first"]) == {"upserted": 500}
    with Client("sk_test_served", served.base_url, **FAST) as api:
        after = upsert(contacts(500), client=api, ledger=ledger, only_changed=True, progress=False)
    assert _statuses(after) == {"unchanged": 500}
    assert set(served.sandbox.write_counts.values()) == {1}


# -- resuming -----------------------------------------------------------------------------------


def test_an_interrupted_run_resends_its_calls_exactly_then_the_rest(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    ledger = tmp_path / "crm.ledger"
    df = contacts(1000)
    sandbox.faults = Faults(latency=0.12)  # slower than the progress throttle

    def stop(event: ProgressEvent) -> None:
        if event.done >= 300 and not event.finished:
            raise KeyboardInterrupt

    with (
        Client.sandbox(sandbox, **{**FAST, "max_concurrency": 3}) as api,
        pytest.raises(Interrupted) as info,
    ):
        upsert(df, client=api, ledger=ledger, only_changed=True, progress=stop)
    partial = info.value.result
    pending = Ledger(ledger).pending()
    assert len(pending) > 0  # in flight when stopped: recorded, no verdict
    recorded = {
        key: body for key, body in zip(pending.idempotency_key, pending["items"], strict=True)
    }
    sandbox.faults = Faults()
    seen = len(sandbox.requests)
    with Client.sandbox(sandbox, **FAST) as api:
        result = upsert(df, client=api, ledger=ledger, only_changed=True, progress=False)
    # The recorded calls went first, under their keys, with their exact items.
    resent = [r for r in sandbox.requests[seen:] if r.idempotency_key in recorded]
    assert len(resent) == len(recorded)
    for record in resent:
        items = [f"external_id:{u['external_id']}" for u in orjson.loads(record.body)]
        assert items == recorded[record.idempotency_key]
    first_keys = [r.idempotency_key for r in sandbox.requests[seen : seen + len(recorded)]]
    assert set(first_keys) == set(recorded)
    upserted_before = partial.status.eq("upserted")
    assert result.status[upserted_before.to_numpy()].eq("unchanged").all()
    assert result.status.isin(["upserted", "unchanged"]).all()
    assert set(sandbox.write_counts.values()) == {1}
    assert len(sandbox.write_counts) == 1000
    assert Ledger(ledger).pending().empty


def test_a_changed_row_of_an_unanswered_call_is_sent_with_its_new_values(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    ledger = tmp_path / "crm.ledger"
    df = contacts(10)
    with Client.sandbox(sandbox, **{**FAST, "max_attempts": 1}) as api:
        sandbox.inject("503", times=1, path="/users/batch")
        first = upsert(df, client=api, ledger=ledger, only_changed=True, progress=False)
    assert _statuses(first) == {"failed": 10}
    assert len(Ledger(ledger).pending()) == 1  # a 503 is no verdict: kept
    changed = df.copy()
    changed.loc[2, "score"] = 99
    with Client.sandbox(sandbox, **FAST) as api:
        second = upsert(changed, client=api, ledger=ledger, only_changed=True, progress=False)
    assert _statuses(second) == {"upserted": 10}
    assert sandbox.users["c2"]["data"]["score"] == 99  # the current values won
    assert Ledger(ledger).pending().empty


def test_item_bytes_are_the_bytes_in_the_bodies() -> None:
    df = contacts(40)
    df.loc[5, ["plan", "score"]] = [None, None]
    df["score"] = df["score"].astype("Int64")
    frame = df[["external_id", "plan"]].copy()
    frame.loc[[1, 2], "plan"] = None  # rows with no data value at all: no `data` key
    for data in (df, frame):
        prepared = prepare(data)
        body = prepared.body()
        assert _ledger.body_items(body) == prepared.items_at(np.arange(prepared.n_sendable))
        some = np.array([0, 1, 2, 5, 17, 39])
        assert prepared.items_at(some) == _ledger.body_items(prepared.body_at(some))


# -- triggers -----------------------------------------------------------------------------------


def test_a_confirmed_trigger_is_never_sent_again(
    client: Client, sandbox: Sandbox, tmp_path: Path
) -> None:
    ledger = tmp_path / "sends.ledger"
    df = contacts(12)
    first = trigger_campaign(df, 1, send_id="june", client=client, ledger=ledger, progress=False)
    assert _statuses(first) == {"triggered": 12}
    sandbox.reset()  # as if the server had forgotten its keys (24 hours later)
    seen = len(sandbox.requests)
    again = trigger_campaign(df, 1, send_id="june", client=client, ledger=ledger, progress=False)
    assert _statuses(again) == {"already_triggered": 12}
    assert sandbox.campaign_sends == [] and _sent_ids(sandbox, seen, "/campaigns/1/trigger") == []
    assert summary(again).ok

    # Changed data under the same send_id: still never twice, and said so.
    other = trigger_campaign(
        df.assign(tier="gold"),
        1,
        attributes=["tier"],
        send_id="june",
        client=client,
        ledger=ledger,
        progress=False,
    )
    assert _statuses(other) == {"already_triggered": 12}
    assert other.error_code.eq("already_sent_with_other_data").all()
    assert "new send_id" in other.error_message.iloc[0]
    # A new send_id, or another journey entrance, is another send.
    new = trigger_campaign(df, 1, send_id="july", client=client, ledger=ledger, progress=False)
    assert _statuses(new) == {"triggered": 12}
    for expected in ("triggered", "already_triggered"):
        entrance = trigger_journey(
            df,
            1,
            entrance_id=Sandbox.DEMO_ENTRANCES[1][0],
            client=client,
            ledger=ledger,
            progress=False,
        )
        assert _statuses(entrance) == {expected: 12}


def _failed_trigger(sandbox: Sandbox, ledger: Path, df: pd.DataFrame) -> pd.DataFrame:
    with Client.sandbox(sandbox, **{**FAST, "max_attempts": 1}) as api:
        sandbox.inject("drop", times=1, path="/campaigns/1/trigger")  # applied, answer lost
        return trigger_campaign(df, 1, send_id="s", client=api, ledger=ledger, progress=False)


def test_a_lost_trigger_answer_is_resent_under_its_key_within_a_day(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    ledger = tmp_path / "sends.ledger"
    df = contacts(1)
    first = _failed_trigger(sandbox, ledger, df)
    assert _statuses(first) == {"failed": 1}
    assert len(sandbox.campaign_sends) == 1  # it had arrived
    with Client.sandbox(sandbox, **FAST) as api:
        again = trigger_campaign(df, 1, send_id="s", client=api, ledger=ledger, progress=False)
    assert _statuses(again) == {"triggered": 1} and again.replayed.all()
    assert len(sandbox.campaign_sends) == 1


@pytest.mark.parametrize("why", ["older than a day", "keys not honoured"])
def test_a_trigger_that_may_have_arrived_is_held_until_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, why: str
) -> None:
    ledger = tmp_path / "sends.ledger"
    df = contacts(2)
    if why == "older than a day":
        sandbox = Sandbox()
        monkeypatch.setattr(_ledger, "SAFE_AGE", 0.0)

        def connect(**options: Any) -> Client:
            return Client.sandbox(sandbox, **{**FAST, **options})

    else:  # a self-hosted Parcelvoy: no Spotzee-Version echo, keys ignored
        sandbox = Sandbox(profile="parcelvoy", api_keys=["sk_test_pv"])
        warnings.simplefilter("ignore", IdempotencyNotHonouredWarning)

        def connect(**options: Any) -> Client:
            transport = sandbox.transport()
            url = "http://localhost/api/client"
            return Client("sk_test_pv", url, transport=transport, **{**FAST, **options})

    with connect(max_attempts=1) as api:
        sandbox.inject("drop", times=1, path="/campaigns/1/trigger")  # applied, answer lost
        first = trigger_campaign(df, 1, send_id="s", client=api, ledger=ledger, progress=False)
    assert first.status.astype(str).tolist() == ["failed", "triggered"]
    assert len(sandbox.campaign_sends) == 2
    with connect() as api:
        held = trigger_campaign(df, 1, send_id="s", client=api, ledger=ledger, progress=False)
    assert held.status.astype(str).tolist() == ["unconfirmed", "already_triggered"]
    assert held.loc[0, "error_code"] == "outcome_unknown"
    message = held.loc[0, "error_message"]
    assert "resolve(" in message and "could send it twice" in message
    assert ("Idempotency-Key" in message) is (why == "keys not honoured")
    assert not summary(held).ok
    assert len(sandbox.campaign_sends) == 2  # never twice, though this server would
    pending = Ledger(ledger).pending()
    assert len(pending) == 1 and pending["items"][0] == [pending.idempotency_key[0]]
    assert bool(pending.expired[0]) is (why == "older than a day")

    # It did arrive: say so, and it is never sent.
    assert Ledger(ledger).resolve(pending.idempotency_key[0], applied=True) == 1
    with connect() as api:
        after = trigger_campaign(df, 1, send_id="s", client=api, ledger=ledger, progress=False)
    assert _statuses(after) == {"already_triggered": 2}
    assert len(sandbox.campaign_sends) == 2
    with pytest.raises(ValidationError, match="no pending call"):
        Ledger(ledger).resolve(pending.idempotency_key[0], applied=True)


def test_an_unanswered_event_batch_to_a_server_that_ignores_keys_is_held(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "events.ledger"
    sandbox = Sandbox(profile="parcelvoy", api_keys=["sk_test_pv"])
    warnings.simplefilter("ignore", IdempotencyNotHonouredWarning)
    events = pd.DataFrame({"external_id": ["a", "b"], "amount": [1, 2]})
    url = "http://localhost/api/client"
    stored = len(sandbox.events)
    with Client("sk_test_pv", url, transport=sandbox.transport(), **FAST) as api:
        sandbox.inject("drop", times=1, path="/events")
        first = track(events, "paid", client=api, ledger=ledger, progress=False)
    assert _statuses(first) == {"failed": 2} and len(sandbox.events) == stored + 2
    # A client that has had no answer yet asks first (a read), so it neither retries a
    # lost write nor resends a recorded one to a server that would apply it again.
    with Client("sk_test_pv", url, transport=sandbox.transport(), **FAST) as api:
        again = track(events, "paid", client=api, ledger=ledger, progress=False)
        assert api.stats["requests"] == 1
    assert _statuses(again) == {"unconfirmed": 2}
    assert len(sandbox.events) == stored + 2


def test_resolving_a_held_trigger_as_not_applied_sends_it(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = tmp_path / "sends.ledger"
    df = contacts(1)
    with Client.sandbox(sandbox, **{**FAST, "max_attempts": 1}) as api:
        sandbox.inject("503", times=1, path="/campaigns/1/trigger")  # not applied
        trigger_campaign(df, 1, send_id="s", client=api, ledger=ledger, progress=False)
    monkeypatch.setattr(_ledger, "SAFE_AGE", 0.0)
    key = Ledger(ledger).pending().idempotency_key[0]
    assert Ledger(ledger).resolve(key, applied=False) == 1
    with Client.sandbox(sandbox, **FAST) as api:
        result = trigger_campaign(df, 1, send_id="s", client=api, ledger=ledger, progress=False)
    assert _statuses(result) == {"triggered": 1}
    assert len(sandbox.campaign_sends) == 1


def test_a_dry_run_of_a_trigger_shows_what_the_ledger_keeps_back(
    client: Client, tmp_path: Path
) -> None:
    ledger = tmp_path / "sends.ledger"
    trigger_campaign(contacts(3), 1, send_id="a", client=client, ledger=ledger, progress=False)
    dry = trigger_campaign(contacts(5), 1, send_id="a", client=client, ledger=ledger, dry_run=True)
    assert dry.status.astype(str).tolist() == ["already_triggered"] * 3 + ["valid"] * 2


# -- inspection ---------------------------------------------------------------------------------


def test_the_ledger_reads_as_frames(client: Client, tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "crm.ledger")
    start = time.time()
    upsert(contacts(5), client=client, ledger=ledger, progress=False)
    destinations = ledger.destinations()
    assert destinations.route.tolist() == ["POST /users/batch"]
    assert destinations.base_url.tolist() == ["http://localhost/api/client"]
    assert destinations.confirmed.tolist() == [5] and destinations.pending.tolist() == [0]
    assert str(destinations.last_confirmed_at.dtype) == "datetime64[ns, UTC]"
    confirmed = ledger.confirmed(route="POST /users/batch")
    assert sorted(confirmed.item) == [f"external_id:c{k}" for k in range(5)]
    assert confirmed.hash.dtype == "Int64"
    assert (confirmed.confirmed_at >= pd.Timestamp(start, unit="s", tz="UTC")).all()
    assert ledger.confirmed(route="PATCH /users").empty
    assert repr(ledger) == f"Ledger({str(ledger.path)!r})"


# -- events -------------------------------------------------------------------------------------


def test_a_confirmed_event_is_never_sent_again(
    client: Client, sandbox: Sandbox, tmp_path: Path
) -> None:
    ledger = tmp_path / "events.ledger"
    events = pd.DataFrame(
        {
            "external_id": ["a", "b", "a"],
            "amount": [10, 20, 30],
            "created_at": pd.to_datetime(
                ["2026-05-01 10:00", "2026-05-01 11:00", "2026-05-02 09:00"], utc=True
            ),
        }
    )
    first = track(events, "order_placed", client=client, ledger=ledger, progress=False)
    assert _statuses(first) == {"queued": 3}
    sandbox.reset()  # as if the server had forgotten its keys
    more = pd.concat([events, events.iloc[[0]].assign(amount=11)], ignore_index=True)
    again = track(more, "order_placed", client=client, ledger=ledger, progress=False)
    assert again.status.astype(str).tolist() == ["already_tracked"] * 3 + ["queued"]
    assert [e["data"]["amount"] for e in sandbox.events] == [11]
    assert summary(again).ok and "1 queued, 3 already_tracked" in str(summary(again))


def test_the_cli_keeps_a_ledger_for_triggers_and_events(served: Served, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from spotzee_frames._cli import cli

    path = tmp_path / "audience.csv"
    contacts(4).to_csv(path, index=False)
    env = {"SPOTZEE_API_KEY": "sk_test_cli", "SPOTZEE_BASE_URL": served.base_url}
    ledger = str(tmp_path / "sends.ledger")
    trigger = ["trigger-campaign", "1", str(path), "--send-id", "june", "--ledger", ledger]
    track_args = ["track", str(path), "--name", "visited", "--ledger", ledger]
    for args, done, again in (
        (trigger, "4 triggered", "4 already_triggered"),
        (track_args, "4 queued", "4 already_tracked"),
    ):
        first = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
        assert first.exit_code == 0 and done in first.stdout, first.output
        served.sandbox.reset()  # the server forgets its keys: the ledger does not
        second = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
        assert second.exit_code == 0 and again in second.stdout, second.output
    assert served.sandbox.campaign_sends == [] and served.sandbox.events == []
