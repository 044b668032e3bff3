"""The toolkit against a self-hosted Parcelvoy (the sandbox's `parcelvoy` profile), used
as a Parcelvoy user would; and, run on both profiles, what must hold on either server."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

import spotzee_frames as sf
from spotzee_frames import (
    APIError,
    AuthenticationError,
    Client,
    IdempotencyNotHonouredWarning,
    MissingRouteError,
    NotFoundError,
    TargetStateError,
)
from spotzee_frames._cli import cli
from spotzee_frames._warnings import IDEMPOTENCY_NOT_HONOURED
from spotzee_frames.sandbox import PROFILES, Sandbox

from .conftest import FAST

KEY = "sk_test_parcelvoy_user"
BASE = "http://localhost/api/client"


def _client(sb: Sandbox, *, key: str = KEY, base_url: str = BASE, **options: Any) -> Client:
    return Client(key, base_url, transport=sb.transport(), **{**FAST, **options})


@pytest.fixture
def pv() -> Sandbox:
    return Sandbox(profile="parcelvoy", api_keys=[KEY])


@pytest.fixture
def client(pv: Sandbox) -> Iterator[Client]:
    with _client(pv) as c:
        yield c


@pytest.fixture(params=PROFILES)
def either(request: pytest.FixtureRequest) -> Iterator[tuple[Sandbox, Client]]:
    """A sandbox of each profile and a client of it (the Parcelvoy warning let through)."""
    if request.param == "parcelvoy":
        warnings.filterwarnings("ignore", category=IdempotencyNotHonouredWarning)
    sb = Sandbox(profile=request.param, api_keys=[KEY])
    with _client(sb) as c:
        yield sb, c


def _contacts(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "external_id": [f"c{k:03d}" for k in range(n)],
            "email": [f"c{k}@example.com" for k in range(n)],
            "phone": [f"0412 345 {k:03d}" for k in range(n)],  # national: default_region
            "plan": ["pro" if k % 3 else "free" for k in range(n)],
            "visits": pd.array(range(n), dtype="Int64"),
            "vip": [k % 2 == 0 for k in range(n)],
        }
    )


def _sent_writes(sb: Sandbox) -> list[Any]:
    return [r for r in sb.requests if r.method in ("POST", "PATCH")]


# -- what holds on both servers --------------------------------------------------------------


def test_async_upserts_read_back_identical_with_e164_phones(
    either: tuple[Sandbox, Client],
) -> None:
    sb, client = either
    frame = _contacts(250)
    result = sf.upsert(frame, mode="async", default_region="AU", client=client, progress=False)
    assert (result["status"] == "queued").all()
    back = sf.users(client=client).set_index("external_id").loc[frame["external_id"]]
    assert back["email"].tolist() == frame["email"].tolist()
    # Parcelvoy shows "+61 412 345 000"; users() gives E.164 again, so frames join back
    assert back["phone"].tolist() == [f"+61412345{k:03d}" for k in range(250)]
    # Parcelvoy adds what it read from the phone; everything sent comes back as sent
    added = {"phone_country": "AU", "phone_is_valid": True} if sb.profile == "parcelvoy" else {}
    expected = [
        {"plan": p, "visits": v, "vip": bool(x), **added}
        for p, v, x in zip(frame["plan"], frame["visits"], frame["vip"], strict=True)
    ]
    assert back["data"].tolist() == expected


def test_journeys_read_published_and_triggers_check_it_themselves(
    either: tuple[Sandbox, Client],
) -> None:
    sb, client = either
    listed = sf.journeys(client=client).set_index("id")["status"]
    assert listed.notna().all() and set(listed) <= {"live", "draft", "off"}
    live = next(j for j in sb.journeys if listed[j] == "live")
    audience = pd.DataFrame({"external_id": ["c1", "c2"]})
    entered = sf.trigger_journey(
        audience, live, entrance_id=sb.DEMO_ENTRANCES[live][0], client=client, progress=False
    )
    assert entered["status"].tolist() == ["triggered", "triggered"]
    assert len(sb.journey_entrances) == 2
    before = len(sb.requests)
    for jid in (j for j in sb.journeys if listed[j] != "live"):
        with pytest.raises(TargetStateError) as refused:
            sf.trigger_journey(audience, jid, entrance_id=sb.DEMO_ENTRANCES[jid][0], client=client)
        assert "None" not in str(refused.value) and refused.value.state in ("draft", "off")
        said = "is not published" if sb.profile == "parcelvoy" else f"is {refused.value.state!r}"
        assert said in str(refused.value)
    # refused before anything was sent (Parcelvoy itself would have entered them)
    assert [r.method for r in sb.requests[before:]] == ["GET"] * (len(sb.journeys) - 3)
    assert len(sb.journey_entrances) == 2


def test_drafts_and_stopped_campaigns_are_refused_before_sending(
    either: tuple[Sandbox, Client],
) -> None:
    sb, client = either
    audience = pd.DataFrame({"external_id": ["c1"]})
    stopped = 15
    client.request("PATCH", f"/campaigns/{stopped}", json={"state": "aborted"})
    for cid, state in ((5, "draft"), (stopped, "aborted")):
        with pytest.raises(TargetStateError) as refused:
            sf.trigger_campaign(audience, cid, client=client)
        assert refused.value.state == state and "Nothing was sent" in str(refused.value)
    assert sb.campaign_sends == []


def test_an_unknown_key_stops_everything_and_names_the_key(
    either: tuple[Sandbox, Client],
) -> None:
    sb, _ = either
    with _client(sb, key="sk_test_not_this_project") as stranger:
        with pytest.raises(AuthenticationError) as listing:
            sf.campaigns(client=stranger)
        with pytest.raises(AuthenticationError) as upsert:
            sf.upsert(
                _contacts(3), mode="async", default_region="AU", client=stranger, progress=False
            )
    assert upsert.value.result is not None  # the run stopped; what was done is attached
    assert "sk_test_not_this_project" not in str(listing.value) + str(upsert.value)
    if sb.profile == "parcelvoy":  # 404 {"code": 6000}, read as the key's fault
        assert listing.value.status_code == 404
        assert "knows no project for this API key (sk_…)" in str(listing.value)
        assert "code 6000" in str(listing.value)
    assert sb.users == {}


def test_big_integers_are_never_rounded_silently(either: tuple[Sandbox, Client]) -> None:
    sb, client = either
    frame = pd.DataFrame({"external_id": ["a", "b"], "order": [9007199254740993, 7]})
    dry = sf.upsert(frame, mode="async", dry_run=True, client=client)
    assert dry["status"].tolist() == ["invalid", "valid"]
    assert dry["error_field"][0] == "data.order"
    assert "9007199254740993 is past 2**53" in dry["error_message"][0]
    assert "stores 9007199254740992 instead" in dry["error_message"][0]
    held = sf.upsert(frame, mode="async", client=client, progress=False)
    assert held["status"].tolist() == ["invalid", "queued"]
    assert set(sb.users) == {"b"}
    sent = sf.upsert(frame, mode="async", big_ints="string", client=client, progress=False)
    assert (sent["status"] == "queued").all()
    assert sb.users["a"]["data"] == {"order": "9007199254740993"}  # exact, as text
    # what the toolkit spares its users: the same value sent as a JSON number
    client.request("PATCH", "/users", json=[{"external_id": "raw", "data": {"n": 2**53 + 1}}])
    assert sb.users["raw"]["data"]["n"] == (2**53 + 1 if sb.profile == "spotzee" else 2**53)


def test_track_and_delete(either: tuple[Sandbox, Client]) -> None:
    sb, client = either
    sb.add_users(3)
    orders = pd.DataFrame({"external_id": ["u1", "u2"], "amount": [5, 7]})
    tracked = sf.track(orders, "order_placed", client=client, progress=False)
    assert (tracked["status"] == "queued").all()
    stored = [e for e in sb.events if e["name"] == "order_placed"]
    assert sorted(e["data"]["amount"] for e in stored) == [5, 7]
    gone = sf.delete(pd.DataFrame({"external_id": ["u1", "u3"]}), client=client, progress=False)
    assert (gone["status"] == "queued").all()
    assert set(sb.users) == {"u2"}


def test_look_ups_name_the_object(either: tuple[Sandbox, Client]) -> None:
    _, client = either
    with pytest.raises(NotFoundError, match="campaign 999999 not found in this project") as info:
        sf.campaign(999999, client=client)
    assert str(info.value).startswith("GET /campaigns/999999: 404")
    with pytest.raises(NotFoundError, match="journey 999999 not found in this project"):
        sf.journey(999999, client=client)


# -- Parcelvoy's own ways ----------------------------------------------------------------------


def test_the_default_upsert_stops_with_one_clear_error(pv: Sandbox, client: Client) -> None:
    frame = _contacts(250)
    with pytest.raises(MissingRouteError) as caught:
        sf.upsert(frame, default_region="AU", client=client, progress=False)
    text = str(caught.value)
    assert text.startswith("POST /users/batch: 405")
    assert "lacks this documented endpoint" in text and "it allows HEAD, GET, DELETE" in text
    assert 'mode="async"' in text
    # never rows promised a resend that cannot succeed: none is `failed`, none was applied
    result = caught.value.result
    assert list(result.index) == list(frame.index)
    assert not result["status"].isin(["failed", "upserted"]).any()
    # what was already on its way when the first 405 came back, and nothing after
    assert {(r.method, r.path, r.status) for r in pv.requests} == {("POST", "/users/batch", 405)}
    assert pv.users == {}


def test_subscriptions_there_tell_an_unknown_user_from_a_missing_route(
    pv: Sandbox, client: Client
) -> None:
    pv.add_users(1)
    frame = pd.DataFrame({"external_id": ["u1", "nobody"]})
    with pytest.warns(IdempotencyNotHonouredWarning):
        result = sf.set_subscription(frame, 1, state=0, client=client, progress=False)
    # no POST /subscriptions/batch: one PATCH per user, and Parcelvoy's plain 404 for the
    # user it does not know is that user missing, not the route
    assert result["status"].tolist() == ["updated", "rejected"]
    assert result["error_code"][1] == "resource_missing"
    with pytest.raises(NotFoundError, match="no user with external_id 'nobody'"):
        sf.user_subscriptions(frame, client=client)


def test_one_warning_per_client_that_reruns_may_send_twice(pv: Sandbox, client: Client) -> None:
    sf.campaigns(client=client)  # reads alone: no warning
    audience = pd.DataFrame({"external_id": ["c1", "c2"]})
    with pytest.warns(IdempotencyNotHonouredWarning) as caught:
        first = sf.trigger_campaign(audience, 1, client=client, progress=False)
        again = sf.trigger_campaign(audience, 1, client=client, progress=False)
    assert len(caught) == 1  # once per client, however many writes
    text = str(caught[0].message)
    assert text == IDEMPOTENCY_NOT_HONOURED.format(base_url=BASE)
    assert "ledger" in text and "exactly-once" in text and "sends again" in text
    assert caught[0].filename == __file__  # points at the caller's line
    # the warning is the truth: the re-run was sent again, and no answer was a replay
    assert (first["status"] == "triggered").all() and (again["status"] == "triggered").all()
    assert not again["replayed"].any()
    assert len(pv.campaign_sends) == 4
    with _client(pv) as other, pytest.warns(IdempotencyNotHonouredWarning):
        sf.upsert(audience, mode="async", client=other, progress=False)


def test_no_warning_from_the_spotzee_api() -> None:
    with Client.sandbox(**FAST) as spotzee, warnings.catch_warnings():
        warnings.simplefilter("error", IdempotencyNotHonouredWarning)
        audience = pd.DataFrame({"external_id": ["c1"]})
        sf.trigger_campaign(audience, 1, client=spotzee, progress=False)
        sf.upsert(audience, client=spotzee, progress=False)


def test_a_lost_answer_is_not_retried_where_keys_are_ignored(pv: Sandbox, client: Client) -> None:
    pv.inject("drop", method="POST", path="/campaigns/1/trigger")
    audience = pd.DataFrame({"external_id": ["c1"]})
    with pytest.warns(IdempotencyNotHonouredWarning):
        result = sf.trigger_campaign(audience, 1, client=client, progress=False)
    # sent once and its answer lost: a retry could have sent the email twice
    assert result["status"].tolist() == ["failed"] and result["attempts"].tolist() == [1]
    assert len(pv.campaign_sends) == 1
    spotzee = Sandbox()
    spotzee.inject("drop", method="POST", path="/campaigns/1/trigger")
    with Client.sandbox(spotzee, **FAST) as keyed:
        retried = sf.trigger_campaign(audience, 1, client=keyed, progress=False)
    assert retried["status"].tolist() == ["triggered"] and retried["replayed"].all()
    assert len(spotzee.campaign_sends) == 1


def test_errors_say_which_call_and_what_the_server_lacks(pv: Sandbox, client: Client) -> None:
    with pytest.raises(APIError) as events:
        sf.events("2026-01-01", "2026-02-01", client=client)
    assert str(events.value).startswith("GET /events: 405")
    assert "the server lacks this documented endpoint" in str(events.value)
    assert "it allows POST there" in str(events.value)
    with pytest.raises(APIError) as batch:
        client.request("POST", "/users/batch", json=[{"external_id": "c1"}])
    assert "lacks this documented endpoint" in batch.value.message
    assert sf._errors.route_missing(batch.value)
    # a plain 404 on a path naming an object is that object missing, not the route
    with pytest.raises(NotFoundError) as nobody:
        client.get("/users/nobody")
    assert not sf._errors.route_missing(nobody.value)


def test_a_first_404_hints_at_base_url(pv: Sandbox) -> None:
    with (
        _client(pv, base_url="http://localhost/api") as wrong,
        pytest.raises(NotFoundError) as first,
    ):
        sf.campaign(1, client=wrong)
    assert "first request" in str(first.value)
    assert "base_url 'http://localhost/api' does not end in /api/client" in str(first.value)
    with _client(pv) as right:
        sf.campaigns(client=right)
        with pytest.raises(NotFoundError) as later:
            sf.campaign(999999, client=right)
    assert "base_url" not in str(later.value)  # it has had answers: the URL is fine


def test_a_scheduled_campaign_is_loading_and_can_be_triggered(pv: Sandbox, client: Client) -> None:
    with pytest.warns(IdempotencyNotHonouredWarning):
        assert sf.schedule_campaign(5, client=client)["state"] == "loading"
        result = sf.trigger_campaign(
            pd.DataFrame({"external_id": ["c1"]}), 5, client=client, progress=False
        )
    assert result["status"].tolist() == ["triggered"]


def test_the_cli_against_a_served_parcelvoy(tmp_path: Path) -> None:
    pv = Sandbox(profile="parcelvoy", api_keys=[KEY])
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("external_id,email\nc1,c1@example.com\nc2,c2@example.com\n")
    runner = CliRunner()
    with pv.serve() as server:
        env = {"SPOTZEE_API_KEY": KEY, "SPOTZEE_BASE_URL": server.base_url}
        queued = runner.invoke(cli, ["upsert", str(contacts), "--mode", "async"], env=env)
        assert queued.exit_code == 0, queued.output
        assert "warning: " in queued.stderr and "ledger" in queued.stderr
        assert set(pv.users) == {"c1", "c2"}
        default = runner.invoke(cli, ["upsert", str(contacts)], env=env)
        assert default.exit_code == 2  # one whole-call error, not rows that "failed"
        assert "POST /users/batch" in default.stderr and "--mode async" in default.stderr
        stranger = {**env, "SPOTZEE_API_KEY": "sk_test_someone_else"}
        refused = runner.invoke(cli, ["campaigns"], env=stranger)
        assert refused.exit_code == 2
        assert "knows no project for this API key" in refused.stderr
        assert "sk_test_someone_else" not in refused.output + refused.stderr
        listed = runner.invoke(cli, ["journeys", "--format", "csv"], env=env)
        assert listed.exit_code == 0 and "None" not in listed.output
