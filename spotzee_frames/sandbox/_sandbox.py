"""`Sandbox`: the facade tests, the demo and benchmarks use.

It owns one project's state and faults, hands out transports (in process or served on
a socket) and lets callers inspect what happened. Inspection returns copies taken under
the lock, so it is safe while a served sandbox runs on another thread.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
import orjson

from . import _server
from ._app import STAT_KEYS, App
from ._demo_data import DEMO_ENTRANCES
from ._faults import Faults
from ._profiles import ProfileName, profile_named
from ._server import ServedSandbox
from ._store import Store
from ._time import iso_z, now_micros, to_micros
from ._transport import AsyncSandboxTransport, SandboxTransport
from ._validation import check_timestamp
from ._wire import RequestRecord

__all__ = ["Sandbox"]


def _copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (much faster than copy.deepcopy)."""
    return orjson.loads(orjson.dumps(value))


def _micros(moment: datetime | str | None) -> int:
    if moment is None:
        return now_micros()
    if isinstance(moment, str):
        moment = check_timestamp(moment, "created_at")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return to_micros(moment) // 1000 * 1000


class Sandbox:
    """A local Spotzee Main API for one project.

    `profile="parcelvoy"` plays a self-hosted Parcelvoy instead of the contract's Spotzee
    (no batch routes, idempotency ignored, Parcelvoy's errors and shapes; see
    `spotzee_frames.sandbox._profiles`). `api_keys` names the keys that belong to the
    project; by default any well-formed `sk_`/`pk_` key does, and with a list any other
    key is refused as the profile's server refuses a foreign key.

    >>> sb = Sandbox()
    >>> with httpx.Client(transport=sb.sync_transport(),
    ...                   base_url="http://sandbox/api/client") as client:
    ...     client.get("/campaigns", headers={"Authorization": "Bearer sk_test",
    ...                                       "Spotzee-Version": "2026-04-28"}).status_code
    200
    """

    #: journey id -> entrance step ids of the demo journeys.
    DEMO_ENTRANCES: ClassVar[dict[int, list[int]]] = DEMO_ENTRANCES

    def __init__(
        self,
        faults: Faults | None = None,
        *,
        demo: bool = True,
        seed: int = 0,
        max_records: int = 10_000,
        profile: ProfileName = "spotzee",
        api_keys: Iterable[str] | None = None,
    ) -> None:
        if isinstance(api_keys, str):
            raise TypeError("api_keys must be a list of keys, not one string")
        self._app = App(
            faults if faults is not None else Faults(),
            demo=demo,
            seed=seed,
            max_records=max_records,
            profile=profile_named(profile),
            api_keys=None if api_keys is None else frozenset(api_keys),
        )

    def __repr__(self) -> str:
        with self._app.lock:
            users = len(self._app.store.users)
            requests = self._app.stats["requests"]
        profile = self._app.profile.name
        where = "" if profile == "spotzee" else f" profile={profile}"
        return f"<Sandbox{where} demo={self._app.demo} users={users} requests={requests}>"

    @property
    def profile(self) -> str:
        """The server the sandbox plays: "spotzee" or "parcelvoy"."""
        return self._app.profile.name

    # faults

    @property
    def faults(self) -> Faults:
        """The live fault settings; change fields (or assign a new Faults) at any time."""
        return self._app.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        with self._app.lock:
            self._app.faults = faults

    def inject(
        self,
        kind: str,
        *,
        times: int = 1,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Script `times` faults of `kind` for the next matching requests.

        Scripted faults are consumed in order, before random ones. `path` matches by
        prefix of the path relative to /api/client (e.g. "/users/batch"). Kinds: "503",
        "500", "429", "html502", "plain404" (nothing is done) and "drop" (the work is
        committed and cached, then the response is lost).
        """
        with self._app.lock:
            self._app.plan.inject(kind, times=times, method=method, path=path)

    # transports

    def transport(self, *, client: str = "127.0.0.1") -> httpx.AsyncBaseTransport:
        """An in-process async transport (for httpx.AsyncClient)."""
        return AsyncSandboxTransport(self._app, client=client)

    def sync_transport(self, *, client: str = "127.0.0.1") -> httpx.BaseTransport:
        """An in-process sync transport (for httpx.Client)."""
        return SandboxTransport(self._app, client=client)

    @contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[ServedSandbox]:
        """Serve on a real socket from a background thread; port 0 picks a free port."""
        with _server.serve(self._app, host, port) as served:
            yield served

    def serve_forever(
        self,
        host: str = "127.0.0.1",
        port: int = 8765,
        *,
        ready: Callable[[ServedSandbox], None] | None = None,
    ) -> None:
        """Serve in this thread until interrupted (Ctrl+C)."""
        _server.serve_forever(self._app, host, port, ready=ready)

    # inspection

    @property
    def users(self) -> dict[str, dict[str, Any]]:
        """external_id (anonymous_id for anonymous-only users) -> the user as the API shows it."""
        with self._app.lock:
            users = list(self._app.store.users.values())
            copies: list[dict[str, Any]] = _copy(users)
        return {Store.user_key(user): user for user in copies}

    def get_user(self, external_id: str) -> dict[str, Any] | None:
        with self._app.lock:
            user = self._app.store.find_external(external_id)
            return None if user is None else dict(_copy(user))

    @property
    def write_counts(self) -> Counter[str]:
        """external_id -> how many upsert items for it were applied (batch and PATCH)."""
        with self._app.lock:
            return Counter(self._app.store.write_counts)

    @property
    def deletions(self) -> Counter[str]:
        """external_id -> how many times a stored user of that id was deleted (by either
        DELETE route; deleting an unknown id counts nothing)."""
        with self._app.lock:
            return Counter(self._app.store.deletions)

    @property
    def subscription_writes(self) -> Counter[tuple[str, int]]:
        """(external_id — anonymous_id for anonymous-only users —, subscription id) -> how
        many subscription states were applied for it (by either route)."""
        with self._app.lock:
            return Counter(self._app.store.subscription_writes)

    def subscription_states(self, external_id: str) -> dict[int, int]:
        """subscription id -> the user's state (0, 1, 2), as GET /users/{id}/subscriptions
        reports it; KeyError for an unknown user."""
        with self._app.lock:
            store = self._app.store
            user = store.find_external(external_id)
            if user is None:
                raise KeyError(external_id)
            return {sid: store.subscription_state(user, sid) for sid in store.subscriptions}

    @property
    def campaign_sends(self) -> list[dict[str, Any]]:
        """One record per applied campaign trigger: campaign_id, external_id, user (as
        sent), event, request_id, idempotency_key."""
        with self._app.lock:
            return list(_copy(self._app.store.campaign_sends))

    @property
    def journey_entrances(self) -> list[dict[str, Any]]:
        """One record per applied journey trigger: journey_id, entrance_id, external_id,
        user (as sent), event, request_id, idempotency_key."""
        with self._app.lock:
            return list(_copy(self._app.store.journey_entrances))

    @property
    def events(self) -> list[dict[str, Any]]:
        """Stored event records (as GET /events returns them with the payload), oldest
        stored first."""
        with self._app.lock:
            return list(_copy([row.record for row in self._app.store.events]))

    @property
    def campaigns(self) -> dict[int, dict[str, Any]]:
        with self._app.lock:
            return {cid: dict(_copy(c)) for cid, c in self._app.store.campaigns.items()}

    @property
    def journeys(self) -> dict[int, dict[str, Any]]:
        with self._app.lock:
            return {jid: dict(_copy(j)) for jid, j in self._app.store.journeys.items()}

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request seen (the most recent `max_records`), oldest first."""
        with self._app.lock:
            return list(self._app.records)

    @property
    def stats(self) -> dict[str, int]:
        """Counters: requests, ok, client_errors, server_errors, rate_limited, failures,
        drops, replays, in_progress, mismatches, bugs."""
        with self._app.lock:
            counts = dict.fromkeys(STAT_KEYS, 0)
            counts.update(self._app.stats)
            return counts

    # setting up

    def reset(self) -> None:
        """Back to the initial state (demo data again if demo=True); faults are kept."""
        self._app.reset()

    def add_users(self, n: int, *, prefix: str = "u") -> None:
        """Create `n` users `<prefix><k>` (k counting on across calls), with an email."""
        with self._app.lock:
            store = self._app.store
            start = store.prefix_counters[prefix]
            store.prefix_counters[prefix] += n
            now = iso_z(now_micros())
            for k in range(start + 1, start + n + 1):
                store.upsert(
                    {
                        "external_id": f"{prefix}{k}",
                        "email": f"{prefix}{k}@example.com",
                        "data": {"n": k},
                    },
                    now,
                )

    def add_events(
        self,
        records: Iterable[Mapping[str, Any]] | None = None,
        /,
        *,
        name: str | None = None,
        external_id: str | None = None,
        anonymous_id: str | None = None,
        campaign_id: int | None = None,
        created_at: datetime | str | None = None,
        data: Mapping[str, Any] | None = None,
        count: int = 1,
    ) -> list[dict[str, Any]]:
        """Store events directly (no request). Either pass mappings with the keyword
        names below, or the keywords for `count` identical events. Returns the records."""
        if records is None:
            if name is None:
                raise TypeError("add_events needs records or name=")
            records = [
                {
                    "name": name,
                    "external_id": external_id,
                    "anonymous_id": anonymous_id,
                    "campaign_id": campaign_id,
                    "created_at": created_at,
                    "data": data,
                }
            ] * count
        added = []
        with self._app.lock:
            store = self._app.store
            for record in records:
                added.append(
                    store.add_event(
                        record["name"],
                        ts=_micros(record.get("created_at")),
                        external_id=record.get("external_id"),
                        anonymous_id=record.get("anonymous_id"),
                        campaign_id=record.get("campaign_id"),
                        data=dict(record.get("data") or {}),
                    )
                )
            result: list[dict[str, Any]] = _copy(added)
        return result
