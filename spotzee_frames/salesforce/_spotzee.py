"""Which of a sync's users already exist in Spotzee, so that a record is counted `imported`
or `updated` honestly.

Existing users are compared by external id, as the server integration does. Two ways,
whichever costs fewer requests: one `GET /users/{external_id}` per record (a 404 means
new), or walking `GET /users?q=sf_<integration>_<Object>_` (100 a page) and keeping the
exact prefix matches. The listing is tried first when a pull is large, and abandoned for
per-id look-ups as soon as it would cost more than they would.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from .._errors import NotFoundError, SpotzeeError, route_missing

if TYPE_CHECKING:
    from .._client import Client

__all__ = ["ExistingUsers"]

#: At most this many records: look each one up rather than list.
_PER_ID_MAX: Final = 20
_LIST_LIMIT: Final = 100


class ExistingUsers:
    """Which external ids with one prefix exist in Spotzee, learnt as cheaply as possible
    for a pull of `total` records (set once the pull's first page tells it)."""

    def __init__(self, client: Client, prefix: str, total: int = 0) -> None:
        self._client = client
        self._prefix = prefix
        self.total = total
        self._listed: set[str] | None = None  # every id with the prefix, once listed
        self._found: set[str] = set()
        self._params: dict[str, Any] = {"q": prefix, "limit": _LIST_LIMIT}
        self._pages = 0
        self._tried = False  # whether the listing was walked (or given up)
        self._left: int | None = None  # listing pages still to walk, as the server counts
        #: Requests made to find out (for the log and the tests).
        self.requests = 0

    def start(self) -> None:
        """The listing's first page, before the pull's total is known (while Salesforce
        is still answering): every run of more than a few records needs it, and it also
        tells how long the listing is."""
        if not self._pages:
            self._page()

    def _page(self) -> bool:
        """One more page of the listing; whether there are more."""
        response = self._client.request("GET", "/users", params=self._params)
        self.requests += 1
        self._pages += 1
        data = response.data if isinstance(response.data, dict) else {}
        for user in data.get("results") or ():
            ext = user.get("external_id") if isinstance(user, dict) else None
            if isinstance(ext, str) and ext.startswith(self._prefix):
                self._found.add(ext)
        cursor = data.get("nextCursor")
        if not cursor:
            self._listed = set(self._found)
            return False
        count = response.headers.get("x-total-count")
        self._left = (
            math.ceil(int(count) / _LIST_LIMIT) - self._pages if count and count.isdigit() else 1
        )
        self._params["cursor"] = cursor
        return True

    def _list(self) -> None:
        """Walk the listing while it is cheaper than per-id look-ups would be."""
        more = self._page() if not self._pages else self._listed is None
        while more:
            assert self._left is not None
            if self._pages + self._left > self.total:  # more pages than records: per id
                return
            more = self._page()

    def existing(self, external_ids: Sequence[str]) -> set[str]:
        """The ids among `external_ids` that name an existing user."""
        if self._listed is None and self.total > _PER_ID_MAX and not self._tried:
            self._tried = True
            self._list()
        if self._listed is not None:
            return {e for e in external_ids if e in self._listed}
        unknown = [e for e in external_ids if e not in self._found]
        out = {e for e in external_ids if e in self._found}
        out |= self._look_up(unknown)
        return out

    def _look_up(self, external_ids: Sequence[str]) -> set[str]:
        from .._client import Call

        calls = [Call("GET", "/users/" + quote(e, safe="")) for e in external_ids]
        found: set[str] = set()
        for position, outcome in self._client.stream(calls):
            self.requests += 1
            if isinstance(outcome, NotFoundError) and not route_missing(outcome):
                continue
            if isinstance(outcome, SpotzeeError):
                raise outcome
            found.add(external_ids[position])
        return found

    def add(self, external_ids: Sequence[str]) -> None:
        """These now exist (created by this run)."""
        if self._listed is not None:
            self._listed.update(external_ids)
        self._found.update(external_ids)
