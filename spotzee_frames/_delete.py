"""`delete`: delete the Spotzee users a frame names by `external_id` — guarded, batched,
and with a dry run that names exactly who would go.

Frame → the `external_id` column (the upsert mapping rules and id normalisation; a bad id
is a row in the result, never a crash) → the distinct ids, in frame order, cut into
`DELETE /users?user_id=…&user_id=…` calls of as many ids as fit in `URL_BUDGET` bytes of
path and query (each id percent-encoded), well under the 8 KB many servers and proxies
take → the runner → a result frame indexed like the input; rows that repeat an id share
its call and its outcome.

Deleting cannot be undone, so: a frame naming more users than `max_users` is refused
before anything is sent, and `dry_run=True` sends nothing and marks exactly the rows (and
so the users) that would be deleted `valid`. DELETE carries no idempotency key, but
deleting twice is harmless, so the client retries it after a transient error or a lost
answer like any idempotent request.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote

import numpy as np
import pandas as pd

from ._client import Call
from ._errors import ValidationError
from ._listing import positive_int
from ._prepare import CODE_INVALID, RowProblem, combine_problems, external_ids
from ._progress import ProgressLike, check_progress
from ._results import ResultBuilder
from ._runner import Operation, Planned, record_queued, result_frame, run

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["MAX_USERS", "STATUSES", "URL_BUDGET", "delete", "id_groups"]

STATUSES: tuple[str, ...] = (
    "queued",  # the server accepted the deletion (204: it is carried out asynchronously)
    "valid",  # dry run: this user would be deleted
    "invalid",  # not sent: the row has no usable external_id
    "failed",  # no acceptance known after retries: deleting again is harmless
    "interrupted",  # the run was stopped first: deleting again is harmless
)
#: The default guard: no more users per call unless the caller says so (as triggers).
MAX_USERS = 10_000
#: Bytes of path and query per call (`/users?user_id=…`), leaving room for the base URL
#: under the 8 KB of URL that servers and proxies commonly accept.
URL_BUDGET = 6_000
_PATH = "/users"
_PARAM = "user_id"


def id_groups(ids: list[str], budget: int = URL_BUDGET) -> list[list[int]]:
    """Positions of `ids` cut into groups whose `DELETE /users?user_id=…` stays within
    `budget` bytes, in order (an id is counted percent-encoded, as it is sent)."""
    groups: list[list[int]] = []
    used = budget  # start a group at once
    base = len(_PATH)
    for at, external_id in enumerate(ids):
        size = 1 + len(_PARAM) + 1 + len(quote(external_id, safe=""))  # "?" or "&", "user_id="
        if used + size > budget:
            groups.append([])
            used = base
        groups[-1].append(at)
        used += size
    return groups


def _external_ids(
    frame: pd.DataFrame, mapping: Mapping[Hashable, str | None] | None
) -> tuple[np.ndarray, list[RowProblem]]:
    values, sources = external_ids(frame, mapping, purpose="to delete")
    too_long = {
        int(p): f"external_id {v[:40]!r}… is too long to send in a URL"
        for p, v in enumerate(values.tolist())
        if isinstance(v, str) and len(_PATH) + 9 + len(quote(v, safe="")) > URL_BUDGET
    }
    _, problem = combine_problems(len(frame), [*sources, ("external_id", CODE_INVALID, too_long)])
    if too_long:
        values = values.copy()
        values[list(too_long)] = None
    return values, [problem] if problem is not None else []


def _operation(external_id: np.ndarray, rows: np.ndarray) -> Operation:
    def plan(todo: np.ndarray) -> Iterator[Planned]:
        by_id: dict[str, list[int]] = {}
        for row in todo.tolist():
            by_id.setdefault(external_id[row], []).append(row)
        ids = list(by_id)
        for number, group in enumerate(id_groups(ids)):
            chosen = [ids[at] for at in group]
            positions = np.sort(np.array([r for i in chosen for r in by_id[i]], dtype=np.int64))
            call = Call("DELETE", _PATH, params=[(_PARAM, i) for i in chosen])
            yield Planned(positions, call, number)

    return Operation(
        name="delete",
        desc="delete users",
        rows=rows,
        plan=plan,
        record=record_queued,
        success=frozenset({"queued"}),
        resend="deleting again is harmless",
    )


def delete(
    frame: pd.DataFrame,
    *,
    dry_run: bool = False,
    max_users: int | None = MAX_USERS,
    mapping: Mapping[Hashable, str | None] | None = None,
    progress: ProgressLike = None,
    client: Client | None = None,
) -> pd.DataFrame:
    """Delete the Spotzee users named by the frame's `external_id` column. Irreversible.

    Parameters
    ----------
    frame
        One user per row (rows may repeat an id: it is deleted once). Other columns are
        ignored.
    dry_run
        Send nothing; the rows naming users that would be deleted are `valid`, so
        `result.external_id[result.status.eq("valid")].unique()` is exactly who.
    max_users
        Refuse (`ValidationError`, nothing sent) to delete more distinct users than this
        in one call (default 10,000; None: no limit). A dry run is never refused.
    mapping
        `{column: "external_id"}` when the ids are in a column of another name.
    progress, client
        As in `upsert`.

    Returns
    -------
    DataFrame
        Indexed exactly like `frame`: `status` (`queued` — the server accepted the
        deletion, 204; `valid` in a dry run; `invalid` — no usable id; `failed`;
        `interrupted`), `error_code`, `error_field`, `error_message`, `external_id`,
        `batch` (the call), `attempts`, `request_id`. An unknown id is not an error: the
        server deletes whoever exists. Sending `failed` or `interrupted` rows again is
        harmless.
    """
    check_progress(progress)
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    if not isinstance(dry_run, bool):
        raise ValidationError(f"dry_run must be True or False, not {dry_run!r}")
    if max_users is not None:
        positive_int(max_users, "max_users")
    external_id, problems = _external_ids(frame, mapping)
    sendable = np.flatnonzero(pd.notna(external_id))
    builder = ResultBuilder(
        frame.index, statuses=STATUSES, initial="valid" if dry_run else "interrupted"
    )
    builder.set_text("external_id", slice(None), external_id)
    builder.set_problems(problems)
    op = _operation(external_id, sendable)
    for planned in op.plan(sendable):  # the calls a run would make, for the batch column
        builder.set_int("batch", planned.rows, planned.number)
    users = len(set(external_id[sendable].tolist()))
    if dry_run or not len(sendable):
        return result_frame(builder, "delete")
    if max_users is not None and users > max_users:
        raise ValidationError(
            f"refusing to delete {users:,} users: that is more than max_users={max_users:,}. "
            f"Deleting cannot be undone: check who with dry_run=True, then pass "
            f"max_users={users} (or more) if every one of them is meant to go. Nothing was "
            "deleted."
        )
    from ._client import resolve_client

    return run(op, builder, resolve_client(client), progress=progress)
