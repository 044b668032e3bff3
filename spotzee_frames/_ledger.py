"""The ledger: state that survives a crash, so that a sync sends only what changed and a
re-run never applies anything twice.

One SQLite file (the standard library's, in WAL mode) holds, per *destination* — the
API's base URL, a keyed hash of the project key (never the key) and the route (`POST
/users/batch`, `POST /campaigns/7/trigger`, `POST /events`…):

- `confirmed`: for each item (a user for upserts; one send — target, user and `send_id`,
  i.e. its idempotency key — for triggers; an event, by the hash of its exact bytes) the
  hash of the exact item bytes the server last **confirmed**: a per-item success of a
  synchronous batch, a 2xx for the whole batch of an asynchronous route, a 2xx for a
  trigger;
- `intents`: each call handed to the client whose verdict is not in yet, written ahead and
  committed (`synchronous=FULL`) before the call is sent: its idempotency key, method,
  path, items, their hashes and a BLAKE3 digest of the body — and the body itself for a
  trigger; a batch's body is made again from its rows on resume, exactly (the digest
  checks it), rather than written twice.

Why it cannot drift from what the server applied:

- A row is marked only from an answer that confirms it. Failed, rejected, interrupted or
  unknown outcomes are never marked, so the next run sends them again.
- A call's intent goes only with a verdict (a 2xx, or a 4xx: not applied). After a crash,
  an interruption, a 5xx or a lost answer it stays, and the next run of the call sends it
  again **exactly as recorded** (same body, same key), so a server that had applied it
  replays instead of applying twice. Every other unconfirmed row was never in a call that
  could have been applied, so it may be cut into new batches freely.
- Marking rows and clearing their intent happen in one transaction. Commits are batched
  (one per group of calls handed to the client, and at least every `_COMMIT_EVERY`
  seconds), and only those that record calls wait for the disk: a power cut can lose a
  mark, never a call that went out unrecorded (a lost mark only sends that call again,
  exactly, to be replayed).
- One writer at a time: a run holds an exclusive lock on `<ledger>.lock` (the kernel lets
  it go if the process dies) and a second run refuses with `LedgerBusyError` before
  sending anything. Readers (`Ledger`) never wait. A missing file is a first run.

Past 24 hours the server has forgotten its idempotency keys (`SAFE_AGE` keeps an hour
of margin), so a recorded call is not blindly resent: an upsert's is dropped (its rows go
again with their current values, which sets the same values at worst), while a trigger's
or an event batch's holds its rows `unconfirmed` — not sent — until `Ledger.resolve` says
whether it arrived. Against a server that shows no sign of honouring `Idempotency-Key` (no
`Spotzee-Version` echo, like a self-hosted Parcelvoy) such calls are held at any age, and
a run that keeps a ledger for triggers or events first makes sure its client knows which
kind of server it talks to (one read if it has had no answer yet), so that no lost write
is retried blind: there the ledger makes triggers and events never-twice (a confirmed row
is never sent again, and one whose answer was lost waits for `resolve`).

An upsert whose rows have changed since its call was recorded is dropped too (the current
values win; its unchanged rows may be set a second time). With `only_changed=True`, rows
whose current payload hash equals the confirmed one are `unchanged` and not sent.
Hashes are 64-bit SipHash-2-4 (pandas' `hash_array`) of the exact item bytes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import socket
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import blake3
import msgspec
import numpy as np
import orjson
import pandas as pd

from ._errors import LedgerBusyError, LedgerError, SpotzeeError, ValidationError

if TYPE_CHECKING:
    from ._client import Client
    from ._results import ResultBuilder
    from ._runner import Operation, Planned

__all__ = [
    "SAFE_AGE",
    "Ledger",
    "LedgerSpec",
    "Session",
    "body_items",
    "check_ledger",
    "item_hashes",
    "open_session",
]

SCHEMA = "2"
HASH = "siphash24-pandas-hash_array-item-bytes"
#: How old a recorded call may be and still be resent under its key (the server keeps
#: keys 24 hours; an hour of margin for clocks and for retries after the record).
SAFE_AGE = 23 * 3600.0
_COMMIT_EVERY = 0.5  # seconds: confirmations wait at most this long for a commit
_COMMIT_ROWS = 20_000  # … or until this many are waiting
_IN_CHUNK = 900  # items per `IN (…)` look-up (well under SQLite's variable limit)

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS destinations (
    id INTEGER PRIMARY KEY,
    base_url TEXT NOT NULL,
    key_fingerprint TEXT NOT NULL,
    route TEXT NOT NULL,
    UNIQUE (base_url, key_fingerprint, route)
);
CREATE TABLE IF NOT EXISTS confirmed (
    destination INTEGER NOT NULL,
    item TEXT NOT NULL,
    hash INTEGER NOT NULL,
    confirmed_at REAL NOT NULL,
    PRIMARY KEY (destination, item)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS intents (
    id INTEGER PRIMARY KEY,
    destination INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    body BLOB NOT NULL,
    digest BLOB NOT NULL,
    items TEXT NOT NULL,
    hashes BLOB NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (destination, idempotency_key)
);
"""


# -- what the ledger keeps of a row ----------------------------------------------------------


@dataclass(frozen=True)
class LedgerSpec:
    """How the ledger sees an operation's rows (positions in its input frame).

    `route` names the destination with the client's base URL and key. `items(rows)` are
    the rows' ledger items (text: who, or which send); `item_bytes(rows)` their exact
    item bytes, the same bytes the calls carry (`body_items` of a body). `once`: an item
    confirmed is never sent again, whatever it holds now (triggers); otherwise only
    `only_changed=True` skips an item, when its hash is the confirmed one (upserts).
    `skip_status` is the status of a row the ledger keeps back; `held_status` that of a
    row whose earlier call may or may not have arrived and cannot be asked about again."""

    route: str
    items: Callable[[np.ndarray], np.ndarray]
    item_bytes: Callable[[np.ndarray], Sequence[bytes]]
    once: bool = False
    skip_status: str = "unchanged"
    held_status: str = "unconfirmed"


def item_hashes(items: Sequence[bytes]) -> np.ndarray:
    """The ledger's hash of each item's exact bytes: 64-bit SipHash-2-4, as int64."""
    values = np.empty(len(items), dtype=object)
    values[:] = list(items)
    hashed: np.ndarray = pd.util.hash_array(values, categorize=False)
    return hashed.view(np.int64)


_RAW_ARRAY = msgspec.json.Decoder(list[msgspec.Raw])


def _digest(body: bytes) -> bytes:
    return blake3.blake3(body).digest()


def body_items(body: bytes) -> list[bytes]:
    """The exact bytes of each item a request body carries: the elements of a JSON array
    (a batch), or the whole body (one trigger)."""
    if body[:1] == b"[":
        return [bytes(raw) for raw in _RAW_ARRAY.decode(body)]
    return [body]


def check_ledger(ledger: Any, only_changed: Any) -> Path | None:
    """The ledger's path (None: no ledger), after checking `ledger=` and `only_changed=`."""
    if not isinstance(only_changed, bool):
        raise ValidationError(f"only_changed must be True or False, not {only_changed!r}")
    if ledger is None:
        if only_changed:
            raise ValidationError(
                "only_changed=True needs a ledger to compare with: pass ledger='crm.ledger' "
                "(a file, created on the first run)"
            )
        return None
    if isinstance(ledger, Ledger):
        return ledger.path
    if isinstance(ledger, bytes) or not isinstance(ledger, str | os.PathLike):
        raise ValidationError(
            f"ledger must be a file path or a spotzee_frames.Ledger, not {ledger!r}"
        )
    path = Path(ledger)
    if path.is_dir():
        raise ValidationError(f"ledger {str(path)!r} is a folder; give a file path")
    return path


# -- the file ---------------------------------------------------------------------------------


def _connect(path: Path, *, create: bool) -> sqlite3.Connection | None:
    """A connection with the schema in place; None when the file is missing and
    `create` is false (a reader of a ledger that was never written)."""
    if not path.exists():
        if not create:
            return None
        if not path.parent.is_dir():
            raise LedgerError(f"ledger {str(path)!r}: folder {str(path.parent)!r} does not exist")
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot open ledger {str(path)!r}: {exc}") from None
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise LedgerError(
                f"ledger {str(path)!r}: SQLite cannot use WAL mode there ({mode}); put the "
                "ledger on a local disk"
            )
        conn.execute("PRAGMA synchronous=FULL")  # a commit is on disk before a call is sent
        if create:  # the tables, once; a reader never writes (nor waits for a writer)
            conn.execute("BEGIN IMMEDIATE")
            for statement in _TABLES.split(";"):
                if statement.strip():
                    conn.execute(statement)
            if not conn.execute("SELECT 1 FROM meta").fetchone():
                conn.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [("schema", SCHEMA), ("hash", HASH), ("salt", os.urandom(16).hex())],
                )
            conn.execute("COMMIT")
        meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise LedgerError(f"{str(path)!r} is not a ledger file ({exc})") from None
    except BaseException:
        conn.close()
        raise
    if meta.get("schema") != SCHEMA or meta.get("hash") != HASH:
        conn.close()
        raise LedgerError(
            f"ledger {str(path)!r} was written by another version of spotzee-frames "
            f"(schema {meta.get('schema')!r}, hash {meta.get('hash')!r}); use a new file"
        )
    return conn


def _salt(conn: sqlite3.Connection) -> bytes:
    return bytes.fromhex(conn.execute("SELECT value FROM meta WHERE name = 'salt'").fetchone()[0])


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class _WriterLock:
    """The one-writer lock of a ledger: `<ledger>.lock`, held while a run writes.

    The file stays (removing it would let two runs lock two different files); what it
    says about its holder is only for the message of the run that is refused."""

    def __init__(self, ledger: Path) -> None:
        self.path = ledger.with_name(ledger.name + ".lock")
        if not ledger.parent.is_dir():
            raise LedgerError(
                f"ledger {str(ledger)!r}: folder {str(ledger.parent)!r} does not exist"
            )
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _try_lock(self._fd)
        except OSError:
            holder = self._holder()
            os.close(self._fd)
            raise LedgerBusyError(
                f"ledger {str(ledger)!r} is in use by another run{holder}: one run writes "
                "a ledger at a time. Wait for it to finish (or stop it), or give this run "
                "another ledger file; nothing was sent"
            ) from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.ftruncate(self._fd, 0)
        os.write(self._fd, orjson.dumps(info))

    def _holder(self) -> str:
        try:
            info = json.loads(self.path.read_bytes() or b"{}")
            since = dt.datetime.fromtimestamp(float(info["since"]), dt.UTC)
            when = f"{since:%Y-%m-%d %H:%M:%S} UTC"
            return f" (process {info['pid']} on {info['host']}, since {when})"
        except (OSError, ValueError, KeyError, TypeError):
            return ""

    def release(self) -> None:
        if self._fd < 0:
            return
        try:
            _unlock(self._fd)
        finally:
            os.close(self._fd)
            self._fd = -1


# -- one run's view of the ledger ------------------------------------------------------------


@dataclass
class _Intent:
    id: int
    key: str
    method: str
    path: str
    digest: bytes
    items: list[str]
    hashes: np.ndarray
    created_at: float


@dataclass
class _InFlight:
    """What the ledger recorded of a call handed to the client, until its outcome."""

    destination: int
    items: np.ndarray
    hashes: np.ndarray


def _keys_honoured(client: Client) -> bool:
    """Whether a recorded call may be sent again under its key: the server's answers show
    it honours `Idempotency-Key` (a self-hosted Parcelvoy does not). A client that has had
    no answer yet asks once, with a read that changes nothing; no answer counts as no."""
    if client.keys_honoured is None:
        with contextlib.suppress(SpotzeeError):
            client.request("GET", "/campaigns", params={"limit": 1})
    return bool(client.keys_honoured)


@dataclass
class Session:
    """One run's use of a ledger: what to send (`admit`), the calls handed to the client
    (`sending`), their outcomes (`settled`), and the batched commits in between.

    A writing session holds the ledger's lock until `close`; a reading one (a dry run)
    never writes, and a missing file reads as empty."""

    path: Path
    client: Client
    write: bool
    _conn: sqlite3.Connection | None = field(default=None, repr=False)
    _lock: _WriterLock | None = field(default=None, repr=False)
    _fingerprint: str = ""
    _destinations: dict[str, int | None] = field(default_factory=dict, repr=False)
    _inflight: dict[str, _InFlight] = field(default_factory=dict, repr=False)
    _confirm: list[tuple[int, str, int, float]] = field(default_factory=list, repr=False)
    _clear: list[tuple[int, str]] = field(default_factory=list, repr=False)
    _last_commit: float = 0.0

    def open(self) -> Session:
        if self.write:
            self._lock = _WriterLock(self.path)
        try:
            self._conn = _connect(self.path, create=self.write)
        except BaseException:
            self._release()
            raise
        if self._conn is not None:
            self._fingerprint = self.client.key_fingerprint(_salt(self._conn))
        self._last_commit = time.monotonic()
        return self

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def close(self) -> None:
        """Commit what is waiting, close the file, let the lock go."""
        try:
            if self._conn is not None and self.write:
                self.flush()
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._release()

    # -- destinations

    def _destination(self, route: str) -> int | None:
        if route in self._destinations:
            return self._destinations[route]
        conn = self._conn
        found: int | None = None
        if conn is not None:
            where = (self.client.base_url, self._fingerprint, route)
            row = conn.execute(
                "SELECT id FROM destinations WHERE base_url = ? AND key_fingerprint = ? "
                "AND route = ?",
                where,
            ).fetchone()
            if row is None and self.write:
                cursor = conn.execute(
                    "INSERT INTO destinations (base_url, key_fingerprint, route) VALUES (?, ?, ?)",
                    where,
                )
                row = (cursor.lastrowid,)
            found = None if row is None else int(row[0])
        self._destinations[route] = found
        return found

    def _confirmed(self, destination: int, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per item: whether the destination has a confirmed hash for it, and that hash."""
        assert self._conn is not None
        n = len(items)
        found = np.zeros(n, dtype=bool)
        hashes = np.zeros(n, dtype=np.int64)
        total = self._conn.execute(
            "SELECT count(*) FROM confirmed WHERE destination = ?", (destination,)
        ).fetchone()[0]
        if not total or not n:
            return found, hashes
        wanted = items.tolist()
        if n * 4 >= total:  # most of the destination: one pass over it is cheapest
            table = dict(
                self._conn.execute(
                    "SELECT item, hash FROM confirmed WHERE destination = ?", (destination,)
                )
            )
            got = [table.get(item) for item in wanted]
        else:
            known: dict[str, int] = {}
            for start in range(0, n, _IN_CHUNK):
                part = wanted[start : start + _IN_CHUNK]
                marks = ",".join("?" * len(part))
                known.update(
                    self._conn.execute(
                        f"SELECT item, hash FROM confirmed WHERE destination = ? "
                        f"AND item IN ({marks})",
                        (destination, *part),
                    )
                )
            got = [known.get(item) for item in wanted]
        found[:] = [g is not None for g in got]
        hashes[found] = [g for g in got if g is not None]
        return found, hashes

    def _pending(self, destination: int) -> list[_Intent]:
        assert self._conn is not None
        return [
            _Intent(
                id=int(row[0]),
                key=row[1],
                method=row[2],
                path=row[3],
                digest=bytes(row[4]),
                items=orjson.loads(row[5]),
                hashes=np.frombuffer(row[6], dtype="<i8").astype(np.int64),
                created_at=float(row[7]),
            )
            for row in self._conn.execute(
                "SELECT id, idempotency_key, method, path, digest, items, hashes, created_at "
                "FROM intents WHERE destination = ?",
                (destination,),
            )
        ]

    def _body(self, intent: _Intent, items: Callable[[], Sequence[bytes]]) -> bytes | None:
        """The exact body of a recorded call: as kept (a trigger's), or a batch's made
        again from its items' bytes now (`items()`, in the call's order); None when those
        are not the bytes it carried (its digest says)."""
        assert self._conn is not None
        row = self._conn.execute("SELECT body FROM intents WHERE id = ?", (intent.id,)).fetchone()
        body = bytes(row[0]) or b"[" + b",".join(items()) + b"]"
        return body if _digest(body) == intent.digest else None

    # -- before sending

    def admit(
        self, op: Operation, builder: ResultBuilder, rows: np.ndarray, *, only_changed: bool
    ) -> tuple[np.ndarray, list[Planned]]:
        """Which of `rows` to send, and the recorded calls to send again first.

        Rows the ledger keeps back get their status in `builder` here: `skip_status`
        (confirmed before: a trigger, or with `only_changed` an unchanged upsert) or
        `held_status` (a trigger whose earlier call cannot be asked about again)."""
        from ._client import Call
        from ._runner import Planned

        spec = op.ledger
        if spec is None:
            raise ValidationError(f"{op.name} keeps no ledger; call it without ledger=")
        destination = self._destination(spec.route)
        if destination is None or not len(rows):
            return rows, []
        items = np.asarray(spec.items(rows), dtype=object)
        found, confirmed = self._confirmed(destination, items)
        current = np.zeros(len(rows), dtype=np.int64)
        hashed = np.zeros(len(rows), dtype=bool)

        def hashes_at(at: np.ndarray) -> np.ndarray:
            todo = at[~hashed[at]]
            if len(todo):
                current[todo] = item_hashes(spec.item_bytes(rows[todo]))
                hashed[todo] = True
            out: np.ndarray = current[at]
            return out

        if spec.once and self.write:
            # Know before the first write whether the server honours keys: the client then
            # never retries a lost write where a retry would apply it twice.
            _keys_honoured(self.client)
        keep = np.ones(len(rows), dtype=bool)
        resume: list[Planned] = []
        held: list[tuple[np.ndarray, _Intent, str]] = []
        dropped: set[int] = set()
        intents = self._pending(destination)
        if intents:
            where = {item: i for i, item in enumerate(items.tolist())}
            now = time.time()
            honoured: list[bool] = []  # asked only when a trigger's call would go again

            def keys_honoured() -> bool:
                if not honoured:
                    honoured.append(_keys_honoured(self.client))
                return honoured[0]

            for intent in intents:
                at_or_none = [where.get(item) for item in intent.items]
                if all(a is None for a in at_or_none):
                    continue  # another call's business: left for a run that covers it
                young = now - intent.created_at < SAFE_AGE
                if spec.once:
                    at = np.array([a for a in at_or_none if a is not None], dtype=np.int64)
                    if found[at].all():
                        dropped.add(intent.id)  # confirmed after all: the mark stands
                        continue
                    if len(at) < len(intent.items) or not (young and keys_honoured()):
                        why = (
                            "it covers rows this call does not"
                            if len(at) < len(intent.items)
                            else "more than 23 hours have passed, so the server may no "
                            "longer know its idempotency key"
                            if not young
                            else "this server shows no sign of honouring Idempotency-Key"
                        )
                        held.append((at, intent, why))
                        keep[at] = False
                        continue
                else:
                    if None in at_or_none:
                        dropped.add(intent.id)  # the frame changed: current values win
                        continue
                    at = np.array(at_or_none, dtype=np.int64)
                    same = bool((hashes_at(at) == intent.hashes).all())
                    settled = bool(found[at].all() and (confirmed[at] == intent.hashes).all())
                    if not same or not young or (only_changed and settled):
                        dropped.add(intent.id)
                        continue
                claimed = rows[at]
                body = self._body(intent, functools.partial(spec.item_bytes, claimed))
                if body is None:  # its rows are not what it carried: never guessed at
                    if spec.once:
                        held.append((at, intent, "its rows have changed since"))
                        keep[at] = False
                    else:
                        dropped.add(intent.id)
                    continue
                call = Call(intent.method, intent.path, content=body, idempotency_key=intent.key)
                resume.append(Planned(claimed, call, None))
                keep[at] = False
                if self.write:
                    self._inflight[intent.key] = _InFlight(
                        destination, np.asarray(intent.items, dtype=object), intent.hashes
                    )
        if dropped and self.write:
            self._clear.extend((destination, i.key) for i in intents if i.id in dropped)
            self.flush()

        skip = keep & found
        if not spec.once:
            if only_changed and skip.any():
                at = np.flatnonzero(skip)
                skip[at] = hashes_at(at) == confirmed[at]
            else:
                skip[:] = False
        if skip.any():
            at = np.flatnonzero(skip)
            builder.set_status(rows[at], spec.skip_status)
            builder.clear_error(rows[at])
            if spec.once:
                changed = at[hashes_at(at) != confirmed[at]]
                if len(changed):
                    builder.set_error(
                        rows[changed],
                        spec.skip_status,
                        "already_sent_with_other_data",
                        message="confirmed by an earlier run with other data (event or "
                        "attributes changed since); not sent again: use a new send_id to "
                        "send on purpose",
                    )
            keep &= ~skip
        for at, intent, why in held:
            since = dt.datetime.fromtimestamp(intent.created_at, dt.UTC)
            builder.set_error(
                rows[at],
                spec.held_status,
                "outcome_unknown",
                message=f"an earlier run handed this to the server at {since:%Y-%m-%d %H:%M} "
                f"UTC and never had its answer (lost, or the run stopped first), and {why}: "
                "sending it again could send it twice, so it is not sent. Check in Spotzee "
                "whether it "
                f"arrived, then spotzee_frames.Ledger({str(self.path)!r}).resolve("
                f"{intent.key!r}, applied=True or False)",
            )
        if not keep.all() or resume:
            builder.set_int("batch", rows[~keep], None)
        return rows[keep], resume

    # -- while sending

    def sending(self, op: Operation, planned: Sequence[Planned]) -> None:
        """Record calls before they are handed to the client (one commit for them all)."""
        spec = op.ledger
        assert spec is not None and self.write
        destination = self._destination(spec.route)
        assert destination is not None
        now = time.time()
        records = []
        for one in planned:
            key, body = one.call.idempotency_key, one.call.content
            if key is None or body is None:
                raise AssertionError("a call kept in a ledger needs its key and exact body")
            items = np.asarray(spec.items(one.rows), dtype=object)
            hashes = item_hashes(body_items(body))
            if len(hashes) != len(items):
                raise AssertionError("a body's items do not match the rows it carries")
            records.append(
                (
                    destination,
                    key,
                    one.call.method,
                    one.call.path,
                    # A batch's body is its items' bytes, kept as their hashes: on resume it
                    # is made again from the rows, exactly (the digest checks it).
                    b"" if body[:1] == b"[" else body,
                    _digest(body),
                    orjson.dumps(items.tolist()),
                    hashes.astype("<i8").tobytes(),
                    now,
                )
            )
            self._inflight[key] = _InFlight(destination, items, hashes)
        self._commit(records)

    def settled(self, planned: Planned, confirmed_rows: np.ndarray, *, verdict: bool) -> None:
        """A call's outcome: mark the rows the server confirmed; with a verdict (a 2xx,
        or a 4xx: nothing applied) the call's record goes, otherwise it stays for the
        next run to send again exactly."""
        key = planned.call.idempotency_key
        entry = self._inflight.pop(key, None) if key is not None else None
        if entry is None:
            return
        if len(confirmed_rows):
            mask = np.isin(planned.rows, confirmed_rows)
            now = time.time()
            self._confirm.extend(
                (entry.destination, str(item), int(h), now)
                for item, h in zip(entry.items[mask], entry.hashes[mask], strict=True)
            )
        if verdict:
            self._clear.append((entry.destination, str(key)))
        if (
            len(self._confirm) >= _COMMIT_ROWS
            or time.monotonic() - self._last_commit >= _COMMIT_EVERY
        ):
            self.flush()

    def unsent(self, planned: Sequence[Planned]) -> None:
        """Calls recorded but never handed to the client: their records go."""
        for one in planned:
            key = one.call.idempotency_key
            entry = self._inflight.pop(key, None) if key is not None else None
            if entry is not None:
                self._clear.append((entry.destination, str(key)))

    def flush(self) -> None:
        self._commit(())

    def _commit(self, intents: Sequence[tuple[Any, ...]]) -> None:
        if not (intents or self._confirm or self._clear):
            return
        conn = self._conn
        assert conn is not None and self.write
        # Calls about to be sent are on disk before the client has them (FULL: fsync at
        # commit); marks and cleared calls may wait for the next sync (NORMAL): losing
        # them to a power cut only sends those calls again, exactly, to be replayed.
        conn.execute(f"PRAGMA synchronous={'FULL' if intents else 'NORMAL'}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            if intents:
                conn.executemany(
                    "INSERT INTO intents (destination, idempotency_key, method, path, body, "
                    "digest, items, hashes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (destination, idempotency_key) DO NOTHING",
                    intents,
                )
            if self._confirm:
                conn.executemany(
                    "INSERT INTO confirmed (destination, item, hash, confirmed_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (destination, item) DO UPDATE SET "
                    "hash = excluded.hash, confirmed_at = excluded.confirmed_at",
                    self._confirm,
                )
            if self._clear:
                conn.executemany(
                    "DELETE FROM intents WHERE destination = ? AND idempotency_key = ?",
                    self._clear,
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._confirm.clear()
        self._clear.clear()
        self._last_commit = time.monotonic()


@contextmanager
def open_session(path: Path, client: Client, *, write: bool = True) -> Iterator[Session]:
    """A session on the ledger at `path` for `client`'s destinations (see `Session`)."""
    session = Session(path, client, write).open()
    try:
        yield session
    finally:
        session.close()


# -- inspection ------------------------------------------------------------------------------


def _texts(rows: Sequence[Sequence[Any]], names: Sequence[str]) -> pd.DataFrame:
    """The first `len(names)` fields of `rows` as `string` columns."""
    return pd.DataFrame(
        {name: pd.array([r[i] for r in rows], dtype="string") for i, name in enumerate(names)}
    )


def _utc(seconds: Sequence[float]) -> pd.Series:
    return pd.to_datetime(pd.Series(list(seconds), dtype="float64"), unit="s", utc=True)


class Ledger:
    """A ledger file (see `ledger=` on `upsert` and the triggers), for inspection.

    `destinations()`, `confirmed()` and `pending()` read it as frames (a missing file reads
    as empty); `resolve()` settles a call whose answer never came back. A `Ledger` is also
    accepted wherever `ledger=` takes a path. Reading never waits for a run that writes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if isinstance(path, bytes) or not isinstance(path, str | os.PathLike):
            raise ValidationError(f"Ledger takes a file path, not {path!r}")
        self.path = Path(path)

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection | None]:
        conn = _connect(self.path, create=False)
        try:
            yield conn
        finally:
            if conn is not None:
                conn.close()

    def destinations(self) -> pd.DataFrame:
        """One row per destination: `base_url`, `key_fingerprint` (a keyed hash of the
        API key), `route`, `confirmed` (items), `pending` (calls awaiting a verdict) and
        `last_confirmed_at`."""
        columns = ["base_url", "key_fingerprint", "route", "confirmed", "pending"]
        with self._reading() as conn:
            rows = (
                []
                if conn is None
                else conn.execute(
                    "SELECT d.base_url, d.key_fingerprint, d.route, "
                    "(SELECT count(*) FROM confirmed c WHERE c.destination = d.id), "
                    "(SELECT count(*) FROM intents i WHERE i.destination = d.id), "
                    "(SELECT max(confirmed_at) FROM confirmed c WHERE c.destination = d.id) "
                    "FROM destinations d ORDER BY d.id"
                ).fetchall()
            )
        frame = _texts(rows, columns[:3])
        frame["confirmed"] = pd.array([r[3] for r in rows], dtype="Int64")
        frame["pending"] = pd.array([r[4] for r in rows], dtype="Int64")
        frame["last_confirmed_at"] = _utc([np.nan if r[5] is None else r[5] for r in rows])
        return frame

    def confirmed(self, route: str | None = None) -> pd.DataFrame:
        """Every confirmed item (of one `route`, e.g. "POST /users/batch", if given):
        the destination's columns, `item`, `hash` and `confirmed_at`."""
        query = (
            "SELECT d.base_url, d.key_fingerprint, d.route, c.item, c.hash, c.confirmed_at "
            "FROM confirmed c JOIN destinations d ON d.id = c.destination"
        )
        params: tuple[Any, ...] = ()
        if route is not None:
            query += " WHERE d.route = ?"
            params = (route,)
        with self._reading() as conn:
            rows = [] if conn is None else conn.execute(query, params).fetchall()
        names = ["base_url", "key_fingerprint", "route", "item"]
        frame = _texts(rows, names)
        frame["hash"] = pd.array([r[4] for r in rows], dtype="Int64")
        frame["confirmed_at"] = _utc([r[5] for r in rows])
        return frame

    def pending(self) -> pd.DataFrame:
        """Calls handed to the server whose verdict never came back: the destination's
        columns, `idempotency_key`, `method`, `path`, `items` (a list per call),
        `created_at` and `expired` (older than `SAFE_AGE`: a trigger's is held, not resent)."""
        with self._reading() as conn:
            rows = (
                []
                if conn is None
                else conn.execute(
                    "SELECT d.base_url, d.key_fingerprint, d.route, i.idempotency_key, "
                    "i.method, i.path, i.items, i.created_at FROM intents i "
                    "JOIN destinations d ON d.id = i.destination ORDER BY i.id"
                ).fetchall()
            )
        names = ["base_url", "key_fingerprint", "route", "idempotency_key", "method", "path"]
        frame = _texts(rows, names)
        items = np.empty(len(rows), dtype=object)
        items[:] = [orjson.loads(r[6]) for r in rows]
        frame["items"] = items
        frame["created_at"] = _utc([r[7] for r in rows])
        now = time.time()
        frame["expired"] = pd.array([now - r[7] >= SAFE_AGE for r in rows], dtype="boolean")
        return frame

    def resolve(self, idempotency_key: str, *, applied: bool) -> int:
        """Settle a pending call (see `pending()`) once you know whether it arrived:
        `applied=True` marks its items confirmed (a trigger is then never sent again),
        `applied=False` forgets it (the next run sends its rows). Returns how many items
        it had. Refused (`LedgerBusyError`) while a run writes the ledger."""
        if not isinstance(applied, bool):
            raise ValidationError(f"applied must be True or False, not {applied!r}")
        lock = _WriterLock(self.path)
        try:
            conn = _connect(self.path, create=False)
            if conn is None:
                raise ValidationError(f"ledger {str(self.path)!r} does not exist")
            try:
                rows = conn.execute(
                    "SELECT id, destination, items, hashes FROM intents WHERE idempotency_key = ?",
                    (idempotency_key,),
                ).fetchall()
                if not rows:
                    raise ValidationError(
                        f"no pending call with idempotency key {idempotency_key!r} in "
                        f"{str(self.path)!r}; Ledger.pending() lists them"
                    )
                now = time.time()
                count = 0
                conn.execute("BEGIN IMMEDIATE")
                for intent, destination, items_json, hashes_blob in rows:
                    items = orjson.loads(items_json)
                    hashes = np.frombuffer(hashes_blob, dtype="<i8").tolist()
                    count += len(items)
                    if applied:
                        conn.executemany(
                            "INSERT INTO confirmed VALUES (?, ?, ?, ?) ON CONFLICT "
                            "(destination, item) DO UPDATE SET hash = excluded.hash, "
                            "confirmed_at = excluded.confirmed_at",
                            [(destination, i, h, now) for i, h in zip(items, hashes, strict=True)],
                        )
                    conn.execute("DELETE FROM intents WHERE id = ?", (intent,))
                conn.execute("COMMIT")
                return count
            finally:
                conn.close()
        finally:
            lock.release()
