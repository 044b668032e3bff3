"""The Main API's endpoints: validate one request, then read or change the store.

Handlers are plain functions `(store, call) -> Reply` that raise `ApiError` to refuse.
They run under the app's lock, and the reply is serialised before the lock is let go.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import unquote

import orjson

from ._pagination import (
    PageQuery,
    field_key,
    paginate,
    paginate_sorted,
    parse_page_query,
    single,
)
from ._problems import ApiError
from ._profiles import SPOTZEE, Profile
from ._store import EventRow, Store
from ._time import iso_z, to_micros
from ._validation import (
    FieldError,
    check_data,
    check_identifier,
    check_timestamp,
    check_upsert_item,
    check_user_profile,
    check_user_reference,
    json_type,
)

__all__ = ["ROUTES", "Call", "Reply", "Route", "find_route"]

MAX_ITEMS: Final = 100


@dataclass(slots=True)
class Call:
    """What a handler gets: path parameters, query, body, and the request's identity."""

    params: dict[str, str]
    query: dict[str, list[str]]
    body: bytes
    content_type: str | None
    #: Request time, integer microseconds since the epoch (millisecond precision).
    now: int
    now_iso: str
    request_id: str
    idempotency_key: str | None
    #: The server the sandbox plays, for the few rules that differ.
    profile: Profile = SPOTZEE
    #: Items the request carries (a batch's elements), for the per-item work cost.
    items: int = 1


@dataclass(slots=True)
class Reply:
    """A handler's answer; `payload` None means no body (204)."""

    status: int
    payload: Any = None
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Store, Call], Reply]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    #: A publishable (pk_) key may call it.
    publishable: bool = False


def _fail(error: FieldError) -> ApiError:
    return ApiError(error.code, error.message, param=error.param)


# request bodies


def read_json(call: Call) -> Any:
    """The parsed body; strict JSON (no NaN or Infinity), sent as application/json."""
    if not call.body:
        raise ApiError("parameter_missing", "a JSON request body is required")
    media = (call.content_type or "").partition(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise ApiError(
            "parameter_invalid_format",
            f"Content-Type must be application/json, got {media or 'none'}",
        )
    try:
        return orjson.loads(call.body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            "parameter_invalid_format",
            f"the body is not valid JSON ({exc}); note NaN and Infinity are not JSON",
        ) from None


def read_array(call: Call, what: str) -> list[Any]:
    body = read_json(call)
    if type(body) is not list:
        raise ApiError(
            "parameter_invalid_format",
            f"the body must be a bare JSON array of 1 to {MAX_ITEMS} {what}, got {json_type(body)}",
        )
    if not body:
        raise ApiError(
            "parameter_invalid_empty", f"the body must hold 1 to {MAX_ITEMS} {what}, got none"
        )
    if len(body) > MAX_ITEMS:
        raise ApiError(
            "parameter_invalid_format",
            f"the body holds {len(body)} {what}; send at most {MAX_ITEMS} per request",
        )
    call.items = len(body)
    return body


def read_object(call: Call) -> dict[str, Any]:
    body = read_json(call)
    if type(body) is not dict:
        raise ApiError(
            "parameter_invalid_format", f"the body must be a JSON object, got {json_type(body)}"
        )
    return body


def refuse_unknown(body: dict[str, Any], allowed: Iterable[str], hint: str = "") -> None:
    allowed = tuple(allowed)
    for key in body:
        if key not in allowed:
            raise ApiError(
                "parameter_unknown",
                f"unknown field {key!r}; allowed fields are {', '.join(allowed)}{hint}",
                param=key,
            )


def _list_reply(
    pq: PageQuery, rows: list[Any], next_cursor: str | None, prev_cursor: str | None, total: int
) -> Reply:
    payload = {
        "results": rows,
        "nextCursor": next_cursor,
        "prevCursor": prev_cursor,
        "limit": pq.limit,
    }
    return Reply(200, payload, [("x-total-count", str(total)), ("x-limit", str(pq.limit))])


def _matches(query: str, values: Iterable[Any]) -> bool:
    return any(isinstance(value, str) and query in value.casefold() for value in values)


def _enum_filter(call: Call, name: str, allowed: tuple[str, ...]) -> set[str] | None:
    values = call.query.get(name)
    if not values:
        return None
    for value in values:
        if value not in allowed:
            raise ApiError(
                "parameter_invalid_format",
                f"{name} must be one of {', '.join(allowed)}, got {value!r}",
                param=name,
            )
    return set(values)


def _user_in_path(store: Store, call: Call) -> dict[str, Any]:
    external_id = call.params["external_id"]
    user = store.find_external(external_id)
    if user is None:
        raise ApiError(
            "resource_missing", f"no user with external_id {external_id!r}", param="external_id"
        )
    return user


# users


def users_batch(store: Store, call: Call) -> Reply:
    items = read_array(call, "users")
    results: list[dict[str, Any]] = []
    succeeded = 0
    for index, item in enumerate(items):
        try:
            fields = check_upsert_item(item)
        except FieldError as error:
            raw = item if type(item) is dict else {}
            external_id, anonymous_id = raw.get("external_id"), raw.get("anonymous_id")
            results.append(
                {
                    "index": index,
                    "external_id": external_id if type(external_id) is str else None,
                    "anonymous_id": anonymous_id if type(anonymous_id) is str else None,
                    "error": error.as_item_error(),
                }
            )
            continue
        user = store.upsert(fields, call.now_iso)
        store.write_counts[store.user_key(user)] += 1
        succeeded += 1
        results.append(
            {
                "index": index,
                "external_id": fields.get("external_id"),
                "anonymous_id": fields.get("anonymous_id"),
                "user": store.snapshot(user),
            }
        )
    return Reply(
        200, {"results": results, "succeeded": succeeded, "failed": len(items) - succeeded}
    )


def users_patch(store: Store, call: Call) -> Reply:
    for item in read_array(call, "users"):
        try:
            fields = check_upsert_item(item)
        except FieldError:
            continue  # asynchronous on the real API: a bad item is dropped silently
        user = store.upsert(fields, call.now_iso)
        store.write_counts[store.user_key(user)] += 1
    return Reply(204)


_USER_SORTS: Final = ("id", "created_at", "updated_at", "external_id", "email")


def users_list(store: Store, call: Call) -> Reply:
    pq = parse_page_query(
        call.query, sorts=_USER_SORTS, default_sort="id", default_direction="desc"
    )
    order = store.users_by(pq.sort)
    keys, ids = order.keys, order.ids
    if pq.q:  # a search reads every user; a plain listing only its page
        q = pq.q
        hits = [
            i
            for i, uid in enumerate(ids)
            if _matches(
                q,
                (
                    (user := store.users[uid])["external_id"],
                    user["anonymous_id"],
                    user["email"],
                    user["phone"],
                    *user["data"].values(),
                ),
            )
        ]
        keys, ids = [keys[i] for i in hits], [ids[i] for i in hits]
    page = paginate_sorted(
        keys, lambda start, stop: [store.users[uid] for uid in ids[start:stop]], pq
    )
    return _list_reply(pq, page.rows, page.next_cursor, page.prev_cursor, page.total)


def users_get(store: Store, call: Call) -> Reply:
    return Reply(200, _user_in_path(store, call))


def users_delete(store: Store, call: Call) -> Reply:
    ids = call.query.get("user_id")
    if not ids:
        raise ApiError(
            "parameter_missing", "give the users to delete as ?user_id=a&user_id=b", param="user_id"
        )
    for external_id in ids:
        if not external_id:
            raise ApiError("parameter_invalid_empty", "user_id must not be empty", param="user_id")
    store.delete_external(ids)
    return Reply(204)


def users_delete_one(store: Store, call: Call) -> Reply:
    user = _user_in_path(store, call)
    store.delete_external([user["external_id"]])
    return Reply(204)


def subscriptions_get(store: Store, call: Call) -> Reply:
    user = _user_in_path(store, call)
    pq = parse_page_query(call.query, sorts=("id",), default_sort="id", default_direction="asc")
    rows = [
        {
            "id": sid,
            "subscription_id": sid,
            "name": sub["name"],
            "channel": sub["channel"],
            "state": store.subscription_state(user, sid),
        }
        for sid, sub in store.subscriptions.items()
    ]
    if pq.q:
        rows = [row for row in rows if _matches(pq.q, (row["name"], row["channel"]))]
    page = paginate(rows, field_key(pq.sort), pq)
    results = [{k: v for k, v in row.items() if k != "id"} for row in page.rows]
    return _list_reply(pq, results, page.next_cursor, page.prev_cursor, page.total)


def subscriptions_patch(store: Store, call: Call) -> Reply:
    user = _user_in_path(store, call)
    items = read_array(call, "subscription states")
    changes: dict[int, int] = {}
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        where = f"items.{index}"
        if type(item) is not dict:
            errors.append(
                {
                    "param": where,
                    "code": "parameter_invalid_format",
                    "message": f"{where} must be an object",
                }
            )
            continue
        unknown = [key for key in item if key not in ("subscription_id", "state")]
        sid, state = item.get("subscription_id"), item.get("state")
        if unknown:
            errors.append(
                {
                    "param": f"{where}.{unknown[0]}",
                    "code": "parameter_unknown",
                    "message": f"unknown field {unknown[0]!r}",
                }
            )
        elif type(sid) is not int:
            errors.append(
                {
                    "param": f"{where}.subscription_id",
                    "code": "parameter_invalid_format",
                    "message": "subscription_id must be an integer",
                }
            )
        elif sid not in store.subscriptions:
            errors.append(
                {
                    "param": f"{where}.subscription_id",
                    "code": "validation_failed",
                    "message": f"no subscription {sid}",
                }
            )
        elif type(state) is not int or state not in (0, 1, 2):
            errors.append(
                {
                    "param": f"{where}.state",
                    "code": "parameter_invalid_format",
                    "message": "state must be 0 (unsubscribed), 1 (subscribed) or 2 (opted in)",
                }
            )
        else:
            changes[sid] = state
    if errors:
        first = errors[0]
        raise ApiError(first["code"], first["message"], param=first["param"], errors=errors)
    for sid, state in changes.items():
        store.set_subscription_state(user, sid, state, call.now_iso)
    return Reply(200, store.snapshot(user))


def _simple_list(
    call: Call,
    rows: Iterable[dict[str, Any]],
    *,
    sorts: tuple[str, ...],
    default_sort: str,
    direction: Literal["asc", "desc"],
    enums: dict[str, tuple[str, ...]],
    searched: Callable[[dict[str, Any]], Iterable[Any]],
) -> Reply:
    """A list endpoint over `rows`: page query, exact filters on the `enums` fields (the
    query parameter of the same name), and `q` over `searched(row)`."""
    pq = parse_page_query(
        call.query, sorts=sorts, default_sort=default_sort, default_direction=direction
    )
    wanted = {name: _enum_filter(call, name, allowed) for name, allowed in enums.items()}
    kept = [
        row
        for row in rows
        if all(values is None or row[name] in values for name, values in wanted.items())
    ]
    if pq.q:
        q = pq.q
        kept = [row for row in kept if _matches(q, searched(row))]
    page = paginate(kept, field_key(pq.sort), pq)
    return _list_reply(pq, page.rows, page.next_cursor, page.prev_cursor, page.total)


def subscriptions_list(store: Store, call: Call) -> Reply:
    return _simple_list(
        call,
        store.subscriptions.values(),
        sorts=("id", "name", "created_at", "updated_at"),
        default_sort="id",
        direction="asc",
        enums={"channel": _CHANNELS},
        searched=lambda s: (s["name"], s["channel"]),
    )


def subscriptions_one(store: Store, call: Call) -> Reply:
    sid = int(call.params["id"])
    subscription = store.subscriptions.get(sid)
    if subscription is None:
        raise ApiError("resource_missing", f"no subscription {sid}", param="id")
    return Reply(200, subscription)


def _item_object(item: object, allowed: tuple[str, ...], where: str | None) -> dict[str, Any]:
    """An item of a bulk body: an object with only `allowed` keys (`where` names it in
    params, e.g. `items.3`; None: the item's own field names)."""
    if type(item) is not dict:
        what = where or "each item"
        raise FieldError(
            "parameter_invalid_format", f"{what} must be an object, got {json_type(item)}", where
        )
    for key in item:
        if key not in allowed:
            raise FieldError(
                "parameter_unknown",
                f"unknown field {key!r}; allowed are {', '.join(allowed)}",
                key if where is None else f"{where}.{key}",
            )
    return item


_BATCH_STATE_KEYS: Final = ("external_id", "anonymous_id", "subscription_id", "state")


def _subscription_change(store: Store, item: object) -> tuple[dict[str, Any], int, int]:
    """One item of `POST /subscriptions/batch`: (user, subscription id, state)."""
    item = _item_object(item, _BATCH_STATE_KEYS, None)
    ids = {k: check_identifier(item[k], k) for k in ("external_id", "anonymous_id") if k in item}
    if not ids:
        raise FieldError(
            "parameter_missing", "each item needs an external_id or an anonymous_id", "external_id"
        )
    sid, state = item.get("subscription_id"), item.get("state")
    if type(sid) is not int:
        raise FieldError(
            "parameter_invalid_format", "subscription_id must be an integer", "subscription_id"
        )
    if type(state) is not int or state not in (0, 1, 2):
        raise FieldError(
            "parameter_invalid_format",
            "state must be 0 (unsubscribed), 1 (subscribed) or 2 (opted in)",
            "state",
        )
    if sid not in store.subscriptions:
        raise FieldError("resource_missing", f"no subscription {sid}", "subscription_id")
    user = store.find_user(ids.get("external_id"), ids.get("anonymous_id"))
    if user is None:
        key, value = next(iter(ids.items()))
        raise FieldError("resource_missing", f"no user with {key} {value!r}", key)
    return user, sid, state


def subscriptions_batch(store: Store, call: Call) -> Reply:
    items = read_array(call, "subscription changes")
    results: list[dict[str, Any]] = []
    succeeded = 0
    for index, item in enumerate(items):
        raw = item if type(item) is dict else {}
        echo: dict[str, Any] = {"index": index}
        for key in ("external_id", "anonymous_id"):
            if type(raw.get(key)) is str:
                echo[key] = raw[key]
        if type(raw.get("subscription_id")) is int:
            echo["subscription_id"] = raw["subscription_id"]
        try:
            user, sid, state = _subscription_change(store, item)
        except FieldError as error:
            results.append({**echo, "error": error.as_item_error()})
            continue
        store.set_subscription_state(user, sid, state, call.now_iso)
        succeeded += 1
        results.append({**echo, "state": state})
    return Reply(
        200, {"results": results, "succeeded": succeeded, "failed": len(items) - succeeded}
    )


# lists and tags


def lists_list(store: Store, call: Call) -> Reply:
    return _simple_list(
        call,
        store.lists.values(),
        sorts=("updated_at", "created_at", "id", "name"),
        default_sort="updated_at",
        direction="desc",
        enums={"type": ("static", "dynamic"), "state": ("draft", "ready", "loading")},
        searched=lambda x: (x["name"], *x["tags"]),
    )


def lists_get(store: Store, call: Call) -> Reply:
    lid = int(call.params["id"])
    found = store.lists.get(lid)
    if found is None:
        raise ApiError("resource_missing", f"no list {lid}", param="id")
    return Reply(200, found)


def tags_list(store: Store, call: Call) -> Reply:
    return _simple_list(
        call,
        store.tags.values(),
        sorts=("id", "name", "created_at"),
        default_sort="id",
        direction="asc",
        enums={},
        searched=lambda t: (t["name"],),
    )


# campaigns

CAMPAIGN_STATES: Final = (
    "draft",
    "scheduled",
    "loading",
    "running",
    "finished",
    "aborting",
    "aborted",
)
_CAMPAIGN_TYPES: Final = ("blast", "trigger")
_CHANNELS: Final = ("email", "text", "push", "webhook", "in_app")
_TRIGGERABLE: Final = ("scheduled", "loading", "running")
#: state -> states a PATCH may move it to (the platform moves the rest itself).
_TRANSITIONS: Final[dict[str, tuple[str, ...]]] = {
    "draft": ("scheduled",),
    "scheduled": ("draft", "aborted"),
    "loading": ("aborted",),
    "running": ("aborted",),
    "aborting": (),
    "finished": (),
    "aborted": ("draft",),
}
_CAMPAIGN_PATCHABLE: Final = (
    "name",
    "description",
    "tags",
    "state",
    "send_at",
    "send_in_user_timezone",
)
_CAMPAIGN_SORTS: Final = ("created_at", "updated_at", "id", "name", "send_at")


def _campaign(store: Store, call: Call) -> dict[str, Any]:
    cid = int(call.params["id"])
    campaign = store.campaigns.get(cid)
    if campaign is None:
        raise ApiError("resource_missing", f"no campaign {cid}", param="id")
    return campaign


def campaigns_list(store: Store, call: Call) -> Reply:
    pq = parse_page_query(
        call.query, sorts=_CAMPAIGN_SORTS, default_sort="created_at", default_direction="desc"
    )
    states = _enum_filter(call, "state", CAMPAIGN_STATES)
    kinds = _enum_filter(call, "type", _CAMPAIGN_TYPES)
    channels = _enum_filter(call, "channel", _CHANNELS)
    tags = call.query.get("tag")
    rows = [
        c
        for c in store.campaigns.values()
        if (states is None or c["state"] in states)
        and (kinds is None or c["type"] in kinds)
        and (channels is None or c["channel"] in channels)
        and (not tags or any(tag in c["tags"] for tag in tags))
    ]
    if pq.q:
        q = pq.q
        rows = [
            c
            for c in rows
            if _matches(
                q, (c["name"], c["description"], c["channel"], c["type"], c["state"], *c["tags"])
            )
        ]
    page = paginate(rows, field_key(pq.sort), pq)
    return _list_reply(pq, page.rows, page.next_cursor, page.prev_cursor, page.total)


def campaigns_get(store: Store, call: Call) -> Reply:
    return Reply(200, _campaign(store, call))


def _string_list(value: object, param: str) -> list[str]:
    if type(value) is not list or not all(type(item) is str for item in value):
        raise ApiError(
            "parameter_invalid_format", f"{param} must be an array of strings", param=param
        )
    return list(value)


def campaigns_patch(store: Store, call: Call) -> Reply:
    campaign = _campaign(store, call)
    body = read_object(call)
    refuse_unknown(body, _CAMPAIGN_PATCHABLE)
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key == "name":
            try:
                changes[key] = check_identifier(value, "name")
            except FieldError as error:
                raise _fail(error) from None
        elif key == "description":
            if value is not None and type(value) is not str:
                raise ApiError(
                    "parameter_invalid_format", "description must be a string or null", param=key
                )
            changes[key] = value
        elif key == "tags":
            changes[key] = _string_list(value, key)
        elif key == "send_in_user_timezone":
            if type(value) is not bool:
                raise ApiError(
                    "parameter_invalid_format", f"{key} must be true or false", param=key
                )
            changes[key] = value
        elif key == "send_at":
            try:
                changes[key] = (
                    None if value is None else iso_z(to_micros(check_timestamp(value, key)))
                )
            except FieldError as error:
                raise _fail(error) from None
        else:  # state
            if value not in CAMPAIGN_STATES:
                raise ApiError(
                    "parameter_invalid_format",
                    f"state must be one of {', '.join(CAMPAIGN_STATES)}",
                    param=key,
                )
            current = campaign["state"]
            if value != current and value not in _TRANSITIONS[current]:
                allowed = ", ".join(_TRANSITIONS[current]) or "nothing"
                raise ApiError(
                    "state_conflict",
                    f"campaign {campaign['id']} is {current}; it can move to {allowed}, "
                    f"not {value}",
                    param="state",
                )
            if value == "scheduled" and current == "draft":
                value = call.profile.scheduled_state(campaign)
            changes[key] = value
    if changes:
        campaign.update(changes)
        campaign["updated_at"] = call.now_iso
    return Reply(200, campaign)


def _trigger_user(body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Validate a trigger's `user`: (fields to upsert, device token or None)."""
    if "user" not in body:
        raise ApiError(
            "parameter_missing", "user is required (an object with external_id)", param="user"
        )
    try:
        fields, device_token = check_user_reference(body["user"], "user")
    except FieldError as error:
        raise _fail(error) from None
    return fields, device_token


def campaigns_trigger(store: Store, call: Call) -> Reply:
    campaign = _campaign(store, call)
    body = read_object(call)
    cid, state = campaign["id"], campaign["state"]
    if call.profile.checks_trigger_state and campaign["type"] != "trigger":
        raise ApiError(
            "state_conflict",
            f"campaign {cid} is a {campaign['type']} campaign; only trigger "
            "campaigns can be triggered",
        )
    if call.profile.checks_trigger_state and state not in _TRIGGERABLE:
        hint = '; promote it with PATCH {"state": "scheduled"}' if state == "draft" else ""
        raise ApiError("state_conflict", f"campaign {cid} is {state} and cannot send{hint}")
    refuse_unknown(body, ("user", "event"), '; one user per call: {"user": {...}, "event": {...}}')
    fields, device_token = _trigger_user(body)
    if "event" not in body:
        raise ApiError(
            "parameter_missing", "event is required (an object; {} is fine)", param="event"
        )
    event = body["event"]
    if type(event) is not dict:
        raise ApiError(
            "parameter_invalid_format",
            f"event must be an object ({{}} is fine), got {json_type(event)}",
            param="event",
        )
    user = store.upsert(fields, call.now_iso)
    if device_token is not None:
        store.add_device(user, device_token, call.now_iso)
    external_id, anonymous_id = user["external_id"], user["anonymous_id"]
    store.campaign_sends.append(
        {
            "campaign_id": cid,
            "external_id": external_id,
            "user": body["user"],
            "event": event,
            "request_id": call.request_id,
            "idempotency_key": call.idempotency_key,
        }
    )
    delivery = campaign["delivery"]
    campaign["delivery"] = {
        **delivery,
        "sent": delivery["sent"] + 1,
        "total": delivery["total"] + 1,
    }
    for name in ("campaign.sent", "delivery.delivered"):
        store.add_event(
            name,
            ts=call.now,
            external_id=external_id,
            anonymous_id=anonymous_id,
            campaign_id=cid,
            data={"channel": campaign["channel"], "event": event},
        )
    return Reply(200, {"success": True})


# journeys

_JOURNEY_STATUSES: Final = ("draft", "live", "off")
_JOURNEY_SORTS: Final = ("created_at", "updated_at", "id", "name")


def _journey(store: Store, call: Call) -> dict[str, Any]:
    jid = int(call.params["id"])
    journey = store.journeys.get(jid)
    if journey is None:
        raise ApiError("resource_missing", f"no journey {jid}", param="id")
    return journey


def journeys_list(store: Store, call: Call) -> Reply:
    pq = parse_page_query(
        call.query, sorts=_JOURNEY_SORTS, default_sort="created_at", default_direction="desc"
    )
    statuses = _enum_filter(call, "status", _JOURNEY_STATUSES)
    rows = [j for j in store.journeys.values() if statuses is None or j["status"] in statuses]
    if pq.q:
        q = pq.q
        rows = [j for j in rows if _matches(q, (j["name"], j["description"], *j["tags"]))]
    page = paginate(rows, field_key(pq.sort), pq)
    return _list_reply(pq, page.rows, page.next_cursor, page.prev_cursor, page.total)


def journeys_get(store: Store, call: Call) -> Reply:
    return Reply(200, _journey(store, call))


def journeys_trigger(store: Store, call: Call) -> Reply:
    journey = _journey(store, call)
    body = read_object(call)
    jid, status = journey["id"], journey["status"]
    if call.profile.checks_trigger_state and status != "live":
        raise ApiError(
            "state_conflict", f"journey {jid} is {status}; only live journeys take entrances"
        )
    refuse_unknown(
        body,
        ("entrance_id", "user", "event"),
        '; one user per call: {"entrance_id": 1, "user": {...}}',
    )
    if "entrance_id" not in body:
        raise ApiError("parameter_missing", "entrance_id is required", param="entrance_id")
    entrance_id = body["entrance_id"]
    if type(entrance_id) is not int or entrance_id < 1:
        raise ApiError(
            "parameter_invalid_format",
            f"entrance_id must be an integer >= 1, got {entrance_id!r}",
            param="entrance_id",
        )
    if entrance_id not in store.entrances.get(jid, ()):
        raise ApiError(
            "validation_failed",
            f"entrance_id {entrance_id} is not an entrance step of journey {jid}",
            param="entrance_id",
        )
    fields, device_token = _trigger_user(body)
    event = body.get("event")
    if event is not None and type(event) is not dict:
        raise ApiError(
            "parameter_invalid_format",
            f"event must be an object or null, got {json_type(event)}",
            param="event",
        )
    user = store.upsert(fields, call.now_iso)
    if device_token is not None:
        store.add_device(user, device_token, call.now_iso)
    store.journey_entrances.append(
        {
            "journey_id": jid,
            "entrance_id": entrance_id,
            "external_id": user["external_id"],
            "user": body["user"],
            "event": event,
            "request_id": call.request_id,
            "idempotency_key": call.idempotency_key,
        }
    )
    stats = journey["stats"]
    journey["stats"] = {**stats, "entrance": stats.get("entrance", 0) + 1}
    journey["stats_at"] = call.now_iso
    store.add_event(
        "journey.entered",
        ts=call.now,
        external_id=user["external_id"],
        anonymous_id=user["anonymous_id"],
        data={"journey_id": jid, "entrance_id": entrance_id, "event": event},
    )
    return Reply(200, {"success": True})


# events

_EVENT_KEYS: Final = ("name", "external_id", "anonymous_id", "data", "user", "created_at")


def _check_event(item: object, where: str) -> dict[str, Any]:
    item = _item_object(item, _EVENT_KEYS, where)
    if "name" not in item:
        raise FieldError("parameter_missing", f"{where}.name is required", f"{where}.name")
    event: dict[str, Any] = {"name": check_identifier(item["name"], f"{where}.name")}
    for key in ("external_id", "anonymous_id"):
        if key in item:
            event[key] = check_identifier(item[key], f"{where}.{key}")
    if "external_id" not in event and "anonymous_id" not in event:
        raise FieldError(
            "parameter_missing",
            f"{where} needs an external_id or an anonymous_id",
            f"{where}.external_id",
        )
    event["data"] = check_data(item.get("data"), f"{where}.data") or {}
    if item.get("user") is not None:
        event["user"] = check_user_profile(item["user"], f"{where}.user")
    if item.get("created_at") is not None:
        event["ts"] = to_micros(check_timestamp(item["created_at"], f"{where}.created_at"))
    return event


def events_post(store: Store, call: Call) -> Reply:
    items = read_array(call, "events")
    events: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            events.append(_check_event(item, f"items.{index}"))
        except FieldError as error:
            errors.append({"param": error.param, "code": error.code, "message": error.message})
    if errors:
        first = errors[0]
        raise ApiError(
            first["code"],
            f"{len(errors)} of {len(items)} events are invalid and none was stored; "
            f"first: {first['message']}",
            param=first["param"],
            errors=errors,
        )
    for event in events:
        ids: dict[str, Any] = {
            key: event[key] for key in ("external_id", "anonymous_id") if key in event
        }
        user = store.upsert({**ids, **event.get("user", {})}, call.now_iso)
        store.add_event(
            event["name"],
            ts=event.get("ts", call.now) // 1000 * 1000,
            external_id=user["external_id"],
            anonymous_id=user["anonymous_id"],
            data=event["data"],
        )
    return Reply(204)


def _time_param(call: Call, name: str) -> int:
    value = single(call.query, name)
    if value is None:
        raise ApiError(
            "parameter_missing",
            f"{name} is required (RFC 3339, e.g. 2026-04-28T00:00:00Z)",
            param=name,
        )
    try:
        return to_micros(check_timestamp(value, name))
    except FieldError as error:
        raise _fail(error) from None


def _event_key(row: EventRow) -> tuple[int, Any, int]:
    return (1, row.ts, row.seq)


def _matching_events(store: Store, call: Call) -> list[EventRow]:
    """The stored events `from`..`to` (exclusive) that pass the query's filters."""
    start, stop = _time_param(call, "from"), _time_param(call, "to")
    external_ids = set(call.query.get("external_id", ()))
    anonymous_ids = set(call.query.get("anonymous_id", ()))
    names = set(call.query.get("event_name", ()))
    campaign_ids: set[int] = set()
    for raw in call.query.get("campaign_id", ()):
        if not raw.isascii() or not raw.isdigit():
            raise ApiError(
                "parameter_invalid_format", "campaign_id must be an integer", param="campaign_id"
            )
        campaign_ids.add(int(raw))
    return [
        row
        for row in store.events
        if start <= row.ts < stop
        and (not external_ids or row.record["user"]["external_id"] in external_ids)
        and (not anonymous_ids or row.record["user"]["anonymous_id"] in anonymous_ids)
        and (not names or row.record["name"] in names)
        and (not campaign_ids or row.record["campaign_id"] in campaign_ids)
    ]


def events_list(store: Store, call: Call) -> Reply:
    rows = _matching_events(store, call)
    pq = parse_page_query(
        call.query, sorts=("created_at",), default_sort="created_at", default_direction="asc"
    )
    include = single(call.query, "include_payload") or "false"
    if include not in ("true", "false"):
        raise ApiError(
            "parameter_invalid_format",
            "include_payload must be true or false",
            param="include_payload",
        )
    if pq.q:
        q = pq.q
        rows = [row for row in rows if q in row.record["name"].casefold()]
    page = paginate(rows, _event_key, pq)
    if include == "true":
        results = [row.record for row in page.rows]
    else:
        results = [{k: v for k, v in row.record.items() if k != "data"} for row in page.rows]
    return _list_reply(pq, results, page.next_cursor, page.prev_cursor, page.total)


_GROUPS: Final = ("event_name", "campaign", "user", "day")


def _group_of(row: EventRow, groups: list[str]) -> tuple[Any, ...]:
    record = row.record
    parts: list[Any] = []
    for group in groups:
        if group == "event_name":
            parts.append(record["name"])
        elif group == "campaign":
            parts.append(record["campaign_id"])
        elif group == "user":
            parts.append((record["user"]["external_id"], record["user"]["anonymous_id"]))
        else:
            parts.append(record["created_at"][:10])
    return tuple(parts)


def events_aggregations(store: Store, call: Call) -> Reply:
    rows = _matching_events(store, call)
    groups = list(dict.fromkeys(call.query.get("group_by") or ["event_name"]))
    for group in groups:
        if group not in _GROUPS:
            raise ApiError(
                "parameter_invalid_format",
                f"group_by must be one of {', '.join(_GROUPS)}, got {group!r}",
                param="group_by",
            )
    pq = parse_page_query(
        call.query, sorts=("count",), default_sort="count", default_direction="desc"
    )
    buckets: dict[tuple[Any, ...], list[EventRow]] = {}
    for row in rows:
        buckets.setdefault(_group_of(row, groups), []).append(row)
    out: list[dict[str, Any]] = []
    for position, (key, members) in enumerate(sorted(buckets.items(), key=lambda kv: repr(kv[0]))):
        record: dict[str, Any] = {"id": position}
        for group, value in zip(groups, key, strict=True):
            if group == "event_name":
                record["event_name"] = value
            elif group == "campaign":
                record["campaign_id"] = value
            elif group == "user":
                record["user"] = {"external_id": value[0], "anonymous_id": value[1]}
            else:
                record["day"] = value
        users = {
            (m.record["user"]["external_id"], m.record["user"]["anonymous_id"]) for m in members
        }
        record["count"] = len(members)
        record["unique_user_count"] = len(users)
        record["first_seen_at"] = iso_z(min(m.ts for m in members))
        record["last_seen_at"] = iso_z(max(m.ts for m in members))
        out.append(record)
    page = paginate(out, field_key(pq.sort), pq)
    results = [{k: v for k, v in r.items() if k != "id"} for r in page.rows]
    return _list_reply(pq, results, page.next_cursor, page.prev_cursor, page.total)


def _route(method: str, template: str, handler: Handler, *, publishable: bool = False) -> Route:
    pattern = re.sub(
        r"\{(\w+)\}",
        lambda m: r"(?P<id>[0-9]{1,18})" if m.group(1) == "id" else rf"(?P<{m.group(1)}>[^/]+)",
        template,
    )
    return Route(method, re.compile(pattern), handler, publishable)


ROUTES: Final = (
    _route("POST", "/users/batch", users_batch),
    _route("PATCH", "/users", users_patch),
    _route("GET", "/users", users_list),
    _route("DELETE", "/users", users_delete),
    _route("GET", "/users/{external_id}/subscriptions", subscriptions_get),
    _route("PATCH", "/users/{external_id}/subscriptions", subscriptions_patch),
    _route("GET", "/users/{external_id}", users_get),
    _route("DELETE", "/users/{external_id}", users_delete_one),
    _route("GET", "/subscriptions", subscriptions_list),
    _route("GET", "/subscriptions/{id}", subscriptions_one),
    _route("POST", "/subscriptions/batch", subscriptions_batch),
    _route("GET", "/lists", lists_list),
    _route("GET", "/lists/{id}", lists_get),
    _route("GET", "/tags", tags_list),
    _route("GET", "/campaigns", campaigns_list),
    _route("GET", "/campaigns/{id}", campaigns_get),
    _route("PATCH", "/campaigns/{id}", campaigns_patch),
    _route("POST", "/campaigns/{id}/trigger", campaigns_trigger),
    _route("GET", "/journeys", journeys_list),
    _route("GET", "/journeys/{id}", journeys_get),
    _route("POST", "/journeys/{id}/trigger", journeys_trigger),
    _route("POST", "/events", events_post, publishable=True),
    _route("GET", "/events", events_list),
    _route("GET", "/events/aggregations", events_aggregations),
)


def find_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route for a (percent-encoded) path relative to /api/client, with its parameters."""
    for route in ROUTES:
        if route.method != method:
            continue
        match = route.pattern.fullmatch(path)
        if match is not None:
            return route, {name: unquote(value) for name, value in match.groupdict().items()}
    return None
