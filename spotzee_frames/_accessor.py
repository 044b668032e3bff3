"""The `df.spotzee` pandas accessor: a thin veneer over the plain functions.

Every method forwards to a function that takes the frame as its first argument, so the
logic is testable without pandas registration; each method shows that function's
signature and docstring in `help()` and in Jupyter's `?`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd

from ._delete import delete
from ._subscriptions import set_subscription
from ._summary import Summary, summary
from ._track import track
from ._trigger import trigger_campaign, trigger_journey
from ._upsert import upsert

__all__ = ["SpotzeeAccessor"]

F = TypeVar("F", bound=Callable[..., Any])


def _forwards_to(func: Callable[..., Any]) -> Callable[[F], F]:
    """Give an accessor method the signature (less the frame) and docs of `func`."""

    def decorate(method: F) -> F:
        sig = inspect.signature(func)
        first, *params = sig.parameters.values()
        self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
        # A function takes any attribute; inspect.signature() and help() read this one.
        method.__signature__ = sig.replace(parameters=[self_param, *params])  # type: ignore[attr-defined]
        method.__doc__ = _without_parameter(func.__doc__ or "", first.name)
        return method

    return decorate


def _without_parameter(doc: str, name: str) -> str:
    """`doc` for the accessor, which takes no `name` (the frame is the one it hangs on):
    the parameter's numpydoc entry removed, and the prose's `name` called "the frame"."""
    # An entry: the name alone on its line, then its lines indented deeper.
    # The name alone on its line, its description indented deeper, up to the next entry.
    entry = re.compile(
        rf"^(?P<indent>[ ]*){re.escape(name)}\n(?:(?P=indent)[ ]+.*\n|[ ]*\n)*?(?=^(?P=indent)\S)",
        re.M,
    )
    doc = entry.sub("", doc, count=1)
    return re.sub(rf"`{re.escape(name)}`", "the frame", doc)


@pd.api.extensions.register_dataframe_accessor("spotzee")
class SpotzeeAccessor:
    """`df.spotzee.upsert(...)`, `.track(...)`, `.delete(...)`, `.set_subscription(...)`,
    `.trigger_campaign(...)`, `.trigger_journey(...)`, and `.summary()` on a result frame."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    def __repr__(self) -> str:
        rows, columns = self._frame.shape
        methods = ".upsert(), .trigger_campaign(), .trigger_journey()"
        if "status" in self._frame.columns:
            methods = ".summary() of this result, " + methods
        return f"<spotzee accessor on a frame of {rows:,} rows and {columns} columns: {methods}>"

    @_forwards_to(upsert)
    def upsert(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        return upsert(self._frame, *args, **kwargs)

    @_forwards_to(trigger_campaign)
    def trigger_campaign(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        return trigger_campaign(self._frame, *args, **kwargs)

    @_forwards_to(trigger_journey)
    def trigger_journey(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        return trigger_journey(self._frame, *args, **kwargs)

    @_forwards_to(delete)
    def delete(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        return delete(self._frame, *args, **kwargs)

    @_forwards_to(set_subscription)
    def set_subscription(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        return set_subscription(self._frame, *args, **kwargs)

    @_forwards_to(track)
    def track(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        return track(self._frame, *args, **kwargs)

    @_forwards_to(summary)
    def summary(self, *args: Any, **kwargs: Any) -> Summary:
        return summary(self._frame, *args, **kwargs)
