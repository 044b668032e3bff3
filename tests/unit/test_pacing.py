"""The limiter on a fake clock (the contract's windows hold through stalls and late
wake-ups, and no pace is lost to small lateness), the process-wide budget per host, and
the in-flight controller's arithmetic."""

from __future__ import annotations

import bisect
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotzee_frames._errors import ConfigurationError
from spotzee_frames._pacing import (
    TOLERANCE,
    WINDOWS,
    InFlight,
    Limiter,
    host_limiter,
    set_process_budget,
    start_all,
)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def busiest(starts: list[float], seconds: float) -> int:
    """The most starts in any window [t, t + seconds)."""
    return max(
        (bisect.bisect_left(starts, t + seconds) - i for i, t in enumerate(starts)), default=0
    )


def run(
    limiter: Limiter, clock: Clock, until: float, *, late: float = 0.0, stalls: dict[int, float]
) -> list[float]:
    """A sender that always has a request ready: it starts one whenever allowed and
    otherwise sleeps as told, waking `late` seconds after; `stalls[k]` blocks it for that
    long before its k-th start (a GC pause, a busy CPU, the GIL held elsewhere)."""
    starts: list[float] = []
    while clock.now < until:
        if len(starts) in stalls:
            clock.now += stalls.pop(len(starts))
        wait = limiter.try_start()
        if wait == 0.0:
            starts.append(clock.now)
        else:
            clock.now += wait + late
    return starts


def test_windows_are_the_contracts_scaled_to_the_rate() -> None:
    assert WINDOWS == ((100, 1.0), (1000, 10.0), (8000, 60.0))
    # The edge's windows keep 100 ms worth of requests spare for arrival jitter.
    assert Limiter(100).windows == ((100, 1.0), (990, 10.0), (7990, 60.0))
    assert Limiter(50).windows == ((50, 1.0), (495, 10.0), (3995, 60.0))
    # A share that is not a whole number per second rounds down: never over the budget.
    assert Limiter(2.5).windows == ((2, 1.0), (24, 10.0), (199, 60.0))
    with pytest.raises(ValueError, match="positive number"):
        Limiter(0)


def test_a_steady_sender_keeps_the_pace_and_every_window() -> None:
    clock = Clock()
    limiter = Limiter(100, clock=clock)
    starts = run(limiter, clock, clock.now + 30, stalls={})
    assert 2965 <= len(starts) <= 2970 + 1 + 100 * TOLERANCE  # 99/s: 990 per 10 s
    assert busiest(starts, 1.0) <= 100
    assert busiest(starts, 10.0) <= 990


@pytest.mark.parametrize(("late", "kept"), [(0.002, 1.0), (0.02, 0.98)])
def test_late_wake_ups_cost_little_pace(late: float, kept: float) -> None:
    clock = Clock()
    limiter = Limiter(100, clock=clock)
    # Every wake-up late (a busy loop): the old pacer lost a slot each time. The schedule
    # makes late starts up; only where the 1 s window binds does a late start push the
    # one a second later along with it.
    starts = run(limiter, clock, clock.now + 10, late=late, stalls={})
    assert len(starts) >= 990 * kept
    assert busiest(starts, 1.0) <= 100


@pytest.mark.parametrize("stall", [0.03, 0.3, 2.0, 15.0])
def test_after_a_stall_the_pace_catches_up_only_as_far_as_the_windows_allow(
    stall: float,
) -> None:
    clock = Clock()
    limiter = Limiter(100, clock=clock)
    began = clock.now
    starts = run(limiter, clock, began + 80, stalls={500: stall, 3000: stall})
    # No window of the contract is ever over its count...
    assert busiest(starts, 1.0) <= 100
    assert busiest(starts, 10.0) <= 1000 - 10
    assert busiest(starts, 60.0) <= 8000 - 10
    # ...no burst is larger than the schedule's tolerance lets through at once...
    assert busiest(starts, 1e-9) <= 1 + 100 * TOLERANCE
    # ...and the pace is back right after: the stall costs its own time, not more.
    resumed = starts[500]
    assert starts[500] - starts[499] >= stall - 1e-9
    assert bisect.bisect_left(starts, resumed + 5) - 500 >= 490
    assert len(starts) >= 99 * (80 - 2 * stall) - 10


@settings(max_examples=60, deadline=None)
@given(
    rate=st.sampled_from([1.0, 2.5, 7.0, 50.0, 100.0, 240.0]),
    late=st.floats(0.0, 0.2),
    stalls=st.dictionaries(st.integers(0, 1500), st.floats(0.0, 20.0), max_size=6),
)
def test_no_sequence_of_stalls_and_late_wake_ups_breaks_a_window(
    rate: float, late: float, stalls: dict[int, float]
) -> None:
    clock = Clock()
    limiter = Limiter(rate, clock=clock)
    starts = run(limiter, clock, clock.now + 1500 / rate + 5, late=late, stalls=dict(stalls))
    for count, seconds in limiter.windows:
        assert busiest(starts, seconds) <= count
    assert busiest(starts, 1e-9) <= 1 + rate * TOLERANCE


def test_a_start_counts_against_the_clients_cap_and_its_hosts_budget_at_once() -> None:
    clock = Clock()
    own, host, other = (Limiter(r, clock=clock) for r in (50, 100, 100))
    starts = []
    while clock.now < 1002:
        wait = start_all((own, host))
        if wait:
            clock.now += wait
        else:
            starts.append(clock.now)
    assert busiest(starts, 1.0) <= 50  # the cap binds
    assert len(host.starts()) == len(own.starts()) == len(starts)
    # Another client on the same host finds the budget half spent.
    assert start_all((other, host)) == 0.0
    assert len(other.starts()) == 1


def test_a_429_halves_the_pace_and_successes_win_it_back() -> None:
    limiter = Limiter(100)
    limiter.slow_down()
    assert limiter.pace == pytest.approx(50)
    for _ in range(1000):
        limiter.recover()
    assert limiter.pace == 100


@pytest.fixture
def budget() -> Iterator[None]:
    previous = set_process_budget(None)
    yield
    set_process_budget(previous)


def test_clients_of_one_host_share_one_limiter(budget: None) -> None:
    a = host_limiter("https://apix.spotzee.com:443")
    assert host_limiter("https://apix.spotzee.com:443") is a
    assert host_limiter("https://other.example:443") is not a
    server = object()
    assert host_limiter(server) is host_limiter(server) is not host_limiter(object())


def test_the_process_budget_is_a_share_of_each_hosts_100(budget: None) -> None:
    existing = host_limiter("https://share.example:443")
    assert existing.rate == 100
    assert set_process_budget(25) == 100
    assert existing.rate == 25 and existing.windows == ((25, 1.0), (247, 10.0), (1997, 60.0))
    assert host_limiter("https://new.example:443").rate == 25
    with pytest.raises(ConfigurationError, match="positive number"):
        set_process_budget(-1)
    assert set_process_budget(None) == 25
    assert existing.rate == 100


# -- in flight -------------------------------------------------------------------------------


def controller(pace: float | None = 100.0, cap: int = 256) -> tuple[InFlight, Clock]:
    clock = Clock()
    return InFlight(cap, lambda: pace, clock=clock), clock


def test_in_flight_follows_pace_times_round_trip() -> None:
    near, _ = controller()
    for _ in range(50):
        near.answered(0.02)
    far, _ = controller()
    for _ in range(50):
        far.answered(1.0)
    assert near.limit == 3 + 4  # 100/s x 20 ms x 1.5, rounded up, + 4
    assert far.limit == 150 + 4
    assert controller()[0].limit == 256  # no answer yet: only the pace and the cap bound it
    capped, _ = controller(cap=64)
    for _ in range(50):
        capped.answered(1.0)
    assert capped.limit == 64


def test_in_flight_does_not_follow_a_server_that_slows_down_by_queueing() -> None:
    gate, _ = controller()
    for _ in range(64):
        gate.answered(0.1)
    for _ in range(30):  # answers slow down tenfold: requests queue up in the server
        gate.answered(1.0)
    assert gate.limit == 60 + 4  # what the quickest recent round trip x 2 + 200 ms needs
    for _ in range(1000):  # a server that is now that slow, steadily, is far away instead
        gate.answered(1.0)
    assert gate.limit > 120


def test_a_change_of_workload_is_not_taken_for_a_slowdown() -> None:
    mixed, _ = controller()
    for _ in range(10):
        mixed.answered(0.02, "GET /campaigns")
    for _ in range(20):
        mixed.answered(1.0, "POST /users/batch")
    assert mixed.limit > 100


def test_trouble_halves_in_flight_once_per_round_trip_and_answers_win_it_back() -> None:
    gate, clock = controller()
    for _ in range(50):
        gate.answered(1.0)
    before = gate.limit
    gate.troubled()
    gate.troubled()  # the same episode: one halving
    assert gate.limit == before // 2
    clock.now += 1.5
    gate.troubled()
    assert gate.limit == before // 4
    for _ in range(4 * (before - before // 4)):
        gate.answered(1.0)
    assert gate.limit == before


def test_an_unpaced_client_is_bounded_by_its_cap_and_by_trouble() -> None:
    gate, _ = controller(pace=None, cap=40)
    gate.answered(0.01)
    assert gate.limit == 40
    gate.troubled()
    assert gate.limit == 20
