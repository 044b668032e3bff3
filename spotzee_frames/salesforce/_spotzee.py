"""The two things a sync asks Spotzee besides the upsert: which of its users already exist
(so that a record is counted `imported` or `updated` honestly), and the unsubscribe of
opted-out users.

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

import numpy as np
import pandas as pd

from .._errors import NotFoundError, SpotzeeError, route_missing

if TYPE_CHECKING:
    from .._client import Client

__all__ = ["ExistingUsers", "set_subscription_states"]

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


def set_subscription_states(
    frame: pd.DataFrame, subscription_id: int, *, state: int, client: Client
) -> pd.DataFrame:
    """Set each row's user (`external_id` column) to `state` on `subscription_id`; one result
    row per input row: `status` (`updated`, `rejected` or `failed`) and `error_code`,
    `error_message`.

    Stand-in with the call shape of `spotzee_frames.set_subscription` (being added on its
    own): one `PATCH /users/{external_id}/subscriptions` per user, which the contract
    gives as the per-user route for this change; each with a key derived from its body, so
    a retried or re-run change replays instead of applying twice.
    """
    from .._client import Call

    ids = frame["external_id"].tolist()
    calls = [
        Call(
            "PATCH",
            f"/users/{quote(ext, safe='')}/subscriptions",
            json=[{"subscription_id": subscription_id, "state": state}],
            idempotency_key=f"sf-optout:{subscription_id}:{state}:{ext}",
        )
        for ext in ids
    ]
    status = np.full(len(ids), "updated", dtype=object)
    codes = np.full(len(ids), None, dtype=object)
    messages = np.full(len(ids), None, dtype=object)
    for position, outcome in client.stream(calls):
        if isinstance(outcome, SpotzeeError):
            code = getattr(outcome, "status_code", None)
            refused = code is not None and 400 <= code < 500 and code != 429
            status[position] = "rejected" if refused else "failed"
            codes[position] = getattr(outcome, "code", type(outcome).__name__)
            messages[position] = str(outcome)
    return pd.DataFrame(
        {
            "status": status,
            "error_code": pd.array(codes, dtype="string"),
            "error_message": pd.array(messages, dtype="string"),
        },
        index=frame.index,
    )
