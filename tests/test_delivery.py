"""campaign_events: a campaign's events per user, joined back to the audience frame."""

from __future__ import annotations

import pandas as pd
import pytest

from spotzee_frames import Client, ValidationError
from spotzee_frames._delivery import campaign_events
from spotzee_frames._trigger import trigger_campaign
from spotzee_frames.sandbox import Sandbox

CID = 1  # a running trigger campaign in the demo project


@pytest.fixture
def window() -> tuple[pd.Timestamp, pd.Timestamp]:
    now = pd.Timestamp.now(tz="UTC")
    return now - pd.Timedelta(hours=1), now + pd.Timedelta(hours=1)


def _audience() -> pd.DataFrame:
    return pd.DataFrame(
        {"customer": ["101", "102", "103", "104"], "plan": ["pro", "pro", "free", "pro"]},
        index=pd.Index(["w", "x", "y", "w"], name="row"),  # duplicate labels kept
    )


def test_per_user_counts_join_back_to_the_audience(
    sandbox: Sandbox, client: Client, window: tuple[pd.Timestamp, pd.Timestamp]
) -> None:
    assert sandbox.campaigns[CID]["type"] == "trigger"
    audience = _audience()
    sent = audience[audience.plan == "pro"]
    result = trigger_campaign(
        sent, CID, mapping={"customer": "external_id"}, client=client, progress=False
    )
    assert (result["status"] == "triggered").all()
    sandbox.add_events(name="email.opened", external_id="102", campaign_id=CID, count=2)
    sandbox.add_events(name="email.opened", external_id="103", campaign_id=CID + 1)
    sandbox.add_events(name="email.opened", anonymous_id="anon-1", campaign_id=CID)

    joined = campaign_events(CID, *window, audience=audience, on="customer", client=client)
    assert joined.index.equals(audience.index)
    assert list(joined.columns[:2]) == ["customer", "plan"]
    assert joined["customer"].tolist() == audience["customer"].tolist()
    sent_name = next(n for n in joined.columns if n.endswith(".sent"))
    assert joined[sent_name].tolist() == [1, 1, 0, 1]
    assert joined["email.opened"].tolist() == [0, 2, 0, 0]  # another campaign's event excluded
    assert str(joined["email.opened"].dtype) == "Int64"
    assert str(joined["first_event_at"].dtype) == "datetime64[ns, UTC]"
    assert joined["first_event_at"].isna().tolist() == [False, False, True, False]

    per_user = campaign_events(CID, *window, client=client)
    assert per_user.index.name == "external_id"
    assert sorted(per_user.index) == ["101", "102", "104"]  # anonymous-only events left out
    assert per_user.loc["102", "email.opened"] == 2
    assert (per_user["last_event_at"] >= per_user["first_event_at"]).all()

    named = campaign_events(CID, *window, event_name="email.opened", client=client)
    assert list(named.columns) == ["email.opened", "first_event_at", "last_event_at"]


def test_prefix_and_clashes(
    sandbox: Sandbox, client: Client, window: tuple[pd.Timestamp, pd.Timestamp]
) -> None:
    sandbox.add_events(name="plan", external_id="101", campaign_id=CID)
    audience = _audience()
    with pytest.raises(ValidationError, match="prefix="):
        campaign_events(CID, *window, audience=audience, on="customer", client=client)
    joined = campaign_events(
        CID, *window, audience=audience, on="customer", prefix="evt_", client=client
    )
    assert joined["evt_plan"].tolist() == [1, 0, 0, 0]
    assert joined["plan"].tolist() == audience["plan"].tolist()
    with pytest.raises(ValidationError, match="not a column"):
        campaign_events(CID, *window, audience=audience, client=client)


def test_no_events_gives_zero_rows_or_empty_columns(
    client: Client, window: tuple[pd.Timestamp, pd.Timestamp]
) -> None:
    per_user = campaign_events(CID, *window, client=client)
    assert len(per_user) == 0
    assert list(per_user.columns) == ["first_event_at", "last_event_at"]
    audience = pd.DataFrame({"external_id": ["a", None]})
    joined = campaign_events(CID, *window, audience=audience, client=client)
    assert joined["first_event_at"].isna().all()
    assert joined.index.equals(audience.index)


def test_any_event_name_and_caller_mistakes(
    sandbox: Sandbox, client: Client, window: tuple[pd.Timestamp, pd.Timestamp]
) -> None:
    start, end = window
    at = (start + pd.Timedelta(minutes=5)).isoformat()
    sandbox.add_events(name="first_event_at", external_id="101", campaign_id=CID, created_at=at)
    per_user = campaign_events(CID, start, end, client=client)
    assert per_user.loc["101", "first_event_at_count"] == 1
    assert per_user["first_event_at"].dtype == "datetime64[ns, UTC]"
    joined = campaign_events(CID, start, end, audience=_audience(), on="customer", client=client)
    assert joined["first_event_at_count"].tolist() == [1, 0, 0, 0]
    with pytest.raises(ValidationError, match="audience must be the DataFrame"):
        campaign_events(CID, start, end, audience=[1, 2], client=client)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="on must name one column"):
        campaign_events(CID, start, end, audience=_audience(), on=["customer"], client=client)
