"""The `df.spotzee` pandas accessor: a thin veneer over the plain functions.

Every method forwards to a function that takes the frame as its first argument, so the
logic is testable without pandas registration.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["SpotzeeAccessor"]


@pd.api.extensions.register_dataframe_accessor("spotzee")
class SpotzeeAccessor:
    """`df.spotzee.upsert(...)`, `.trigger_campaign(...)`, `.trigger_journey(...)`,
    and `.summary()` on a result frame."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    def upsert(self, mapping: dict[str, str] | None = None, **kwargs: Any) -> pd.DataFrame:
        """Upsert the rows as Spotzee users; see `spotzee_frames.upsert`."""
        from ._upsert import upsert

        result: pd.DataFrame = upsert(self._frame, mapping, **kwargs)
        return result

    def trigger_campaign(self, campaign_id: int, **kwargs: Any) -> pd.DataFrame:
        """Trigger a campaign once per row; see `spotzee_frames.trigger_campaign`."""
        from ._trigger import trigger_campaign

        return trigger_campaign(self._frame, campaign_id, **kwargs)

    def trigger_journey(self, journey_id: int, **kwargs: Any) -> pd.DataFrame:
        """Enter each row into a journey; see `spotzee_frames.trigger_journey`."""
        from ._trigger import trigger_journey

        return trigger_journey(self._frame, journey_id, **kwargs)

    def summary(self, **kwargs: Any) -> Any:
        """A readable summary of a result frame (HTML in Jupyter, text elsewhere)."""
        from ._summary import summary

        return summary(self._frame, **kwargs)
