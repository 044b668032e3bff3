"""The demo project: campaigns, journeys and subscriptions a fresh sandbox starts with.

Ids are stable (campaigns 1..15, journeys 1..5); counters vary with the seed but are
reproducible for a given one.
"""

from __future__ import annotations

import random
from typing import Any, Final

__all__ = [
    "DEMO_ENTRANCES",
    "PROJECT_ID",
    "demo_campaigns",
    "demo_journeys",
    "demo_lists",
    "demo_subscriptions",
    "demo_tags",
]

PROJECT_ID: Final = 42

#: journey id -> the entrance step ids of that demo journey's graph.
DEMO_ENTRANCES: Final[dict[int, list[int]]] = {
    1: [101, 102],
    2: [201],
    3: [301],
    4: [401],
    5: [501, 502],
}

# id, type, channel, state, name, tags, description
_CAMPAIGNS: Final = (
    (
        1,
        "trigger",
        "email",
        "running",
        "Welcome email",
        ["onboarding"],
        "Sent when a customer signs up.",
    ),
    (
        2,
        "trigger",
        "email",
        "running",
        "Password reset",
        ["transactional"],
        "Reset link; triggered by the app.",
    ),
    (
        3,
        "trigger",
        "text",
        "running",
        "Order shipped SMS",
        ["transactional", "orders"],
        "Tracking link when an order leaves the warehouse.",
    ),
    (
        4,
        "trigger",
        "push",
        "scheduled",
        "Abandoned cart nudge",
        ["cart"],
        "Reminder an hour after a cart is left.",
    ),
    (
        5,
        "trigger",
        "email",
        "draft",
        "Win-back offer",
        ["retention"],
        "15% off for customers quiet for 90 days. Not approved yet.",
    ),
    (
        6,
        "blast",
        "email",
        "finished",
        "Spring sale announcement",
        ["promo", "seasonal"],
        "Spring catalogue to all subscribers.",
    ),
    (7, "blast", "text", "finished", "Flash sale SMS", ["promo"], "24-hour flash sale."),
    (
        8,
        "blast",
        "push",
        "scheduled",
        "App feature launch",
        ["product"],
        "Announces the new wishlist feature.",
    ),
    (
        9,
        "trigger",
        "webhook",
        "running",
        "CRM sync webhook",
        ["integration"],
        "Posts new sign-ups to the CRM.",
    ),
    (
        10,
        "blast",
        "in_app",
        "loading",
        "Satisfaction survey",
        ["feedback"],
        "Two-question survey shown in the app.",
    ),
    (
        11,
        "blast",
        "email",
        "aborting",
        "Black Friday teaser",
        ["promo", "seasonal"],
        "Stopped: wrong discount code.",
    ),
    (
        12,
        "blast",
        "text",
        "aborted",
        "Holiday opening hours",
        ["ops"],
        "Cancelled after the hours changed.",
    ),
    (
        13,
        "trigger",
        "in_app",
        "draft",
        "Loyalty tier upgrade",
        ["loyalty"],
        "Congratulates customers reaching a new tier.",
    ),
    (
        14,
        "blast",
        "email",
        "running",
        "Monthly newsletter (May)",
        ["newsletter"],
        "Sending in each recipient's time zone.",
    ),
    (
        15,
        "trigger",
        "push",
        "running",
        "Back in stock alert",
        ["inventory"],
        "Tells wishlist owners an item is back.",
    ),
)

_SUBSCRIPTION_BY_CHANNEL: Final = {"email": 1, "text": 3, "push": 4, "in_app": 5, "webhook": None}
_PROVIDER_BY_CHANNEL: Final = {"email": 1, "text": 2, "push": 3, "webhook": 4, "in_app": 5}


def _stamp(day: int, hour: int = 9, minute: int = 0) -> str:
    """A 2026 timestamp, `day` counted from 1 January."""
    month_lengths = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    month = 0
    while day > month_lengths[month]:
        day -= month_lengths[month]
        month += 1
    return f"2026-{month + 1:02d}-{day:02d}T{hour:02d}:{minute:02d}:00.000Z"


def _delivery(rng: random.Random, kind: str, channel: str, state: str) -> dict[str, int]:
    if state in ("draft", "scheduled"):
        total = sent = 0
    elif state == "loading":
        total, sent = rng.randint(8_000, 20_000), 0
    elif kind == "trigger":
        total = sent = rng.randint(400, 9_000)
    elif state == "finished":
        total = sent = rng.randint(20_000, 60_000)
    else:  # running, aborting, aborted blasts stopped part-way
        total = rng.randint(20_000, 60_000)
        sent = int(total * rng.uniform(0.2, 0.8))
    opens = int(sent * rng.uniform(0.25, 0.45)) if channel in ("email", "push", "in_app") else 0
    clicks = int(sent * rng.uniform(0.02, 0.08)) if channel != "webhook" else 0
    bounced = int(sent * rng.uniform(0.002, 0.02)) if channel == "email" else 0
    return {"sent": sent, "total": total, "opens": opens, "clicks": clicks, "bounced": bounced}


def demo_campaigns(seed: int) -> list[dict[str, Any]]:
    """The demo campaigns, each as the API returns it."""
    rng = random.Random(f"campaigns:{seed}")
    campaigns = []
    for cid, kind, channel, state, name, tags, description in _CAMPAIGNS:
        created = _stamp(4 + cid * 6, 9 + cid % 8, (cid * 7) % 60)
        if state == "scheduled":
            send_at: str | None = _stamp(250 + cid, 10)
        elif kind == "blast" and state != "draft":
            send_at = _stamp(8 + cid * 6, 10)
        else:
            send_at = None
        campaigns.append(
            {
                "id": cid,
                "project_id": PROJECT_ID,
                "type": kind,
                "name": name,
                "channel": channel,
                "state": state,
                "list_ids": [] if kind == "trigger" else [1 + cid % 3],
                "exclusion_list_ids": [] if kind == "trigger" else [4] * (cid % 2),
                "subscription_id": (
                    2 if "transactional" in tags else _SUBSCRIPTION_BY_CHANNEL[channel]
                ),
                "provider_id": _PROVIDER_BY_CHANNEL[channel],
                "delivery": _delivery(rng, kind, channel, state),
                "tags": list(tags),
                "send_in_user_timezone": cid == 14,
                "send_at": send_at,
                "description": description,
                "created_at": created,
                "updated_at": _stamp(6 + cid * 6, 11),
            }
        )
    return campaigns


# id, name, status, tags, description
_JOURNEYS: Final = (
    (1, "Onboarding", "live", ["onboarding"], "Welcome series over the first two weeks."),
    (2, "Cart recovery", "live", ["cart"], "Email, then push, for abandoned carts."),
    (3, "VIP upgrade", "draft", ["loyalty"], "Perks for the top spenders. Being designed."),
    (4, "Legacy nurture", "off", ["retired"], "Replaced by Onboarding."),
    (5, "Post-purchase review", "live", ["orders"], "Asks for a review a week after delivery."),
)


def demo_journeys(seed: int) -> list[dict[str, Any]]:
    """The demo journeys, each as the API returns it (entrances are not exposed)."""
    rng = random.Random(f"journeys:{seed}")
    journeys = []
    for jid, name, status, tags, description in _JOURNEYS:
        entered = 0 if status == "draft" else rng.randint(300, 5_000)
        stats = {
            "entrance": entered,
            "delay": int(entered * 0.9),
            "action": int(entered * 0.8),
            "gate": int(entered * 0.5),
            "exit": int(entered * 0.6),
        }
        journeys.append(
            {
                "id": jid,
                "project_id": PROJECT_ID,
                "name": name,
                "description": description,
                "status": status,
                "tags": list(tags),
                "stats": stats,
                "stats_at": _stamp(120, 6) if entered else None,
                "created_at": _stamp(10 + jid * 9, 14),
                "updated_at": _stamp(40 + jid * 9, 16),
            }
        )
    return journeys


def demo_subscriptions() -> list[dict[str, Any]]:
    """The project's subscription types (users start subscribed to each: none is public)."""
    rows = [
        (1, "Marketing email", "email"),
        (2, "Transactional email", "email"),
        (3, "SMS alerts", "text"),
        (4, "Push notifications", "push"),
        (5, "In-app messages", "in_app"),
    ]
    return [
        {
            "id": sid,
            "project_id": PROJECT_ID,
            "name": name,
            "channel": channel,
            "is_public": False,
            "created_at": _stamp(2 + sid, 9),
            "updated_at": _stamp(2 + sid, 9),
        }
        for sid, name, channel in rows
    ]


# id, name, type, state, rule, users_count, tags
_LISTS: Final[tuple[tuple[Any, ...], ...]] = (
    (1, "Newsletter signups", "static", "ready", None, 1840, ["marketing"]),
    (2, "Enterprise customers", "dynamic", "ready", "plan = enterprise", 212, ["sales"]),
    (3, "Churn risk", "dynamic", "loading", "last_order_days > 90", None, ["retention"]),
    (4, "Beta testers", "static", "draft", None, 0, []),
)
_TAGS: Final = ("onboarding", "transactional", "orders", "cart", "retention", "promo", "product")


def demo_lists() -> list[dict[str, Any]]:
    """The project's lists (there is no API that adds users to them)."""
    out = []
    for lid, name, kind, state, rule, users_count, tags in _LISTS:
        record: dict[str, Any] = {
            "id": lid,
            "project_id": PROJECT_ID,
            "name": name,
            "type": kind,
            "state": state,
            "version": lid,
            "tags": list(tags),
            "is_visible": lid != 4,
            "created_at": _stamp(10 + lid * 5, 10),
            "updated_at": _stamp(60 + lid * 3, 12),
        }
        if rule is not None:
            field_name, op, value = rule.split(" ")
            record["rule"] = {
                "type": "wrapper",
                "operator": "and",
                "children": [{"path": f"$.data.{field_name}", "operator": op, "value": value}],
            }
            record["refreshed_at"] = _stamp(70 + lid, 6)
        if users_count is not None:
            record["users_count"] = users_count
        out.append(record)
    return out


def demo_tags() -> list[dict[str, Any]]:
    return [
        {
            "id": tid,
            "project_id": PROJECT_ID,
            "name": name,
            "created_at": _stamp(1 + tid, 8),
            "updated_at": _stamp(1 + tid, 8),
        }
        for tid, name in enumerate(_TAGS, 1)
    ]
