"""Keyset pagination shared by every list endpoint.

Rows are ordered by a key `(has_value, value, tiebreak)`; a cursor carries the key of a
page's edge row, so it stays valid while rows are added or removed (no offsets). A list
that can hold many rows keeps an `OrderedIndex` per sort field, so a page costs two
bisects and a slice, not a sort of every row.
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

import orjson

from ._problems import ApiError

__all__ = [
    "MAX_LIMIT",
    "Key",
    "OrderedIndex",
    "Page",
    "PageQuery",
    "field_key",
    "paginate",
    "paginate_sorted",
    "parse_page_query",
    "single",
]

T = TypeVar("T")
Key = tuple[int, Any, int]
Direction = Literal["asc", "desc"]

DEFAULT_LIMIT: Final = 25
MAX_LIMIT: Final = 100


def single(query: Mapping[str, list[str]], name: str) -> str | None:
    """The value of a query parameter that should appear once (the first one wins)."""
    values = query.get(name)
    return values[0] if values else None


@dataclass(frozen=True, slots=True)
class PageQuery:
    """The pagination part of a list request, validated."""

    limit: int
    sort: str
    direction: Direction
    page: Literal["next", "prev"]
    cursor: Key | None
    q: str | None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of rows and the cursors around it."""

    rows: list[Any]
    next_cursor: str | None
    prev_cursor: str | None
    total: int


def field_key(field: str, tiebreak: str = "id") -> Callable[[Mapping[str, Any]], Key]:
    """Sort key of a row by `field`, ties broken by the integer `tiebreak` field."""

    def key(row: Mapping[str, Any]) -> Key:
        value = row.get(field)
        return (0, "", row[tiebreak]) if value is None else (1, value, row[tiebreak])

    return key


def _encode(sort: str, direction: str, key: Key) -> str:
    raw = orjson.dumps({"s": sort, "d": direction, "k": list(key)})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _bad(param: str, message: str) -> ApiError:
    return ApiError("parameter_invalid_format", message, param=param)


def _decode(cursor: str) -> tuple[str, str, Key]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = orjson.loads(raw)
        sort, direction, key = data["s"], data["d"], data["k"]
        flag, value, tiebreak = key
    except (binascii.Error, ValueError, TypeError, KeyError, orjson.JSONDecodeError):
        raise _bad("cursor", "cursor is not a cursor this API returned") from None
    if (
        not isinstance(sort, str)
        or direction not in ("asc", "desc")
        or flag not in (0, 1)
        or type(tiebreak) is not int
        or not isinstance(value, str | int | float)
        or isinstance(value, bool)
    ):
        raise _bad("cursor", "cursor is not a cursor this API returned")
    return sort, direction, (flag, value, tiebreak)


def parse_page_query(
    query: Mapping[str, list[str]],
    *,
    sorts: Sequence[str],
    default_sort: str,
    default_direction: Direction,
) -> PageQuery:
    """Validate `cursor`, `page`, `limit`, `sort`, `direction` and `q`."""
    raw_limit = single(query, "limit")
    limit = DEFAULT_LIMIT
    if raw_limit is not None:
        if not raw_limit.isascii() or not raw_limit.isdigit():
            raise _bad("limit", f"limit must be an integer from 1 to {MAX_LIMIT}")
        limit = int(raw_limit)
        if not 1 <= limit <= MAX_LIMIT:
            raise _bad("limit", f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit}")
    page = single(query, "page") or "next"
    if page not in ("next", "prev"):
        raise _bad("page", "page must be next or prev")
    sort = single(query, "sort")
    if sort is not None and sort not in sorts:
        raise _bad("sort", f"sort must be one of {', '.join(sorts)}")
    direction = single(query, "direction")
    if direction is not None and direction not in ("asc", "desc"):
        raise _bad("direction", "direction must be asc or desc")
    raw_cursor = single(query, "cursor")
    key: Key | None = None
    if raw_cursor:
        cursor_sort, cursor_direction, key = _decode(raw_cursor)
        if cursor_sort not in sorts:
            raise _bad("cursor", "cursor is not a cursor this API returned")
        if (sort or cursor_sort) != cursor_sort or (direction or cursor_direction) != (
            cursor_direction
        ):
            raise _bad("cursor", "cursor belongs to another sort or direction")
        sort, direction = cursor_sort, cursor_direction
    q = single(query, "q")
    return PageQuery(
        limit=limit,
        sort=sort or default_sort,
        direction="desc" if (direction or default_direction) == "desc" else "asc",
        page="prev" if page == "prev" else "next",
        cursor=key,
        q=q.casefold() if q else None,
    )


class OrderedIndex:
    """The ids of a table's rows in the order of one sort key, kept current as rows
    change: the owner calls `touch(id)` for every row added, changed or removed, and
    `refresh(rows)` brings the order up to date before a read, moving only the rows that
    changed (or sorting again when most of them did)."""

    def __init__(self, key: Callable[[Any], Key]) -> None:
        self._key = key
        self.keys: list[Key] = []
        self.ids: list[int] = []
        self._key_of: dict[int, Key] = {}
        self._stale: set[int] = set()

    def touch(self, row_id: int) -> None:
        self._stale.add(row_id)

    def refresh(self, rows: Mapping[int, Any]) -> None:
        stale, self._stale = self._stale, set()
        if not stale:
            return
        if len(stale) > max(64, len(self.keys) // 64):
            # Moving each row is a list shift of everything after it: past a few per
            # mille of the rows, one sort is cheaper.
            self.keys = sorted(self._key(row) for row in rows.values())
            self.ids = [k[2] for k in self.keys]
            self._key_of = dict(zip(self.ids, self.keys, strict=True))
            return
        for row_id in stale:
            old = self._key_of.pop(row_id, None)
            if old is not None:
                at = bisect_left(self.keys, old)
                del self.keys[at], self.ids[at]
            row = rows.get(row_id)
            if row is not None:
                new = self._key(row)
                at = bisect_left(self.keys, new)
                self.keys.insert(at, new)
                self.ids.insert(at, row_id)
                self._key_of[row_id] = new


def paginate(rows: Sequence[T], key: Callable[[T], Key], pq: PageQuery) -> Page:
    """Cut the page `pq` asks for out of `rows` (any order)."""
    ordered = sorted(rows, key=key)
    keys = [key(row) for row in ordered]
    return paginate_sorted(keys, lambda start, stop: list(ordered[start:stop]), pq)


def paginate_sorted(
    keys: Sequence[Key], rows_at: Callable[[int, int], list[T]], pq: PageQuery
) -> Page:
    """Cut the page `pq` asks for from rows already in key order: `keys` are their sort
    keys, `rows_at(start, stop)` gives the rows at those positions."""
    try:
        return _paginate(keys, rows_at, pq)
    except TypeError:
        # A hand-made cursor whose value cannot be compared with this sort's values.
        raise _bad("cursor", "cursor is not a cursor this API returned") from None


def _paginate(keys: Sequence[Key], rows_at: Callable[[int, int], list[T]], pq: PageQuery) -> Page:
    n = len(keys)
    limit = pq.limit
    if pq.direction == "asc":
        if pq.cursor is None:
            start, stop = 0, min(limit, n)
        elif pq.page == "next":
            start = bisect_right(keys, pq.cursor)
            stop = min(start + limit, n)
        else:
            stop = bisect_left(keys, pq.cursor)
            start = max(stop - limit, 0)
        chunk = rows_at(start, stop)
        chunk_keys = keys[start:stop]
        has_prev, has_next = start > 0, stop < n
    else:
        if pq.cursor is None:
            start, stop = max(n - limit, 0), n
        elif pq.page == "next":
            stop = bisect_left(keys, pq.cursor)
            start = max(stop - limit, 0)
        else:
            start = bisect_right(keys, pq.cursor)
            stop = min(start + limit, n)
        chunk = rows_at(start, stop)[::-1]
        chunk_keys = keys[start:stop][::-1]
        has_prev, has_next = stop < n, start > 0
    next_cursor = prev_cursor = None
    if chunk_keys:
        if has_next:
            next_cursor = _encode(pq.sort, pq.direction, chunk_keys[-1])
        if has_prev:
            prev_cursor = _encode(pq.sort, pq.direction, chunk_keys[0])
    elif pq.cursor is not None:
        # Walked past an edge: offer the way back from where the cursor pointed.
        edge = _encode(pq.sort, pq.direction, pq.cursor)
        if pq.page == "next" and has_prev:
            prev_cursor = edge
        elif pq.page == "prev" and has_next:
            next_cursor = edge
    return Page(rows=chunk, next_cursor=next_cursor, prev_cursor=prev_cursor, total=n)
