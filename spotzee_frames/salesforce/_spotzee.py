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
    for a pull of `total` records."""

    def __init__(self, client: Client, prefix: str, total: int) -> None:
        self._client = client
        self._prefix = prefix
        self._total = total
        self._listed: set[str] | None = None  # every id with the prefix, once listed
        self._found: set[str] = set()
        #: Requests made to find out (for the log and the tests).
        self.requests = 0

    def _list(self) -> None:
        """Walk the listing while it is cheaper than per-id look-ups would be."""
        params: dict[str, Any] = {"q": self._prefix, "limit": _LIST_LIMIT}
        pages = 0
        found: set[str] = set()
        while True:
            response = self._client.request("GET", "/users", params=params)
            self.requests += 1
            pages += 1
            data = response.data if isinstance(response.data, dict) else {}
            for user in data.get("results") or ():
                ext = user.get("external_id") if isinstance(user, dict) else None
                if isinstance(ext, str) and ext.startswith(self._prefix):
                    found.add(ext)
            cursor = data.get("nextCursor")
            if not cursor:
                self._listed = found
                return
            total = response.headers.get("x-total-count")
            left = math.ceil(int(total) / _LIST_LIMIT) - pages if total and total.isdigit() else 1
            if pages + left > self._total:  # more pages than records: look ids up instead
                self._found |= found
                return
            params["cursor"] = cursor

    def existing(self, external_ids: Sequence[str]) -> set[str]:
        """The ids among `external_ids` that name an existing user."""
        if self._listed is None and self._total > _PER_ID_MAX and self.requests == 0:
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
