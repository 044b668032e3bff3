"""Build the per-row result frame that every sending call returns.

Shared by upserts and triggers: one row per input row, indexed exactly like the input
(duplicate labels and any index type included), with real dtypes: `status` and the other
texts are `string` (so `value_counts()` counts what happened, and results of reruns
combine with `update` and `concat`), counters are nullable `Int64`.

Statuses used by upserts (triggers may pass their own list):

    upserted     the server stored the row (sync mode)
    queued       the server accepted the row for asynchronous processing (async mode)
    unchanged    not sent: the ledger holds this exact payload as confirmed by the server
                 (`only_changed=True`)
    valid        dry run: the row would be sent as shown
    invalid      the row was not sent: a value failed validation here
    skipped      the row was not sent: another row with the same id was sent instead
    rejected     the server refused this item; its code and message are given
    failed       no success is known for the row's request (after retries): it was
                 refused as a whole, or its answer was lost or could not be read, so it
                 may or may not have been applied; resending is safe
    interrupted  the run was stopped before this row's outcome was known; it may or may
                 not have been applied, and resending it is safe
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, cast, overload

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

__all__ = [
    "RESULT_COLUMNS",
    "STATUSES",
    "WARNING_COLUMNS",
    "ResultBuilder",
    "place_word",
    "refusal",
    "text_or",
]

STATUSES: tuple[str, ...] = (
    "upserted",
    "queued",
    "unchanged",
    "valid",
    "invalid",
    "skipped",
    "rejected",
    "failed",
    "interrupted",
)


@overload
def text_or(value: Any, default: str) -> str: ...
@overload
def text_or(value: Any, default: None = None) -> str | None: ...
def text_or(value: Any, default: str | None = None) -> str | None:
    """A value from a server's answer as one text for a result cell: a string as it is,
    a number or a structure as its JSON, nothing (None, "") as `default`."""
    if value is None or (isinstance(value, str) and not value):
        return default
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return str(value)


def refusal(data: Any, *, default_code: str) -> tuple[str, str | None, str] | None:
    """(code, param, message) when a 2xx answer's body still says no (the error envelope,
    `status: "error"`, or `success: false`); None when it does not."""
    if not isinstance(data, Mapping):
        return None
    success = data.get("success")
    said_no = success is False or (isinstance(success, str) and success.lower() == "false")
    if not said_no and data.get("status") != "error":
        return None
    return (
        text_or(data.get("code"), default_code),
        text_or(data.get("param")),
        text_or(
            data.get("message", data.get("error")),
            "the server answered 2xx with a body that says the request failed",
        ),
    )


def place_word(index: pd.Index) -> str:
    """What a row's label names in messages: `line`, `row` or `record` for a frame read
    with `read_file(..., line_numbers=True)` (its index says which), else `row`."""
    name = index.name
    return name if isinstance(name, str) and name in ("line", "row", "record") else "row"


RESULT_COLUMNS: tuple[str, ...] = (
    "status",
    "error_code",
    "error_field",
    "error_message",
    "external_id",
    "batch",
    "attempts",
    "request_id",
)
_TEXT = ("error_code", "error_field", "error_message", "external_id", "request_id")
#: Columns of a result whose rows may be sent without a field: which, and why.
WARNING_COLUMNS: tuple[str, ...] = ("warning_code", "warning_field", "warning_message")
_INTS = ("batch", "attempts")

Positions = np.ndarray | Sequence[int] | slice


class ResultBuilder:
    """Collects per-row outcomes by position, then builds the frame in one go.

    Every setter takes `positions` (an integer array, a list or a slice of row positions)
    and either one value for all of them or an array of values, one per position.
    """

    def __init__(
        self,
        index: pd.Index,
        *,
        statuses: Sequence[str] = STATUSES,
        initial: str = "interrupted",
        extra: dict[str, str] | None = None,
        warnings: bool = False,
    ) -> None:
        """`extra` declares more columns as `{name: dtype}` (e.g. `{"user_id": "Int64"}`);
        `warnings` adds `WARNING_COLUMNS` after `error_message`."""
        self.index = index
        self.statuses = tuple(statuses)
        self._code = {s: i for i, s in enumerate(self.statuses)}
        n = len(index)
        self._status = np.full(n, self._code[initial], dtype=np.int8)
        names = (*_TEXT, *WARNING_COLUMNS) if warnings else _TEXT
        self._text = {name: np.full(n, None, dtype=object) for name in names}
        self._ints = {name: np.zeros(n, dtype=np.int64) for name in _INTS}
        self._has = {name: np.zeros(n, dtype=bool) for name in _INTS}
        self._extra_dtypes = dict(extra or {})
        self._extra = {name: np.full(n, None, dtype=object) for name in self._extra_dtypes}

    def __len__(self) -> int:
        return len(self.index)

    def count(self, status: str) -> int:
        return int((self._status == self._code[status]).sum())

    def is_status(self, positions: Positions, statuses: Collection[str]) -> np.ndarray:
        """Per position, whether the row's status is one of `statuses`."""
        codes = [self._code[s] for s in statuses if s in self._code]
        return np.isin(self._status[positions], codes)

    def has_extra(self, name: str) -> bool:
        """Whether the extra column `name` was declared."""
        return name in self._extra_dtypes

    def set_status(self, positions: Positions, status: str | Sequence[str] | np.ndarray) -> None:
        if isinstance(status, str):
            self._status[positions] = self._code[status]
        else:
            self._status[positions] = np.array([self._code[s] for s in status], dtype=np.int8)

    def set_text(self, name: str, positions: Positions, values: Any) -> None:
        """Set one of the text columns (`error_code`, `external_id`, `request_id`…)."""
        target = self._text[name]
        if isinstance(values, np.ndarray | list):
            target[positions] = np.asarray(values, dtype=object)
        else:
            target[positions] = values

    def set_int(self, name: str, positions: Positions, values: Any) -> None:
        """Set `batch` or `attempts`; None clears them back to NA."""
        if values is None:
            self._has[name][positions] = False
            return
        self._ints[name][positions] = values
        self._has[name][positions] = True

    def set_error(
        self,
        positions: Positions,
        status: str,
        code: Any,
        *,
        field: Any = None,
        message: Any = None,
    ) -> None:
        """Mark rows with a status and an error (code, field and message each one or many)."""
        self.set_status(positions, status)
        self.set_text("error_code", positions, code)
        self.set_text("error_field", positions, field)
        self.set_text("error_message", positions, message)

    def set_warning(
        self, positions: Positions, code: Any, *, field: Any = None, message: Any = None
    ) -> None:
        """Note what rows were sent without (code, field and message each one or many)."""
        self.set_text("warning_code", positions, code)
        self.set_text("warning_field", positions, field)
        self.set_text("warning_message", positions, message)

    def set_problems(self, problems: Iterable[Any]) -> None:
        """Mark held-back rows: each problem (a `RowProblem`) gives positions, a status,
        and per-row codes, fields and messages."""
        for problem in problems:
            self.set_error(
                problem.positions,
                problem.status,
                problem.codes,
                field=problem.fields,
                message=problem.messages,
            )

    def clear_error(self, positions: Positions) -> None:
        for name in ("error_code", "error_field", "error_message"):
            self._text[name][positions] = None

    def set_sent(
        self,
        positions: Positions,
        *,
        batch: int | None = None,
        attempts: int | None = None,
        request_id: str | None = None,
    ) -> None:
        """Record where rows went: batch number, attempts taken, the request's id."""
        if batch is not None:
            self.set_int("batch", positions, batch)
        if attempts is not None:
            self.set_int("attempts", positions, attempts)
        if request_id is not None:
            self.set_text("request_id", positions, request_id)

    def set_extra(self, name: str, positions: Positions, values: Any) -> None:
        target = self._extra[name]
        if isinstance(values, list):
            target[positions] = _objects(values)
        elif isinstance(values, np.ndarray):
            target[positions] = values
        else:
            target[positions] = values

    def to_frame(self) -> pd.DataFrame:
        """The result frame: `RESULT_COLUMNS` then the extra columns, indexed like the input."""
        # Text, not a categorical: `value_counts()` then lists what happened (no zeros for
        # every status there could be), and results of reruns combine with `update` and
        # `concat` whatever statuses each holds. `summary()` gives the counts in order.
        status = _text_array(np.asarray(self.statuses, dtype=object)[self._status])
        data: dict[str, Any] = {"status": status}
        columns = list(RESULT_COLUMNS[1:])
        if "warning_code" in self._text:
            at = columns.index("error_message") + 1
            columns[at:at] = WARNING_COLUMNS
        for name in columns:
            if name in self._text:
                data[name] = _text_array(self._text[name])
            else:
                data[name] = pd.arrays.IntegerArray(self._ints[name], ~self._has[name])
        for name, dtype in self._extra_dtypes.items():
            values = self._extra[name]
            # pandas-stubs types `dtype=` as a union of literal names; these are names too.
            data[name] = values if dtype == "object" else pd.array(values, dtype=cast(Any, dtype))
        frame = pd.DataFrame(data, copy=False)
        frame.index = self.index
        return frame


def _text_array(values: np.ndarray) -> Any:
    """A `string` array of texts (None where missing): through Arrow, which reads an
    object array of strings about three times faster than pandas' own check of each."""
    try:
        arrow = pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # not all text after all: pandas says why
        return pd.array(values, dtype=pd.StringDtype())
    return pd.array(arrow, dtype=pd.StringDtype())


def _objects(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out
