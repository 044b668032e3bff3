"""trigger_campaign / trigger_journey against the sandbox: what was sent, exactly once."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest

import spotzee_frames  # noqa: F401  (registers df.spotzee)
from spotzee_frames import (
    API_VERSION,
    APIError,
    AuthenticationError,
    Client,
    Interrupted,
    NotFoundError,
    NumericIdWarning,
    TargetStateError,
    ValidationError,
)
from spotzee_frames._listing import schedule_campaign
from spotzee_frames._progress import ProgressEvent
from spotzee_frames._trigger import idempotency_key, trigger_campaign, trigger_journey
from spotzee_frames.sandbox import DEMO_ENTRANCES, Sandbox

from .conftest import FAST, Served, problem

RESULT_COLUMNS = [
    "status",
    "error_code",
    "error_field",
    "error_message",
    "external_id",
    "attempts",
    "request_id",
    "replayed",
]


def _campaign(sb: Sandbox, *, state: str, kind: str = "trigger") -> int:
    return next(
        cid for cid, c in sorted(sb.campaigns.items()) if c["state"] == state and c["type"] == kind
    )


def _journey(sb: Sandbox, status: str) -> int:
    return next(jid for jid, j in sorted(sb.journeys.items()) if j["status"] == status)


def _audience(n: int = 40) -> pd.DataFrame:
    ids = np.arange(1, n + 1)
    return pd.DataFrame(
        {
            "external_id": [str(k) for k in ids],  # ids as text, as read_file gives them
            "email": [f"user{k}@example.com" for k in ids],
            "plan": ["pro" if k % 3 else "free" for k in ids],
            "score": ids * 1.5,
            "internal_note": [f"do not send {k}" for k in ids],
        },
        index=pd.Index([f"row{k}" for k in ids], name="label"),
    )


def _posts(sb: Sandbox) -> list[Any]:
    return [r for r in sb.requests if r.method == "POST"]


def _sends_by_user(sb: Sandbox, campaign_id: int) -> Counter[str]:
    return Counter(s["external_id"] for s in sb.campaign_sends if s["campaign_id"] == campaign_id)


def test_filtered_frame_under_faults_sends_exactly_once(sandbox: Sandbox, client: Client) -> None:
    cid = _campaign(sandbox, state="running")
    df = _audience()
    pro = df[df.plan == "pro"]
    path = f"/campaigns/{cid}/trigger"
    sandbox.inject("503", times=5, path=path)
    sandbox.inject("drop", times=5, path=path)
    sandbox.faults.failure_rate = 0.15
    sandbox.faults.drop_rate = 0.15

    result = pro.spotzee.trigger_campaign(cid, attributes=["plan"], client=client, progress=False)

    assert list(result.columns) == RESULT_COLUMNS
    assert result.index.equals(pro.index)
    assert (result["status"] == "triggered").all(), result[result.status != "triggered"]
    sends = _sends_by_user(sandbox, cid)
    assert sends == Counter(str(k) for k in pro["external_id"])  # one each, free rows none
    assert (result["attempts"] > 1).sum() >= 10  # the faults really struck
    assert result["replayed"].any()  # a dropped response was recovered by a replay
    assert result["external_id"].tolist() == [str(k) for k in pro["external_id"]]
    assert result["request_id"].str.startswith("req_").all()

    # re-running the cell sends nothing new
    sandbox.faults.failure_rate = sandbox.faults.drop_rate = 0.0
    again = pro.spotzee.trigger_campaign(cid, attributes=["plan"], client=client, progress=False)
    assert (again["status"] == "triggered").all()
    assert again["replayed"].all()
    assert _sends_by_user(sandbox, cid) == sends

    # a new send_id deliberately sends again, once
    fresh = trigger_campaign(
        pro, cid, attributes=["plan"], send_id="2026-05-promo", client=client, progress=False
    )
    assert (fresh["status"] == "triggered").all()
    assert not fresh["replayed"].any()
    assert _sends_by_user(sandbox, cid) == Counter({k: 2 for k in sends})


def test_served_over_the_network_with_drops(served: Served) -> None:
    sb, client = served.sandbox, served.client
    cid = _campaign(sb, state="running")
    df = _audience(30)
    sb.inject("drop", times=8, path=f"/campaigns/{cid}/trigger")
    sb.inject("html502", times=3, path=f"/campaigns/{cid}/trigger")
    result = trigger_campaign(df, cid, client=client, progress=False)
    assert (result["status"] == "triggered").all()
    assert _sends_by_user(sb, cid) == Counter(str(k) for k in df["external_id"])


def test_user_object_has_first_class_fields_and_only_named_attributes(
    sandbox: Sandbox, client: Client
) -> None:
    cid = _campaign(sandbox, state="running")
    df = pd.DataFrame(
        {
            "CustomerID": [17, 18],
            "Mail": ["  Ann@Example.COM ", "bob@example.com"],
            "phone": ["+61 400 123 456", None],
            "timezone": ["australia/sydney", None],
            "locale": ["en_AU", "fr-fr"],
            "plan": pd.Series(["pro", None], dtype="string"),
            "ltv": [10.5, np.nan],
            "secret": ["x", "y"],
        }
    )
    # Integer ids are sent as their text, with a warning that their zeros may be gone.
    with pytest.warns(NumericIdWarning, match="column 'CustomerID'"):
        result = trigger_campaign(
            df,
            cid,
            mapping={"CustomerID": "external_id", "Mail": "email"},
            attributes={"plan": "plan", "ltv": "lifetime_value"},
            client=client,
            progress=False,
        )
    assert result["status"].tolist() == ["triggered", "triggered"]
    users = {s["external_id"]: s["user"] for s in sandbox.campaign_sends}
    assert users["17"] == {
        "external_id": "17",
        "email": "Ann@example.com",
        "phone": "+61400123456",
        "timezone": "Australia/Sydney",
        "locale": "en-AU",
        "plan": "pro",
        "lifetime_value": 10.5,
    }
    # missing values are left out, never sent as null or "nan"
    assert users["18"] == {"external_id": "18", "email": "bob@example.com", "locale": "fr-FR"}
    stored = sandbox.get_user("17")
    assert stored is not None
    assert stored["data"] == {"plan": "pro", "lifetime_value": 10.5}
    assert "secret" not in str(sandbox.campaign_sends)
    assert all(s["event"] == {} for s in sandbox.campaign_sends)  # event always sent


def test_invalid_rows_are_not_sent(sandbox: Sandbox, client: Client) -> None:
    cid = _campaign(sandbox, state="running")
    df = pd.DataFrame(
        {
            "external_id": ["a1", None, "a3", "  ", "a5", 6.5],
            "email": ["a1@example.com", "x@example.com", "not-an-email", None, None, None],
            "ratio": [1.0, 1.0, 1.0, 1.0, np.inf, 1.0],
        },
        index=[10, 10, 11, 12, 13, 14],  # duplicate labels
    )
    result = trigger_campaign(df, cid, attributes=["ratio"], client=client, progress=False)
    assert result.index.equals(df.index)
    assert result["status"].tolist() == [
        "triggered",
        "invalid",
        "invalid",
        "invalid",
        "invalid",
        "invalid",
    ]
    assert result["error_code"].iloc[1] == "parameter_missing"
    assert result["error_field"].iloc[2] == "email"
    assert "not-an-email" in result["error_message"].iloc[2]
    assert result["error_code"].iloc[4] == "value_not_encodable"
    assert "ratio" in result["error_message"].iloc[4]
    assert result["error_field"].iloc[5] == "external_id"
    assert result["attempts"].iloc[1:].isna().all()
    assert [s["external_id"] for s in sandbox.campaign_sends] == ["a1"]


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"coupon": "SPRING", "amount": np.int64(5)}, [{"coupon": "SPRING", "amount": 5}] * 2),
        (
            ["order_id", "shipped_at", "total"],
            [
                {"order_id": 501, "shipped_at": "2026-05-01T10:00:00", "total": 9.5},
                {"order_id": 502},  # missing values are left out
            ],
        ),
        (
            lambda row: {"greeting": f"hi {row['name']}", "n": row["order_id"]},
            [{"greeting": "hi Ann", "n": 501}, {"greeting": "hi Bob", "n": 502}],
        ),
    ],
    ids=["dict", "columns", "callable"],
)
def test_event_forms(
    sandbox: Sandbox, client: Client, event: Any, expected: list[dict[str, Any]]
) -> None:
    cid = _campaign(sandbox, state="running")
    df = pd.DataFrame(
        {
            "external_id": ["e1", "e2"],
            "name": ["Ann", "Bob"],
            "order_id": pd.array([501, 502], dtype="Int64"),
            "shipped_at": [pd.Timestamp("2026-05-01 10:00"), pd.NaT],
            "total": [9.5, np.nan],
        }
    )
    result = trigger_campaign(df, cid, event=event, client=client, progress=False)
    assert (result["status"] == "triggered").all()
    events = {s["external_id"]: s["event"] for s in sandbox.campaign_sends}
    assert [events["e1"], events["e2"]] == expected
    # event columns are not user attributes
    assert all(set(s["user"]) == {"external_id"} for s in sandbox.campaign_sends)


def test_event_callable_failure_is_a_row_failure(sandbox: Sandbox, client: Client) -> None:
    cid = _campaign(sandbox, state="running")
    df = pd.DataFrame({"external_id": ["k1", "k2", "k3"], "qty": [2, 0, 1]})

    def event(row: pd.Series) -> dict[str, Any]:
        per = 10 // int(row["qty"])
        return {"per": per, "raw": b"x"} if per == 10 else {"per": per}

    result = trigger_campaign(df, cid, event=event, client=client, progress=False)
    assert result["status"].tolist() == ["triggered", "invalid", "invalid"]
    assert result["error_code"].tolist()[1:] == ["event_callable_failed", "value_not_encodable"]
    assert "ZeroDivisionError" in result["error_message"].iloc[1]
    assert "bytes" in result["error_message"].iloc[2]
    assert [s["event"] for s in sandbox.campaign_sends] == [{"per": 5}]


def test_bad_arguments_are_refused_before_any_request(sandbox: Sandbox, client: Client) -> None:
    cid = _campaign(sandbox, state="running")
    df = pd.DataFrame({"external_id": ["a"], "plan": ["pro"], "email": ["a@example.com"]})
    cases: list[dict[str, Any]] = [
        {"attributes": ["nope"]},
        {"attributes": "plan"},
        {"attributes": {"plan": "email"}},  # clashes with a first-class field
        {"mapping": {"plan": "data.plan"}},  # custom attributes only via attributes=
        {"mapping": {"plan": "anonymous_id"}},
        {"event": "plan"},
        {"event": ["nope"]},
        {"event": {"when": b"bytes"}},
        {"send_id": ""},
        {"dry_run": "yes"},
        {"duplicates": "all"},
        {"max_recipients": 0},
    ]
    for kwargs in cases:
        with pytest.raises(ValidationError):
            trigger_campaign(df, cid, client=client, progress=False, **kwargs)
    with pytest.raises(ValidationError, match="external_id"):
        trigger_campaign(df.drop(columns="external_id"), cid, client=client, progress=False)
    assert sandbox.requests == []


def test_max_recipients_guard(sandbox: Sandbox, client: Client) -> None:
    cid = _campaign(sandbox, state="running")
    df = _audience(12)
    with pytest.raises(ValidationError, match="max_recipients=12"):
        trigger_campaign(df, cid, max_recipients=10, client=client, progress=False)
    assert sandbox.requests == []
    result = trigger_campaign(df, cid, max_recipients=12, client=client, progress=False)
    assert (result["status"] == "triggered").all()
    assert len(sandbox.campaign_sends) == 12


def test_draft_campaign_is_refused_and_nothing_sent(sandbox: Sandbox, client: Client) -> None:
    cid = _campaign(sandbox, state="draft")
    with pytest.raises(TargetStateError, match=rf"schedule_campaign\({cid}\)") as info:
        trigger_campaign(_audience(5), cid, client=client, progress=False)
    assert info.value.state == "draft"
    assert _posts(sandbox) == []
    assert sandbox.campaign_sends == []
    # the fix the message names works
    schedule_campaign(cid, client=client)
    result = trigger_campaign(_audience(5), cid, client=client, progress=False)
    assert (result["status"] == "triggered").all()


def test_blast_campaign_is_refused(sandbox: Sandbox, client: Client) -> None:
    cid = _campaign(sandbox, state="running", kind="blast")
    with pytest.raises(TargetStateError, match="blast"):
        trigger_campaign(_audience(5), cid, client=client, progress=False)
    assert _posts(sandbox) == []


def test_unknown_campaign_raises_not_found(sandbox: Sandbox, client: Client) -> None:
    with pytest.raises(NotFoundError):
        trigger_campaign(_audience(5), 9999, client=client, progress=False)
    assert _posts(sandbox) == []


@pytest.mark.parametrize("status", ["draft", "off"])
def test_journey_not_live_is_refused(sandbox: Sandbox, client: Client, status: str) -> None:
    jid = _journey(sandbox, status)
    entrance = DEMO_ENTRANCES[jid][0]
    with pytest.raises(TargetStateError, match="live") as info:
        trigger_journey(_audience(5), jid, entrance_id=entrance, client=client, progress=False)
    assert info.value.state == status
    assert _posts(sandbox) == []
    assert sandbox.journey_entrances == []


def test_journey_entrances(sandbox: Sandbox, client: Client) -> None:
    jid = next(
        j
        for j, e in DEMO_ENTRANCES.items()
        if len(e) > 1 and sandbox.journeys[j]["status"] == "live"
    )
    second = DEMO_ENTRANCES[jid][1]
    df = _audience(6)
    result = df.spotzee.trigger_journey(
        jid, entrance_id=second, event=["score"], client=client, progress=False
    )
    assert (result["status"] == "triggered").all()
    entrances = sandbox.journey_entrances
    assert sorted(e["external_id"] for e in entrances) == [str(k) for k in range(1, 7)]
    assert {e["entrance_id"] for e in entrances} == {second}
    assert {e["journey_id"] for e in entrances} == {jid}
    assert entrances[0]["event"] == {"score": float(entrances[0]["external_id"]) * 1.5}
    keys = {e["idempotency_key"] for e in entrances}
    assert all(k.startswith(f"jny:{jid}:{second}:") for k in keys) and len(keys) == 6

    # no event: null, as the contract allows for journeys
    plain = trigger_journey(
        df.iloc[:1], jid, entrance_id=DEMO_ENTRANCES[jid][0], client=client, progress=False
    )
    assert plain["status"].tolist() == ["triggered"]
    assert sandbox.journey_entrances[-1]["event"] is None

    # an entrance the journey does not have: every row rejected by the server, none failed
    bad = trigger_journey(df, jid, entrance_id=99999, client=client, progress=False)
    assert (bad["status"] == "rejected").all()
    assert set(bad["error_code"]) == {"validation_failed"}
    assert len(sandbox.journey_entrances) == 7
    with pytest.raises(ValidationError):
        trigger_journey(df, jid, entrance_id=0, client=client, progress=False)


def test_idempotency_key_format_and_length(sandbox: Sandbox, client: Client) -> None:
    cid = _campaign(sandbox, state="running")
    assert idempotency_key("cmp:3", "cust_1", "launch", b"{}") == "cmp:3:cust_1:launch"
    assert idempotency_key("jny:2:201", "cust_1", "launch", b"{}") == "jny:2:201:cust_1:launch"
    # ":" is escaped, so these two users cannot share a key
    assert idempotency_key("cmp:3", "a:b", "c", b"{}") != idempotency_key(
        "cmp:3", "a", "b:c", b"{}"
    )
    unsent = idempotency_key("cmp:3", "u", None, b'{"event":{},"user":{"external_id":"u"}}')
    assert unsent.startswith("cmp:3:u:#") and len(unsent) == len("cmp:3:u:#") + 64

    # the longest ids the server takes (255), escaped characters that grow 3-6x, and a
    # send_id far longer than a key may be
    long_ids = ["x" * 255, "y" * 200 + ":z" * 20, "ü" * 120, "plain"]
    df = pd.DataFrame({"external_id": long_ids})
    for send_id in (None, "s" * 400):
        result = trigger_campaign(df, cid, send_id=send_id, client=client, progress=False)
        assert (result["status"] == "triggered").all()
    keys = [r.idempotency_key for r in _posts(sandbox)]
    assert len(keys) == 8
    assert all(k is not None and 0 < len(k) <= 255 and k.isascii() for k in keys)
    assert len(set(keys)) == 8
    assert sorted(s["external_id"] for s in sandbox.campaign_sends) == sorted(long_ids * 2)


def test_send_id_reused_with_different_data_is_rejected(sandbox: Sandbox, client: Client) -> None:
    cid = _campaign(sandbox, state="running")
    df = pd.DataFrame({"external_id": ["m1", "m2"], "plan": ["pro", "pro"]})
    first = trigger_campaign(
        df, cid, attributes=["plan"], send_id="wave-1", client=client, progress=False
    )
    assert (first["status"] == "triggered").all()
    df.loc[1, "plan"] = "free"
    second = trigger_campaign(
        df, cid, attributes=["plan"], send_id="wave-1", client=client, progress=False
    )
    assert second["status"].tolist() == ["triggered", "rejected"]
    assert second["replayed"].tolist()[0] is True
    assert second["error_code"].iloc[1] == "idempotency_key_mismatch"
    assert "send_id='wave-1' was already used" in second["error_message"].iloc[1]
    assert len(sandbox.campaign_sends) == 2


def test_duplicate_external_ids(sandbox: Sandbox, client: Client) -> None:
    cid = _campaign(sandbox, state="running")
    df = pd.DataFrame(
        {
            "external_id": ["d1", "d1", "d2", "d2", "d3"],
            "plan": ["pro", "pro", "pro", "free", "pro"],
        }
    )
    result = trigger_campaign(df, cid, attributes=["plan"], client=client, progress=False)
    assert result["status"].tolist() == ["triggered", "skipped", "invalid", "invalid", "triggered"]
    assert set(result["error_code"].dropna()) == {"duplicate_external_id"}
    assert sorted(s["external_id"] for s in sandbox.campaign_sends) == ["d1", "d3"]
    last = trigger_campaign(
        df, cid, attributes=["plan"], duplicates="last", client=client, progress=False
    )
    assert last["status"].tolist()[2:4] == ["skipped", "triggered"]
    assert [s["user"]["plan"] for s in sandbox.campaign_sends if s["external_id"] == "d2"] == [
        "free"
    ]


def test_dry_run_sends_nothing(sandbox: Sandbox, client: Client) -> None:
    cid = _campaign(sandbox, state="running")
    df = pd.DataFrame({"external_id": ["v1", None], "email": ["v1@example.com", None]})
    result = trigger_campaign(df, cid, dry_run=True, client=client, progress=False)
    assert result["status"].tolist() == ["valid", "invalid"]
    assert _posts(sandbox) == []
    draft = _campaign(sandbox, state="draft")
    with pytest.raises(TargetStateError):
        trigger_campaign(df, draft, dry_run=True, client=client, progress=False)


def test_server_refusals_and_failures_do_not_stop_the_rest(sandbox: Sandbox) -> None:
    cid = _campaign(sandbox, state="running")
    client = Client.sandbox(sandbox, **{**FAST, "max_attempts": 2})
    try:
        sandbox.faults.failure_rate = 0.5
        df = _audience(40)
        result = trigger_campaign(df, cid, client=client, progress=False)
    finally:
        client.close()
    failed = result[result["status"] == "failed"]
    assert 0 < len(failed) < 40
    assert set(failed["error_code"]) == {"service_unavailable"}
    assert (failed["attempts"] == 2).all()
    triggered = result[result["status"] == "triggered"]
    assert len(failed) + len(triggered) == 40
    assert sorted(s["external_id"] for s in sandbox.campaign_sends) == sorted(
        triggered["external_id"]
    )
    # the failed rows are safe to send again: just those
    sandbox.faults.failure_rate = 0.0
    with Client.sandbox(sandbox, **FAST) as again:
        retry = trigger_campaign(df.loc[failed.index], cid, client=again, progress=False)
    assert (retry["status"] == "triggered").all()
    assert _sends_by_user(sandbox, cid) == Counter(str(k) for k in df["external_id"])


def test_progress_and_interrupt_then_rerun(sandbox: Sandbox) -> None:
    cid = _campaign(sandbox, state="running")
    sandbox.faults.latency = 0.01
    client = Client.sandbox(sandbox, **FAST, max_concurrency=2)
    df = _audience(30)
    seen: list[ProgressEvent] = []

    def stop_after_first(event: ProgressEvent) -> None:
        seen.append(event)
        if event.done >= 1 and not event.finished:
            raise KeyboardInterrupt

    try:
        with pytest.raises(Interrupted) as info:
            trigger_campaign(df, cid, client=client, progress=stop_after_first)
        partial = info.value.result
        assert isinstance(partial, pd.DataFrame)
        assert partial.index.equals(df.index)
        statuses = Counter(partial["status"])
        assert statuses["triggered"] >= 1
        assert statuses["interrupted"] >= 20
        assert seen[0].total == 30

        done: list[ProgressEvent] = []
        result = trigger_campaign(df, cid, client=client, progress=done.append)
    finally:
        client.close()
    assert (result["status"] == "triggered").all()
    assert done[-1].finished and done[-1].done == 30
    assert _sends_by_user(sandbox, cid) == Counter(str(k) for k in df["external_id"])


def test_empty_frame(sandbox: Sandbox, client: Client) -> None:
    cid = _campaign(sandbox, state="running")
    result = trigger_campaign(_audience(0), cid, client=client, progress=False)
    assert len(result) == 0
    assert list(result.columns) == RESULT_COLUMNS
    assert _posts(sandbox) == []


def test_bodies_are_stable_across_runs(sandbox: Sandbox, client: Client) -> None:
    """The same frame gives byte-identical bodies (sorted keys), hence the same keys."""
    cid = _campaign(sandbox, state="running")
    df = pd.DataFrame(
        {
            "external_id": ["b1"],
            "z_attr": [dt.date(2026, 1, 2)],
            "a_attr": [{"nested": {"b": 1, "a": 2}}],
        }
    )
    for _ in range(2):
        trigger_campaign(
            df, cid, attributes=["z_attr", "a_attr"], send_id="s", client=client, progress=False
        )
    bodies = [r.body for r in _posts(sandbox)]
    assert bodies[0] == bodies[1]
    assert orjson.loads(bodies[0])["user"] == {
        "a_attr": {"nested": {"a": 2, "b": 1}},
        "external_id": "b1",
        "z_attr": "2026-01-02",
    }
    assert len(sandbox.campaign_sends) == 1


# -- quirky answers ------------------------------------------------------------------------------


def _on_sends(
    change: Callable[[httpx.Response, bytes], httpx.Response],
) -> Callable[..., httpx.Response]:
    """A `tampered` edit that rewrites the answers to trigger POSTs only."""

    def edit(request: httpx.Request, response: httpx.Response, body: bytes) -> httpx.Response:
        if request.method != "POST":
            return httpx.Response(response.status_code, headers=response.headers, content=body)
        return change(response, body)

    return edit


@pytest.mark.parametrize(
    ("answer", "status", "code"),
    [
        (
            httpx.Response(307, headers={"Location": "https://elsewhere.example/"}),
            "failed",
            "http_error",
        ),
        (httpx.Response(200, content=b"<html>sent?</html>"), "failed", "invalid_response"),
        (
            httpx.Response(200, json={"success": "false", "code": "suppressed"}),
            "rejected",
            "suppressed",
        ),
        (
            httpx.Response(200, json={"status": "error", "message": ["no"]}),
            "rejected",
            "unsuccessful",
        ),
    ],
)
def test_answers_that_are_no_send_are_never_triggered(
    sandbox: Sandbox, tampered: Any, answer: httpx.Response, status: str, code: str
) -> None:
    cid = _campaign(sandbox, state="running")
    answer.headers["Spotzee-Version"] = API_VERSION  # Spotzee answering oddly, not Parcelvoy
    client = tampered(_on_sends(lambda response, body: answer), max_attempts=2)
    result = trigger_campaign(_audience(3), cid, client=client, progress=False)
    assert result.status.astype(str).tolist() == [status] * 3
    assert result.error_code.tolist() == [code] * 3
    assert result.error_message.map(type).eq(str).all()


def test_a_key_revoked_mid_run_says_who_was_already_sent_to(
    sandbox: Sandbox, tampered: Any
) -> None:
    cid = _campaign(sandbox, state="running")
    sent = {"n": 0}

    def revoke_after_two(response: httpx.Response, body: bytes) -> httpx.Response:
        sent["n"] += 1
        if sent["n"] > 2:
            return problem(401, "authentication_required", "key revoked")
        return httpx.Response(response.status_code, headers=response.headers, content=body)

    client = tampered(_on_sends(revoke_after_two), max_concurrency=1)
    with pytest.raises(AuthenticationError) as caught:
        trigger_campaign(_audience(6), cid, client=client, progress=False)
    partial = caught.value.result
    assert list(partial.index) == list(_audience(6).index)
    assert partial.status.astype(str).tolist()[:2] == ["triggered", "triggered"]
    assert "triggered" not in partial.status.astype(str).tolist()[2:]


def test_a_campaign_look_up_that_is_no_campaign_sends_nothing(
    sandbox: Sandbox, tampered: Any
) -> None:
    def listish(request: httpx.Request, response: httpx.Response, body: bytes) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=[{"id": 1}])
        return httpx.Response(response.status_code, headers=response.headers, content=body)

    cid = _campaign(sandbox, state="draft")
    with pytest.raises(APIError, match="not a campaign object"):
        trigger_campaign(_audience(2), cid, client=tampered(listish), progress=False)
    assert _posts(sandbox) == []


def test_more_caller_mistakes_are_validation_errors(sandbox: Sandbox, client: Client) -> None:
    cid = _campaign(sandbox, state="running")
    jid = _journey(sandbox, "live")
    df = _audience(2)
    for call in (
        lambda: trigger_campaign(df, cid, default_region=5, client=client),  # type: ignore[arg-type]
        lambda: trigger_campaign(df, cid, default_region="ZZZ", client=client),
        lambda: trigger_campaign(df, cid, attributes=[["plan"]], client=client),  # type: ignore[list-item]
        lambda: trigger_journey(df, jid, entrance_id=10**30, client=client),
    ):
        with pytest.raises(ValidationError):
            call()
    assert _posts(sandbox) == []


def test_missing_event_values_are_left_out_in_every_event_form(
    sandbox: Sandbox, client: Client
) -> None:
    """A dict, a list of columns and a callable over the same data send the same event,
    so a re-run in another form replays instead of sending again."""
    cid = _campaign(sandbox, state="running")
    df = pd.DataFrame({"external_id": ["u1"], "a": [np.nan], "t": [pd.NaT], "b": [1]})
    forms: list[Any] = [
        {"a": np.nan, "t": pd.NaT, "b": 1, "nested": {"x": np.nan}},
        lambda row: {"a": row.a, "t": row.t, "b": row.b, "nested": {"x": np.nan}},
    ]
    first = trigger_campaign(df, cid, event=forms[0], client=client, progress=False)
    second = trigger_campaign(df, cid, event=forms[1], client=client, progress=False)
    assert first.status.tolist() == second.status.tolist() == ["triggered"]
    assert second.replayed.tolist() == [True]
    sends = [s for s in sandbox.campaign_sends if s["campaign_id"] == cid]
    assert len(sends) == 1
    assert sends[0]["event"] == {"b": 1, "nested": {"x": None}}  # null only inside
    columns = trigger_campaign(df, cid, event=["a", "t", "b"], client=client, progress=False)
    assert columns.status.tolist() == ["triggered"]


def test_integers_past_2_53_in_attributes_and_events(sandbox: Sandbox, client: Client) -> None:
    """They would reach a server that reads doubles as another number: the row is held
    back by default, or the value sent as exact text with big_ints="string"."""
    cid = _campaign(sandbox, state="running")
    big = 2**53 + 1
    df = pd.DataFrame({"external_id": ["u1", "u2"], "order": [big, 2], "ref": [3, big]})
    held = trigger_campaign(
        df, cid, attributes=["order"], event=["ref"], client=client, progress=False
    )
    assert held.status.tolist() == ["invalid", "invalid"]
    assert held.error_field.tolist() == ["order", "event.ref"]
    assert held.error_message.str.contains("is past 2\\*\\*53").all()
    assert _posts(sandbox) == []
    sent = trigger_campaign(
        df,
        cid,
        attributes=["order"],
        event=["ref"],
        big_ints="string",
        client=client,
        progress=False,
    )
    assert sent.status.tolist() == ["triggered", "triggered"]
    users = {s["external_id"]: s for s in sandbox.campaign_sends}
    assert users["u1"]["user"]["order"] == str(big) and users["u2"]["event"] == {"ref": str(big)}
    with pytest.raises(ValidationError, match="event cannot be sent as JSON"):
        trigger_campaign(df, cid, event={"order": big}, client=client)
    jid = next(j for j, e in DEMO_ENTRANCES.items() if sandbox.journeys[j]["status"] == "live")
    with pytest.raises(ValidationError, match="entrance_id 9007199254740993 is beyond 2"):
        trigger_journey(df, jid, entrance_id=big, client=client)
