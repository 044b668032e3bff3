"""The frame every engine's tests send — bad rows mixed in, users repeated across the two
halves of the frame — and the check that the sandbox stored each row exactly once, as one
pandas call would have sent it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

import spotzee_frames as sf
from spotzee_frames.sandbox import Sandbox

ROWS = 12_000


def contacts(n: int = ROWS) -> pd.DataFrame:
    """`row` (unique), `external_id`, `email`, `timezone`, `plan`, `score` (Int64 with gaps).

    Invalid emails (every 37th row), time zones (every 101st), no id (every 97th: missing,
    every 89th: blank); in the first half, every 500th row is a copy of a row of the second
    half (sent once, the copy `skipped`) and every 700th takes another second-half row's id
    with its own email (both `invalid`, duplicate_external_id)."""
    k = np.arange(n)
    frame = pd.DataFrame(
        {
            "row": k,
            "external_id": pd.array([f"c{i:05d}" for i in k], dtype="string"),
            "email": pd.array([f"c{i}@example.com" for i in k], dtype="string"),
            "timezone": pd.array(
                ["Australia/Sydney" if i % 2 else "Europe/Paris" for i in k], dtype="string"
            ),
            "plan": pd.array(["gold" if i % 3 == 0 else "free" for i in k], dtype="string"),
            "score": pd.array([None if i % 10 == 0 else int(i) for i in k], dtype="Int64"),
        }
    )
    frame.loc[k % 37 == 5, "email"] = "not-an-email"
    frame.loc[k % 101 == 7, "timezone"] = "Australia/Syndey"
    frame.loc[k % 97 == 3, "external_id"] = pd.NA
    frame.loc[k % 89 == 4, "external_id"] = "  "
    half = n // 2
    copies = k[(k < half) & (k % 500 == 1)]
    for column in ("external_id", "email", "timezone", "plan", "score"):
        frame.loc[copies, column] = frame.loc[copies + half, column].to_numpy()
    rivals = k[(k < half) & (k % 700 == 2)]
    frame.loc[rivals, "external_id"] = frame.loc[rivals + half, "external_id"].to_numpy()
    return frame


#: How the engines' tests upsert `contacts()`: `row` identifies the row, it is not sent.
OPTIONS: dict[str, Any] = {"exclude": ["row"], "row_id": "row"}


def expected(frame: pd.DataFrame) -> pd.DataFrame:
    """What one pandas call makes of `frame` (a dry run, with the payloads)."""
    return sf.upsert(frame, dry_run=True, include_payload=True, exclude=["row"])


def check_stored_once(sandbox: Sandbox, frame: pd.DataFrame, result: pd.DataFrame) -> None:
    """`result` (one row per row of `frame`, in its order) says what one pandas call would,
    and the sandbox holds exactly the users it would have sent, each applied once."""
    plan = expected(frame)
    statuses = plan["status"].astype(str).replace({"valid": "upserted"})
    assert (result["status"].astype(str).to_numpy() == statuses.to_numpy()).all()
    assert (
        result["error_code"].fillna("").to_numpy() == plan["error_code"].fillna("").to_numpy()
    ).all()
    assert {"skipped", "invalid"} <= set(statuses)
    assert (plan["error_code"] == "duplicate_external_id").sum() > 0
    sent = (plan["status"] == "valid").to_numpy()
    ids = plan["external_id"][sent].tolist()
    users = sandbox.users
    assert set(users) == set(ids)
    counts = sandbox.write_counts
    assert sum(counts.values()) == len(ids) and all(counts[i] == 1 for i in ids)
    for payload in plan["payload"][sent]:
        user = users[payload["external_id"]]
        assert (user["email"], user["timezone"]) == (payload.get("email"), payload.get("timezone"))
        assert user["data"] == payload["data"]
    assert result["user_id"].notna().to_numpy()[sent].all()
