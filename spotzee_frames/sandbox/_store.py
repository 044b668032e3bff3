"""The project's data: users, campaigns, journeys, events and what was sent.

Plain containers and the domain operations on them (upsert, delete, record an event).
The store does no locking: the app holds its lock around every call. Users are changed
only through these operations (or, for a new one, after calling `user_changed`), so the
orders kept for listing them stay true.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from ._demo_data import (
    DEMO_ENTRANCES,
    PROJECT_ID,
    demo_campaigns,
    demo_journeys,
    demo_lists,
    demo_subscriptions,
    demo_tags,
)
from ._pagination import OrderedIndex, field_key
from ._time import iso_z

__all__ = ["EventRow", "Store"]


@dataclass(slots=True)
class EventRow:
    """A stored event: its time and order for sorting, and its record as the API returns it."""

    ts: int
    seq: int
    record: dict[str, Any]


class Store:
    """Everything one sandboxed project holds."""

    def __init__(self, *, demo: bool, seed: int) -> None:
        self.users: dict[int, dict[str, Any]] = {}
        self.by_external: dict[str, int] = {}
        self.by_anonymous: dict[str, int] = {}
        self.next_user_id = 1
        self.write_counts: Counter[str] = Counter()
        #: external_id -> how many times a stored user of that id was deleted.
        self.deletions: Counter[str] = Counter()
        self.campaigns: dict[int, dict[str, Any]] = {}
        self.journeys: dict[int, dict[str, Any]] = {}
        self.entrances: dict[int, frozenset[int]] = {}
        self.subscriptions: dict[int, dict[str, Any]] = {}
        self.lists: dict[int, dict[str, Any]] = {}
        self.tags: dict[int, dict[str, Any]] = {}
        #: (external_id or anonymous_id, subscription id) -> times a state was applied
        self.subscription_writes: Counter[tuple[str, int]] = Counter()
        #: user id -> subscription id -> state (0 unsubscribed, 1 subscribed, 2 opted in)
        self.user_subscriptions: dict[int, dict[int, int]] = {}
        self.events: list[EventRow] = []
        self.next_event_seq = 1
        self.campaign_sends: list[dict[str, Any]] = []
        self.journey_entrances: list[dict[str, Any]] = []
        self.prefix_counters: Counter[str] = Counter()
        #: sort field -> the users in that order, made on the first listing by it.
        self._user_orders: dict[str, OrderedIndex] = {}
        if demo:
            self.campaigns = {c["id"]: c for c in demo_campaigns(seed)}
            self.journeys = {j["id"]: j for j in demo_journeys(seed)}
            self.entrances = {jid: frozenset(ids) for jid, ids in DEMO_ENTRANCES.items()}
            self.subscriptions = {s["id"]: s for s in demo_subscriptions()}
            self.lists = {x["id"]: x for x in demo_lists()}
            self.tags = {t["id"]: t for t in demo_tags()}

    # users

    def user_changed(self, uid: int) -> None:
        """Note that user `uid` was added, changed or removed, for the listing orders."""
        for order in self._user_orders.values():
            order.touch(uid)

    def users_by(self, sort: str) -> OrderedIndex:
        """The users in the order of `sort` (ties by id), up to date."""
        order = self._user_orders.get(sort)
        if order is None:
            order = self._user_orders[sort] = OrderedIndex(field_key(sort))
            for uid in self.users:
                order.touch(uid)
        order.refresh(self.users)
        return order

    def find_external(self, external_id: str) -> dict[str, Any] | None:
        uid = self.by_external.get(external_id)
        return None if uid is None else self.users[uid]

    def upsert(self, fields: dict[str, Any], now: str) -> dict[str, Any]:
        """Create or update the user `fields` names; return the stored (live) object.

        The key is external_id, else anonymous_id. An anonymous-only user gains the
        external_id when both come together (linking). A field present with None clears
        it; `data` is merged shallowly; absent fields are left alone.
        """
        external_id: str | None = fields.get("external_id")
        anonymous_id: str | None = fields.get("anonymous_id")
        uid = None if external_id is None else self.by_external.get(external_id)
        if uid is None and anonymous_id is not None:
            candidate = self.by_anonymous.get(anonymous_id)
            if candidate is not None and (
                external_id is None or self.users[candidate]["external_id"] is None
            ):
                uid = candidate
        if uid is None:
            uid = self.next_user_id
            self.next_user_id += 1
            user: dict[str, Any] = {
                "id": uid,
                "project_id": PROJECT_ID,
                "external_id": None,
                "anonymous_id": None,
                "email": None,
                "phone": None,
                "timezone": None,
                "locale": None,
                "data": {},
                "has_push_device": False,
                "devices": [],
                "created_at": now,
                "updated_at": now,
            }
            self.users[uid] = user
        else:
            user = self.users[uid]
        for key, value in fields.items():
            if key == "data":
                if value is None:
                    user["data"] = {}
                else:
                    merged = dict(user["data"])
                    merged.update(value)
                    user["data"] = merged
            elif key == "external_id":
                if user["external_id"] != value:
                    user["external_id"] = value
                    self.by_external[value] = uid
            elif key == "anonymous_id":
                old = user["anonymous_id"]
                if old != value:
                    if old is not None and self.by_anonymous.get(old) == uid:
                        del self.by_anonymous[old]
                    user["anonymous_id"] = value
                    self.by_anonymous[value] = uid
            else:
                user[key] = value
        user["updated_at"] = now
        self.user_changed(uid)
        return user

    def find_user(self, external_id: str | None, anonymous_id: str | None) -> dict[str, Any] | None:
        """The stored user an external_id (else an anonymous_id) names, if any."""
        if external_id is not None:
            return self.find_external(external_id)
        uid = None if anonymous_id is None else self.by_anonymous.get(anonymous_id)
        return None if uid is None else self.users[uid]

    def subscription_state(self, user: dict[str, Any], subscription_id: int) -> int:
        """0, 1 or 2; a user with no state counts as subscribed to a non-public one."""
        states = self.user_subscriptions.get(user["id"], {})
        if subscription_id in states:
            return states[subscription_id]
        return 0 if self.subscriptions[subscription_id].get("is_public") else 1

    def set_subscription_state(
        self, user: dict[str, Any], subscription_id: int, state: int, now: str
    ) -> None:
        self.user_subscriptions.setdefault(user["id"], {})[subscription_id] = state
        user["updated_at"] = now
        self.user_changed(user["id"])
        self.subscription_writes[(self.user_key(user), subscription_id)] += 1

    def add_device(self, user: dict[str, Any], token: str, now: str) -> None:
        if any(device["token"] == token for device in user["devices"]):
            return
        user["devices"] = [*user["devices"], {"token": token, "os": None, "created_at": now}]
        user["has_push_device"] = True

    @staticmethod
    def user_key(user: dict[str, Any]) -> str:
        """external_id, or anonymous_id for an anonymous-only user."""
        key: str = user["external_id"] or user["anonymous_id"]
        return key

    @staticmethod
    def snapshot(user: dict[str, Any]) -> dict[str, Any]:
        """A copy that later upserts cannot change (data is replaced, never edited in place)."""
        return dict(user)

    def delete_external(self, external_ids: list[str]) -> int:
        deleted = 0
        for external_id in external_ids:
            uid = self.by_external.pop(external_id, None)
            if uid is None:
                continue
            user = self.users.pop(uid)
            anonymous_id = user["anonymous_id"]
            if anonymous_id is not None and self.by_anonymous.get(anonymous_id) == uid:
                del self.by_anonymous[anonymous_id]
            self.user_subscriptions.pop(uid, None)
            self.user_changed(uid)
            self.deletions[external_id] += 1
            deleted += 1
        return deleted

    # events

    def add_event(
        self,
        name: str,
        *,
        ts: int,
        external_id: str | None,
        anonymous_id: str | None,
        campaign_id: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        seq = self.next_event_seq
        self.next_event_seq += 1
        record = {
            "id": f"evt_{seq:012x}",
            "name": name,
            "created_at": iso_z(ts),
            "user": {"external_id": external_id, "anonymous_id": anonymous_id},
            "campaign_id": campaign_id,
            "data": {} if data is None else data,
        }
        self.events.append(EventRow(ts=ts, seq=seq, record=record))
        return record
