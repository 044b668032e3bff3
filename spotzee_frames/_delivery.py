"""Delivery tracking for a campaign: its events, counted per user, joinable to the
audience frame the campaign was triggered from.

Per-message webhooks are not delivered by Spotzee yet, so `GET /events` filtered by
campaign is how downstream delivery is followed today.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable

import pandas as pd

from ._client import Client
from ._errors import ValidationError
from ._listing import events
from ._mapping import check_labels
from ._normalize import normalize_id

__all__ = ["campaign_events"]

When = str | dt.datetime | dt.date | pd.Timestamp


def _per_user(frame: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """One row per external_id: a count per event name, and first/last event times."""
    known = frame[frame["external_id"].notna()]
    counts = pd.crosstab(known["external_id"], known["name"].astype("string"))
    counts = counts.astype("Int64")
    time_names = [f"{prefix}first_event_at", f"{prefix}last_event_at"]
    # An event may be called anything, even first_event_at: its count then says so.
    counts.columns = [
        f"{prefix}{name}" + ("_count" if f"{prefix}{name}" in time_names else "")
        for name in counts.columns
    ]
    times = known.groupby("external_id")["created_at"].agg(["min", "max"])
    times.columns = time_names
    out = pd.concat([counts, times], axis=1)
    out.index = pd.Index(out.index, dtype="string", name="external_id")
    for column in times.columns:
        out[column] = out[column].astype("datetime64[ns, UTC]")
    return out


def campaign_events(
    campaign_id: int,
    start: When,
    end: When,
    *,
    audience: pd.DataFrame | None = None,
    on: Hashable = "external_id",
    event_name: str | None = None,
    prefix: str = "",
    client: Client | None = None,
) -> pd.DataFrame:
    """What happened downstream of a campaign, per user.

    Without `audience`: one row per user that has events for `campaign_id` between
    `start` and `end` (`end` exclusive), indexed by `external_id`, with one Int64 column
    per event name (how many such events the user has) plus `first_event_at` and
    `last_event_at`.

    With `audience` (the frame the campaign was triggered from): that frame, index and
    rows unchanged, with those columns joined on its `on` column (integer ids match their
    string form, as triggers send them); users without events get 0 and NaT. `prefix` is
    put before every added column name, to avoid clashes with the audience's columns.

    For one row per event, use `spotzee_frames.events(start, end, campaign_id=...)`.
    """
    raw = events(start, end, campaign_id=campaign_id, event_name=event_name, client=client)
    per_user = _per_user(raw, prefix)
    if audience is None:
        return per_user
    if not isinstance(audience, pd.DataFrame):
        raise ValidationError(
            "audience must be the DataFrame the campaign was sent to, not "
            f"{type(audience).__name__}"
        )
    check_labels([on], "on must name one column of the audience")
    if on not in audience.columns:
        raise ValidationError(
            f"on={on!r} is not a column of the audience frame; pass the name of the column "
            "holding the external ids"
        )
    clashes = sorted(str(c) for c in per_user.columns if c in audience.columns)
    if clashes:
        raise ValidationError(
            f"the audience frame already has column(s) {clashes}: pass prefix= "
            "(e.g. prefix='evt_') to name the added columns apart"
        )
    # the same id rule as the triggers: 17 and 17.0 are the user "17"
    keys = normalize_id(audience[on], column=on).to_series()
    joined = per_user.reindex(pd.Index(keys, dtype="string"))
    joined.index = audience.index
    out = audience.copy()
    for column in per_user.columns:
        values = joined[column]
        if values.dtype == "Int64":
            values = values.fillna(0)
        out[column] = values
    return out
