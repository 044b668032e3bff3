"""The `df.spotzee` namespace on polars DataFrames: the pandas accessor's methods, with
polars results.

A polars frame reaches the operations through Arrow, its buffers shared as ArrowDtype
columns; copied are only its strings (polars keeps them as string views, which Arrow's
kernels cannot yet take or filter, so polars writes them out as large strings) and its
categoricals (rebuilt as pandas categoricals). The result frame comes back the same way,
its texts as `pl.String`, counters `pl.Int64`, flags `pl.Boolean`; payloads as JSON text.
`_accessor.register_polars` registers
it once polars is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import polars as pl

from ._accessor import _forwards_to
from ._arrow import frame_from_arrow, result_to_arrow
from ._delete import delete
from ._errors import Interrupted, SpotzeeError
from ._subscriptions import set_subscription
from ._summary import Summary, summary
from ._track import track
from ._trigger import trigger_campaign, trigger_journey
from ._upsert import upsert

__all__ = ["SpotzeeFrame", "from_pandas", "to_pandas"]


def to_pandas(frame: pl.DataFrame) -> pd.DataFrame:
    """`frame` as a pandas frame over the same buffers."""
    return frame_from_arrow(frame.to_arrow(compat_level=pl.CompatLevel.oldest()))


def from_pandas(result: pd.DataFrame) -> pl.DataFrame:
    """A result frame as a polars frame, column for column (payloads as JSON text)."""
    out = pl.from_arrow(result_to_arrow(result))
    assert isinstance(out, pl.DataFrame)  # a table gives a frame
    return out


def _call(
    func: Callable[..., pd.DataFrame], frame: pl.DataFrame, *args: Any, **kwargs: Any
) -> pl.DataFrame:
    try:
        return from_pandas(func(to_pandas(frame), *args, **kwargs))
    except (SpotzeeError, Interrupted) as exc:
        partial = getattr(exc, "result", None)
        if isinstance(partial, pd.DataFrame):  # what was done, as polars too
            exc.result = from_pandas(partial)  # type: ignore[union-attr]
        raise


@pl.api.register_dataframe_namespace("spotzee")
class SpotzeeFrame:
    """`df.spotzee.upsert(...)`, `.track(...)`, `.delete(...)`, `.set_subscription(...)`,
    `.trigger_campaign(...)`, `.trigger_journey(...)` on a polars frame, and `.summary()`
    on a result; results are polars frames in the input's row order (where the pandas
    methods speak of the index, read row positions)."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self._frame = frame

    def __repr__(self) -> str:
        rows, columns = self._frame.shape
        return f"<spotzee namespace on a polars frame of {rows:,} rows and {columns} columns>"

    @_forwards_to(upsert)
    def upsert(self, *args: Any, **kwargs: Any) -> pl.DataFrame:
        return _call(upsert, self._frame, *args, **kwargs)

    @_forwards_to(trigger_campaign)
    def trigger_campaign(self, *args: Any, **kwargs: Any) -> pl.DataFrame:
        return _call(trigger_campaign, self._frame, *args, **kwargs)

    @_forwards_to(trigger_journey)
    def trigger_journey(self, *args: Any, **kwargs: Any) -> pl.DataFrame:
        return _call(trigger_journey, self._frame, *args, **kwargs)

    @_forwards_to(track)
    def track(self, *args: Any, **kwargs: Any) -> pl.DataFrame:
        return _call(track, self._frame, *args, **kwargs)

    @_forwards_to(delete)
    def delete(self, *args: Any, **kwargs: Any) -> pl.DataFrame:
        return _call(delete, self._frame, *args, **kwargs)

    @_forwards_to(set_subscription)
    def set_subscription(self, *args: Any, **kwargs: Any) -> pl.DataFrame:
        return _call(set_subscription, self._frame, *args, **kwargs)

    @_forwards_to(summary)
    def summary(self, *args: Any, **kwargs: Any) -> Summary:
        return summary(to_pandas(self._frame), *args, **kwargs)
