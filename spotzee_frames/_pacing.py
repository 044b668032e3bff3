"""Client-side throughput control: how fast requests start (a limiter per host, shared by
every client of the process), how many are in flight (what the pace needs, backing off
when the server struggles), and a gate that holds every worker when the server says wait.

The API's budget is per source IP (contract, *Rate limits*): 1,000 requests per 10 s and
8,000 per minute, so at most 100 requests/s. A `Limiter` keeps request starts on a
schedule of `rate` per second and, whatever happens to that schedule, never lets more
than the budget's share start in any 1 s, 10 s or 60 s window. Several clients of one
process talking to one host share one limiter (`host_limiter`), and `set_process_budget`
says how much of each host's 100 requests/s this process may use (when other processes
send from the same address).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from typing import Final

from ._errors import ConfigurationError

__all__ = [
    "HOST_RATE",
    "JITTER",
    "TOLERANCE",
    "WINDOWS",
    "Gate",
    "InFlight",
    "Limiter",
    "Pacer",
    "host_limiter",
    "set_process_budget",
]

#: Requests per second one source IP may send (contract: 1,000 per 10 s).
HOST_RATE: Final = 100.0
#: (requests, seconds) one source IP may send in any window of that length at HOST_RATE:
#: the contract's 1,000 per 10 s and 8,000 per minute, and the 100/s they make per second.
WINDOWS: Final = ((100, 1.0), (1000, 10.0), (8000, 60.0))
#: Requests arrive closer together than they started (queues in the network and in the
#: server): the edge's own windows (10 s, 60 s), counted on arrival, keep this much of
#: the rate spare (10 requests at 100/s), so that a window filled to the brim at the
#: client is not one over at the edge (measured on a busy machine: 5 spare still drew a
#: 429 now and then, and an edge's Retry-After can be 10 s). The 1 s window is the
#: per-second rate the contract derives (no edge window of 1 s is documented): kept
#: exact, it is what sets the pace.
JITTER: Final = 0.1
#: How late a start may be and still be caught up: the schedule lets requests go early by
#: up to this much, so that wake-ups late by less cost no pace (unless a window is full
#: just then: a late start then pushes back the one a window later). It is also the
#: largest burst the limiter releases (1 + rate x tolerance: 4 requests at 100/s) after
#: an idle spell or a stall; a longer stall's lost time is not made up. Bursts compress
#: on the way (as JITTER says), so a burst of 6 (0.05) reached a token bucket of 10 as
#: more than 10 now and then: 3-6 x 429 per 1,000 requests against the served sandbox,
#: each a 1 s pause (bench_upsert (b): 0.72 of the ceiling); 0.03 drew none (0.96), and
#: 0 loses every late wake-up (0.86).
TOLERANCE: Final = 0.03

# One lock for every limiter: a start that passes a client's own limiter and its host's
# must be counted by both at once, and the critical section is a few comparisons.
_LOCK = threading.Lock()


def _windows(rate: float) -> tuple[tuple[int, float], ...]:
    """The contract's windows scaled to `rate` requests/s, rounded down (at least 1), the
    edge's less `JITTER` worth of requests."""
    share = rate / HOST_RATE
    windows = []
    for count, seconds in WINDOWS:
        scaled = count * share - (rate * JITTER if seconds > 1.0 else 0.0)
        windows.append((max(1, math.floor(scaled + 1e-9)), seconds))
    return tuple(windows)


class Limiter:
    """Starts at most `rate` requests/s, on a schedule, within sliding windows.

    The schedule is a GCRA (virtual scheduling): request k is due at `tat - tolerance`,
    and each start moves `tat` on by `1/rate`, so starts late by less than the tolerance
    are made up by the next ones. On top of it a log of actual start times refuses any
    start that would put more than the window's count in any 1 s, 10 s or 60 s window, so
    catching up after a stall goes only as far as the windows allow. Thread-safe; `clock`
    (seconds, monotonic) is injectable for tests.
    """

    def __init__(
        self,
        rate: float,
        *,
        tolerance: float = TOLERANCE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.tolerance = tolerance
        self._tat = -math.inf
        self._slowdown = 1.0
        self.configure(rate)

    def configure(self, rate: float) -> None:
        """Change the rate (and with it the windows); starts already counted still count."""
        if not (isinstance(rate, int | float) and math.isfinite(rate) and rate > 0):
            raise ValueError(f"a rate must be a positive number of requests/s, not {rate!r}")
        with _LOCK:
            self.rate = float(rate)
            self.windows = _windows(self.rate)
            size = max(count for count, _ in self.windows)
            old = list(getattr(self, "_log", ()))[-size:]
            self._log: deque[float] = deque(old, maxlen=size)

    @property
    def pace(self) -> float:
        """Requests/s the schedule currently allows (`rate`, less after a 429)."""
        return self.rate / self._slowdown

    # The edge may count more strictly than the documented budget, or other senders on
    # the address may share it: after a 429 the pace halves, successes win it back slowly.
    _SLOWEST: Final = 0.2  # requests/s
    _RECOVERY: Final = 0.99

    def slow_down(self) -> None:
        with _LOCK:
            self._slowdown = min(self.rate / self._SLOWEST, self._slowdown * 2)

    def recover(self) -> None:
        if self._slowdown > 1.0:
            with _LOCK:
                self._slowdown = max(1.0, self._slowdown * self._RECOVERY)

    def _delay(self, now: float) -> float:
        """Seconds until a start is allowed (0 = now); call under _LOCK."""
        due = self._tat - self.tolerance
        log = self._log
        for count, seconds in self.windows:
            if len(log) >= count:
                due = max(due, log[-count] + seconds)
        return max(0.0, due - now)

    def _start(self, now: float) -> None:
        self._log.append(now)
        self._tat = max(self._tat, now) + self._slowdown / self.rate

    def try_start(self) -> float:
        """Count a start now if allowed and return 0; otherwise the seconds to wait."""
        return start_all((self,))

    def starts(self) -> list[float]:
        """The start times still counted (at most the largest window's count)."""
        with _LOCK:
            return list(self._log)


def start_all(limiters: Sequence[Limiter]) -> float:
    """A start counted by every limiter at once, or the seconds until all allow one."""
    if not limiters:
        return 0.0
    now = limiters[0].clock()
    with _LOCK:
        wait = max(limiter._delay(now) for limiter in limiters)
        if wait <= 0.0:
            for limiter in limiters:
                limiter._start(now)
        return wait


# -- the process-wide budget per host ---------------------------------------------------

_process_rate = HOST_RATE
_by_name: dict[str, Limiter] = {}
# Servers that are objects, by identity (a transport need not be hashable), each held
# weakly so that its budget goes away with it; the lock guards both tables.
_by_object: dict[int, tuple[Callable[[], object], Limiter]] = {}
_registry_lock = threading.Lock()


def host_limiter(host: object) -> Limiter:
    """The limiter every client of this process shares for `host`.

    `host` is a name (`"https://apix.spotzee.com:443"`: traffic that leaves over the
    network, where the budget is the source address's) or an object that stands for a
    server (an in-process sandbox, a test's transport): each such object has a budget of
    its own, which goes away with it.
    """
    with _registry_lock:
        if isinstance(host, str):
            limiter = _by_name.get(host)
            if limiter is None:
                limiter = _by_name[host] = Limiter(_process_rate)
            return limiter
        key = id(host)
        entry = _by_object.get(key)
        if entry is not None and entry[0]() is host:
            return entry[1]
        limiter = Limiter(_process_rate)
        try:
            ref: Callable[[], object] = weakref.ref(host, lambda dead: _forget(key, dead))
        except TypeError:  # cannot be referenced weakly: keep it
            ref = lambda: host  # noqa: E731
        _by_object[key] = (ref, limiter)
        return limiter


def _forget(key: int, ref: object) -> None:
    with _registry_lock:
        entry = _by_object.get(key)
        if entry is not None and entry[0] is ref:
            del _by_object[key]


def set_process_budget(rate: float | None = None) -> float:
    """Let this process use `rate` requests/s of each host's budget (None: all of it,
    100/s); the windows scale with it (25 -> 25 per second, 247 per 10 s, 1,997 per
    minute). Applies to existing clients too. Returns the previous setting.

    The budget is per source address: for several processes sending from one (Spark or
    Dask workers, parallel notebooks), give each its share, e.g. 100 / the number of
    processes. More than 100 only if the API's edge grants this address more.
    """
    global _process_rate
    new = HOST_RATE if rate is None else rate
    if isinstance(new, bool) or not isinstance(new, int | float) or not 0 < new < math.inf:
        raise ConfigurationError(
            f"a process budget must be a positive number of requests/s or None, not {rate!r}"
        )
    with _registry_lock:
        previous, _process_rate = _process_rate, float(new)
        limiters = [*_by_name.values(), *(limiter for _, limiter in _by_object.values())]
    for limiter in limiters:
        limiter.configure(_process_rate)
    return previous


# -- the asynchronous side --------------------------------------------------------------


class Pacer:
    """Waits until every one of a client's limiters (its own cap, its host's budget) lets
    a request start; one waiter at a time per event loop, so starts come in order."""

    def __init__(self, limiters: Sequence[Limiter]) -> None:
        self.limiters = tuple(limiters)
        self._lock: asyncio.Lock | None = None

    @property
    def pace(self) -> float | None:
        """Requests/s this client may start (None: unpaced)."""
        return min((lim.pace for lim in self.limiters), default=None)

    def slow_down(self) -> None:
        for limiter in self.limiters:
            limiter.slow_down()

    def recover(self) -> None:
        for limiter in self.limiters:
            limiter.recover()

    async def wait(self) -> None:
        if not self.limiters:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            while (delay := start_all(self.limiters)) > 0.0:
                await asyncio.sleep(delay)


class InFlight:
    """How many requests may be in flight at once: what the pace needs, within a cap.

    Little's law: a pace of `rate` requests/s with round trips of `rtt` seconds needs
    `rate x rtt` in flight; the limit is that with headroom (x1.5, +4: answers that come
    in slower than the average for a while still find room). `rtt` is the
    smoothed round trip of answered requests (as TCP's SRTT), but at most twice (and
    200 ms more than) the quickest of the last 1,000 answers of the same kind of request (the
    round trip without queueing): a server that is far away gets as many requests in
    flight as its distance needs, while one whose answers slow down because requests
    queue up (in a server that cannot keep up, or in a client stalled by a GC pause) is
    not sent more to queue, and the pace gives way until answers speed up again; a
    server that stays slower is taken as it is once its quicker answers are 1,000 old.
    Until the first
    answer only the pace and `cap` bound it, so a far-away server is at full pace from
    the start. A sign of trouble (429, a 502/503/504, a timeout or a lost connection)
    halves the limit, at most once per round trip; each answer then wins back a quarter
    of a request, so a lone 503 costs a few round trips and a struggling server is met
    with ever fewer requests. Unpaced (`pace()` None), the limit is what trouble leaves
    of `cap`.
    """

    HEADROOM: Final = 1.5
    SPARE: Final = 4
    # Round trips longer than quickest x QUEUEING + SLACK are queueing: a stalled client
    # (a GC pause) or a saturated server makes every answer late, and following that up
    # would pile on more of the same.
    # Measured on a busy 2-core machine: a tighter bound (x1.25 + 25 ms, x1.5 + 100 ms)
    # held back a sandbox that was only slowed by its neighbours, at 0.84-0.88 of the pace.
    QUEUEING: Final = 2.0
    SLACK: Final = 0.2  # a busy server's answers vary by that much without piling up
    _RECENT: Final = 1000
    _GAIN: Final = 0.25
    _ALPHA: Final = 0.125  # weight of a new round trip in the smoothed one (TCP's 1/8)

    def __init__(
        self,
        cap: int,
        pace: Callable[[], float | None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cap = cap
        self._pace = pace
        self._clock = clock
        self.rtt: float | None = None
        self._recent: dict[object, _Quickest] = {}
        self._quickest: float = math.inf
        self._ceiling = float(cap)  # what trouble leaves of the cap
        self._calm_until = -math.inf
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def limit(self) -> int:
        """Requests that may be in flight now."""
        want = float(self.cap)
        pace = self._pace()
        if pace is not None and self.rtt is not None:
            rtt = min(self.rtt, self.QUEUEING * self._quickest + self.SLACK)
            want = math.ceil(pace * rtt * self.HEADROOM) + self.SPARE
        return max(1, int(min(want, self._ceiling)))

    def answered(self, rtt: float, kind: object = None) -> None:
        """A request of `kind` (requests of one kind take alike long: one route, say) was
        answered without a sign of trouble after `rtt` seconds."""
        recent = self._recent.get(kind)
        if recent is None:
            if len(self._recent) > 64:  # many kinds: forget the old ones
                self._recent.clear()
            recent = self._recent[kind] = _Quickest(self._RECENT)
        # The quickest of the kind answered last: a change of workload (a listing, then an
        # upsert of heavy batches) is not taken for a slowing server.
        self._quickest = recent.add(rtt)
        self.rtt = rtt if self.rtt is None else self.rtt + self._ALPHA * (rtt - self.rtt)
        self._ceiling = min(float(self.cap), self._ceiling + self._GAIN)
        self._wake()

    def troubled(self) -> None:
        """The server answered 429 or 502-504, or a request timed out or lost its connection."""
        now = self._clock()
        if now < self._calm_until:  # the same episode: one halving per round trip
            return
        self._ceiling = max(1.0, min(self._ceiling, float(self.limit)) / 2)
        self._calm_until = now + (self.rtt if self.rtt is not None else 0.1)

    async def acquire(self) -> None:
        if not self._waiters and self.active < self.limit:
            self.active += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a slot as it was cancelled
                self.release()
            else:
                with contextlib.suppress(ValueError):  # skipped already by a wake-up
                    self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self.active -= 1
        self._wake()

    def _wake(self) -> None:
        limit = self.limit
        while self._waiters and self.active < limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.active += 1
                waiter.set_result(None)


class _Quickest:
    """The smallest of the last `n` values added (a monotonic queue: O(1) per value)."""

    __slots__ = ("_added", "_candidates", "_n")

    def __init__(self, n: int) -> None:
        self._n = n
        self._added = 0
        self._candidates: deque[tuple[int, float]] = deque()  # increasing values

    def add(self, value: float) -> float:
        self._added += 1
        candidates = self._candidates
        while candidates and candidates[-1][1] >= value:
            candidates.pop()
        candidates.append((self._added, value))
        if candidates[0][0] <= self._added - self._n:
            candidates.popleft()
        return candidates[0][1]


class Gate:
    """Holds every worker until a shared "not before" time (Retry-After, rate-limit reset)."""

    def __init__(self) -> None:
        self._until = 0.0

    def pause(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self._until = max(self._until, loop.time() + seconds)

    @property
    def paused_for(self) -> float:
        return max(0.0, self._until - asyncio.get_running_loop().time())

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        while (delay := self._until - loop.time()) > 0:
            await asyncio.sleep(delay)
