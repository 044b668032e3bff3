"""Where records come from: a simple-salesforce session (SOQL over the REST API), or a dict
of frames of exported records, behind one small interface.

Both give pages of records as columns keyed by lower-case field path, with the 18-character
`Id` and `LastModifiedDate` (ISO 8601, UTC) of each record, selected by the same rules and
modified-since mark, in the same order (`LastModifiedDate`, then `Id`), so a run over
either is the same run.

Salesforce calls are retried, with exponential backoff and jitter, on a 5xx answer,
`REQUEST_LIMIT_EXCEEDED` and network errors (simple-salesforce itself retries nothing); an
expired or refused session is one `SalesforceSessionError`; anything else is a
`SalesforceError` carrying Salesforce's `errorCode`.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

import numpy as np
import pandas as pd
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from .._errors import SalesforceError, SalesforceSessionError, ValidationError
from ._fields import FieldInfo, ObjectSchema, frame_schema, lookup, schema_from_describe
from ._ids import id18, is_record_id
from ._rules import TypedRule, instants, local_mask, soql_where

if TYPE_CHECKING:
    from simple_salesforce.api import Salesforce

__all__ = [
    "PAGE_SIZE",
    "FrameSource",
    "Page",
    "SalesforceSource",
    "Selection",
    "Source",
    "make_source",
    "modified_text",
]

T = TypeVar("T")
PAGE_SIZE: Final = 2000
_TRANSIENT_CODES: Final = frozenset({"REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE"})


@dataclass(frozen=True)
class Selection:
    """Which records of one object a run pulls: the rules, joined by `match`, and records
    modified at or after `since` (None: all of them)."""

    rules: tuple[TypedRule, ...]
    match: str
    since: dt.datetime | None


@dataclass
class Page:
    """Some records of one pull: `ids` (18 characters), `modified` (ISO 8601 UTC text) and
    `columns` (lower-case field path -> values); `total` is the pull's record count."""

    ids: list[str]
    modified: list[str | None]
    columns: dict[str, list[Any]]
    total: int

    def __len__(self) -> int:
        return len(self.ids)


class Source(Protocol):
    kind: str
    #: Where the records come from, for the state and the log (an instance URL, "frames").
    where: str

    def schema(self, obj: str) -> ObjectSchema: ...

    def field(self, obj: str, path: str) -> FieldInfo | None: ...

    def count(self, obj: str, selection: Selection) -> int: ...

    def pages(self, obj: str, fields: Sequence[str], selection: Selection) -> Iterator[Page]: ...

    def describe_query(self, obj: str, fields: Sequence[str], selection: Selection) -> str: ...

    def api_usage(self) -> tuple[int, int] | None: ...


#: The REST API's own form of a time in UTC, which needs no conversion (every record has
#: one: parsing it with pandas cost 6 µs a record, most of a page's conversion).
_REST_UTC = re.compile(
    r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3})(?:\+0000|\+00:00|Z)", re.ASCII
)


def modified_text(value: Any) -> str | None:
    """A LastModifiedDate (REST text `2026-05-03T15:57:00.000+0000`, a Timestamp…) as
    `2026-05-03T15:57:00.000Z`, the form watermarks are kept and compared in."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str) and (utc := _REST_UTC.fullmatch(value)):
        try:
            dt.datetime.fromisoformat(utc[1])  # a real date and time, not just its shape
        except ValueError:
            return None
        return utc[1] + "Z"
    try:
        moment = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    if pd.isna(moment):
        return None
    moment = moment.tz_localize("UTC") if moment.tz is None else moment.tz_convert("UTC")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# -- Salesforce ---------------------------------------------------------------------------


def _error_items(exc: Exception) -> list[Mapping[str, Any]]:
    content = getattr(exc, "content", None)
    if isinstance(content, list):
        return [item for item in content if isinstance(item, Mapping)]
    if isinstance(content, Mapping):
        return [content]
    return []


def _error_code(exc: Exception) -> str | None:
    for item in _error_items(exc):
        code = item.get("errorCode")
        if isinstance(code, str):
            return code
    return None


def _transient(exc: BaseException) -> bool:
    import requests
    from simple_salesforce.exceptions import SalesforceError as SfError

    if isinstance(exc, requests.exceptions.SSLError):
        return False  # a certificate that does not check out will not on a retry either
    network = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
    if isinstance(exc, network):
        return True
    if isinstance(exc, SfError):
        status = getattr(exc, "status", 0) or 0
        return status >= 500 or _error_code(exc) in _TRANSIENT_CODES
    return False


def _translate(exc: BaseException, what: str, attempts: int, secret: str | None) -> SalesforceError:
    """One of our errors for whatever a Salesforce call raised (never carrying the token)."""
    import requests
    from simple_salesforce.exceptions import (
        SalesforceAuthenticationFailed,
        SalesforceExpiredSession,
    )
    from simple_salesforce.exceptions import SalesforceError as SfError

    tries = f" after {attempts} attempts" if attempts > 1 else ""
    if isinstance(exc, SalesforceExpiredSession | SalesforceAuthenticationFailed):
        code = _error_code(exc) or getattr(exc, "code", None) or "INVALID_SESSION_ID"
        return SalesforceSessionError(
            _scrub(
                f"Salesforce refused the session ({code}) on {what}: it has expired or is "
                "not valid; connect again (salesforce.connect())",
                secret,
            ),
            status_code=401,
            error_code=str(code),
            attempts=attempts,
        )
    if isinstance(exc, SfError):
        items = _error_items(exc)
        code = _error_code(exc)
        detail = "; ".join(str(i.get("message", "")) for i in items) or str(
            getattr(exc, "content", "") or ""
        )
        status = getattr(exc, "status", None)
        return SalesforceError(
            _scrub(f"Salesforce answered {status} {code or ''} on {what}{tries}: {detail}", secret),
            status_code=status,
            error_code=code,
            attempts=attempts,
        )
    if isinstance(exc, requests.RequestException):
        return SalesforceError(
            _scrub(
                f"no answer from Salesforce on {what}{tries}: {type(exc).__name__}: {exc}", secret
            ),
            error_code="network_error",
            attempts=attempts,
        )
    raise exc


def _scrub(text: str, secret: str | None) -> str:
    text = " ".join(text.split())
    return text.replace(secret, "***") if secret else text


class SalesforceSource:
    """Records pulled from Salesforce through a simple-salesforce session."""

    kind = "salesforce"

    def __init__(
        self,
        sf: Salesforce,
        *,
        attempts: int,
        backoff: float,
        backoff_max: float,
    ) -> None:
        self._sf = sf
        self._attempts = attempts
        self._backoff = backoff
        self._backoff_max = backoff_max
        self._schemas: dict[str, ObjectSchema] = {}
        self._usage: tuple[int, int] | None = None
        self.where = f"https://{sf.sf_instance}"

    def __repr__(self) -> str:
        return f"<SalesforceSource {self.where}>"

    def _call(self, what: str, fn: Callable[[], T], usage_of: Callable[[], Any]) -> T:
        attempts = 0

        def attempt() -> T:
            nonlocal attempts
            attempts += 1
            return fn()

        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            # Doubling waits from `backoff`, plus up to as much again of jitter.
            wait=wait_exponential(multiplier=self._backoff, max=self._backoff_max)
            + wait_random(0, self._backoff),
            retry=retry_if_exception(_transient),
            reraise=True,
        )
        try:
            result = retrying(attempt)
        except Exception as exc:
            raise _translate(exc, what, attempts, getattr(self._sf, "session_id", None)) from None
        usage = (usage_of() or {}).get("api-usage")
        if usage is not None:
            self._usage = (int(usage.used), int(usage.total))
        return result

    def api_usage(self) -> tuple[int, int] | None:
        return self._usage

    def schema(self, obj: str) -> ObjectSchema:
        if obj not in self._schemas:
            sftype = getattr(self._sf, obj)
            describe = self._call(f"describe {obj}", sftype.describe, lambda: sftype.api_usage)
            self._schemas[obj] = schema_from_describe(obj, describe)
        return self._schemas[obj]

    def field(self, obj: str, path: str) -> FieldInfo | None:
        return lookup(self.schema(obj), path, self.schema)

    def _soql(self, head: str, obj: str, selection: Selection, *, order: bool) -> str:
        from simple_salesforce.format import format_soql

        conditions = []
        rules = soql_where(selection.rules, selection.match)
        if rules:
            conditions.append(rules)
        if selection.since is not None:
            conditions.append(format_soql("LastModifiedDate >= {}", selection.since))
        text = f"{head} FROM {obj}"
        if conditions:
            text += " WHERE " + " AND ".join(conditions)
        if order:
            text += " ORDER BY LastModifiedDate ASC, Id ASC"
        return text

    def describe_query(self, obj: str, fields: Sequence[str], selection: Selection) -> str:
        return self._soql("SELECT " + ", ".join(fields), obj, selection, order=True)

    def count(self, obj: str, selection: Selection) -> int:
        text = self._soql("SELECT COUNT()", obj, selection, order=False)
        sf = self._sf
        answer = self._call(f"count {obj}", lambda: sf.query(text), lambda: sf.api_usage)
        return int(answer.get("totalSize") or 0)

    def pages(self, obj: str, fields: Sequence[str], selection: Selection) -> Iterator[Page]:
        sf = self._sf
        text = self.describe_query(obj, fields, selection)
        paths = [(f.lower(), *_split(f)) for f in fields]
        answer = self._call(f"query {obj}", lambda: sf.query(text), lambda: sf.api_usage)
        total = int(answer.get("totalSize") or 0)
        number = 1
        while True:
            yield _page(answer.get("records") or [], paths, total)
            next_url = answer.get("nextRecordsUrl")
            if answer.get("done", True) or not next_url:
                return
            number += 1
            answer = self._call(
                f"query {obj} (page {number})",
                functools.partial(sf.query_more, next_url, identifier_is_url=True),
                lambda: sf.api_usage,
            )


def _split(path: str) -> tuple[str, str | None]:
    head, _, tail = path.partition(".")
    return head, (tail or None)


def _page(
    records: list[Mapping[str, Any]], paths: list[tuple[str, str, str | None]], total: int
) -> Page:
    columns: dict[str, list[Any]] = {lower: [] for lower, _, _ in paths}
    ids: list[str] = []
    modified: list[str | None] = []
    for record in records:
        ids.append(str(record.get("Id")))
        modified.append(modified_text(record.get("LastModifiedDate")))
        for lower, head, tail in paths:
            if tail is None:
                columns[lower].append(record.get(head))
            else:
                parent = record.get(head)
                columns[lower].append(parent.get(tail) if isinstance(parent, Mapping) else None)
    return Page(ids, modified, columns, total)


# -- frames ---------------------------------------------------------------------------------


class FrameSource:
    """Records from frames of exported records (`{object: DataFrame}`), selected locally
    with SOQL's semantics."""

    kind = "frames"
    where = "frames"

    def __init__(self, frames: Mapping[str, pd.DataFrame]) -> None:
        self._frames = dict(frames)
        self._schemas: dict[str, ObjectSchema] = {}

    def __repr__(self) -> str:
        return f"<FrameSource {', '.join(f'{k}: {len(v)} rows' for k, v in self._frames.items())}>"

    def frame(self, obj: str) -> pd.DataFrame:
        if obj not in self._frames:
            raise ValidationError(
                f"no records for {obj}: the source has frames for "
                f"{', '.join(map(repr, self._frames)) or 'nothing'}"
            )
        return self._frames[obj]

    def schema(self, obj: str) -> ObjectSchema:
        if obj not in self._schemas:
            self._schemas[obj] = frame_schema(obj, self.frame(obj))
        return self._schemas[obj]

    def field(self, obj: str, path: str) -> FieldInfo | None:
        return lookup(self.schema(obj), path, self.schema)

    def api_usage(self) -> tuple[int, int] | None:
        return None

    def describe_query(self, obj: str, fields: Sequence[str], selection: Selection) -> str:
        rules = soql_where(selection.rules, selection.match) if selection.rules else None
        text = f"{len(self.frame(obj))} exported {obj} records"
        if rules:
            text += f" WHERE {rules}"
        if selection.since is not None:
            text += f" modified since {selection.since.isoformat()}"
        return text

    def _selected(self, obj: str, selection: Selection) -> tuple[pd.DataFrame, np.ndarray]:
        frame = self.frame(obj)
        schema = self.schema(obj)
        mask = local_mask(frame, selection.rules, selection.match, schema.columns)
        stamps = None
        if "lastmodifieddate" in schema.columns:
            stamps = instants(frame[schema.columns["lastmodifieddate"]], "datetime")
            if selection.since is not None:
                since = pd.Timestamp(selection.since)
                mask &= (stamps >= since).fillna(False).to_numpy(dtype=bool)
        picked = frame.loc[mask]
        ids = [_record_id(obj, v) for v in picked[schema.columns["id"]].tolist()]
        order = np.arange(len(picked))
        if stamps is not None:
            keys = pd.DataFrame({"m": stamps[mask].to_numpy(), "i": ids})
            ranked = keys.sort_values(["m", "i"], kind="stable", na_position="first")
            order = np.asarray(ranked.index, dtype=np.int64)
        # An export that lists a record twice: its newest copy is the record; the older
        # copies go last, where the sync reports them as duplicates it did not send.
        older = pd.Series(ids).iloc[order].duplicated(keep="last").to_numpy()
        return picked, np.concatenate([order[~older], order[older]])

    def count(self, obj: str, selection: Selection) -> int:
        return len(self._selected(obj, selection)[0])

    def pages(self, obj: str, fields: Sequence[str], selection: Selection) -> Iterator[Page]:
        picked, order = self._selected(obj, selection)
        schema = self.schema(obj)
        picked = picked.iloc[order]
        total = len(picked)
        label_of = schema.columns
        modified_col = label_of.get("lastmodifieddate")
        for start in range(0, max(total, 1), PAGE_SIZE):
            part = picked.iloc[start : start + PAGE_SIZE]
            ids = [_record_id(obj, v) for v in part[label_of["id"]].tolist()]
            modified: list[str | None] = [None] * len(part)
            if modified_col is not None:
                modified = [modified_text(v) for v in part[modified_col].tolist()]
            columns = {
                f.lower(): (
                    part[label_of[f.lower()]].tolist()
                    if f.lower() in label_of
                    else [None] * len(part)
                )
                for f in fields
            }
            yield Page(ids, modified, columns, total)


def _record_id(obj: str, value: Any) -> str:
    if not is_record_id(value):
        raise ValidationError(
            f"the {obj} frame has an Id that is not a 15- or 18-character Salesforce id: {value!r}"
        )
    return id18(str(value))


def make_source(
    source: Any, *, attempts: int, backoff: float, backoff_max: float
) -> SalesforceSource | FrameSource:
    """A Source for what the caller passed: a simple-salesforce session, or frames."""
    if isinstance(source, Mapping):
        return FrameSource(source)
    try:
        from simple_salesforce.api import Salesforce as Session
    except ImportError:  # without the extra, only frames can be a source
        pass
    else:
        if isinstance(source, Session):
            return SalesforceSource(
                source, attempts=attempts, backoff=backoff, backoff_max=backoff_max
            )
    raise ValidationError(
        "the source must be a simple_salesforce.Salesforce session (salesforce.connect()) or "
        f"a dict of {{object: DataFrame}} of exported records, not {type(source).__name__}"
    )
