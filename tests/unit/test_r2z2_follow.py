"""The follower's pure core and pacing: examples, and properties over random feeds driven by a fake time."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from killreport.domain.feed_pace import THROTTLED_FIRST_S
from killreport.r2z2 import MemoryPace, follow, pace
from killreport.r2z2.follow import Ask, AskHead, DeclareHole, FeedState, Policy, Wait
from tests.sim.test_daily_downtime import FakeClock

POLICY = Policy()
FIRST = 1_000_000


def test_walks_past_the_lagging_head_until_a_404_then_waits() -> None:
    state = follow.starting_at(FIRST)
    assert follow.next_step(state, 0.0, POLICY) == Ask(FIRST)  # one past the head is always tried
    state = follow.found(state, FIRST, None)
    assert follow.next_step(state, 0.0, POLICY) == Ask(FIRST + 1)
    state = follow.missed(state, FIRST + 1, 0.0, POLICY)
    assert follow.next_step(state, 0.0, POLICY) == AskHead()
    state = follow.head_seen(state, FIRST, 0.5)
    assert follow.next_step(state, 1.0, POLICY) == Wait(6.0)  # the 404 and the head are both due then
    assert follow.next_step(state, 6.0, POLICY) == Ask(FIRST + 1)
    assert state.cursor == FIRST + 1 and follow.head_seen(state, FIRST - 5, 7.0).head == FIRST


def test_a_stale_404_is_asked_again_later_and_later_numbers_meanwhile() -> None:
    state = follow.head_seen(follow.starting_at(FIRST), FIRST + 3, 0.0)
    state = follow.missed(state, FIRST, 0.0, POLICY)
    assert follow.next_step(state, 0.0, POLICY) == Ask(FIRST + 1)
    for n in (FIRST + 1, FIRST + 2, FIRST + 3):
        state = follow.found(state, n, None)
    assert state.cursor == FIRST and state.done == {FIRST + 1, FIRST + 2, FIRST + 3}
    assert follow.next_step(state, 1.0, POLICY) == Ask(FIRST + 4)
    state = follow.missed(state, FIRST + 4, 1.0, POLICY)
    assert follow.next_step(state, 5.9, POLICY) == Wait(6.0)
    assert follow.next_step(state, 6.0, POLICY) == Ask(FIRST)  # a due number goes before the head
    state = follow.found(state, FIRST, None)
    assert state.cursor == FIRST + 4 and state.done == frozenset() and state.misses.keys() == {FIRST + 4}


def test_the_wait_after_a_404_doubles_up_to_the_cap() -> None:
    miss = follow.Miss(0.0, 100.0, 1)
    assert [follow.Miss(0.0, 100.0, n).due(POLICY) for n in (1, 2, 3, 4, 5, 50)] == [
        106.0, 112.0, 124.0, 148.0, 160.0, 160.0]
    assert miss.due(Policy(retry_404_s=1.0)) == 101.0


def test_a_hole_needs_a_later_number_a_second_ask_and_the_timeout() -> None:
    state = follow.head_seen(follow.starting_at(FIRST), FIRST, 0.0)
    state = follow.missed(state, FIRST, 0.0, POLICY)
    state = follow.missed(state, FIRST, 200.0, POLICY)
    assert not isinstance(follow.next_step(state, 200.0, POLICY), DeclareHole)  # nothing later is known
    state = follow.found(state, FIRST + 1, None)
    assert follow.next_step(state, 200.0, POLICY) == DeclareHole(FIRST)
    early = follow.missed(follow.found(follow.missed(follow.starting_at(FIRST), FIRST, 0.0, POLICY),
                                       FIRST + 1, None), FIRST, 119.0, POLICY)
    assert not isinstance(follow.next_step(early, 119.0, POLICY), DeclareHole)
    state = follow.hole_declared(state, FIRST)
    assert state.cursor == FIRST + 2 and not state.misses and not state.done


def test_a_republished_stored_number_is_asked_again_once_for_its_zkb() -> None:
    state = follow.found(follow.found(follow.starting_at(FIRST), FIRST, None), FIRST + 1, FIRST)
    assert state.refresh == {FIRST: None} and follow.is_refresh(state, FIRST)
    assert follow.next_step(state, 0.0, POLICY) == Ask(FIRST)
    state = follow.missed(state, FIRST, 0.0, POLICY)
    assert follow.next_step(state, 0.0, POLICY) == Ask(FIRST + 2)
    assert follow.found(state, FIRST, None).refresh == {}
    given_up = follow.missed(follow.missed(state, FIRST, 60.0, POLICY), FIRST, 120.0, POLICY)
    assert given_up.refresh == {} and given_up.cursor == FIRST + 2
    # A number not stored yet needs no refresh: it will be read as it is now.
    ahead = follow.found(follow.starting_at(FIRST), FIRST + 1, FIRST)
    assert ahead.refresh == {}


def test_answers_for_stored_numbers_change_nothing() -> None:
    state = follow.found(follow.starting_at(FIRST), FIRST, None)
    assert follow.found(state, FIRST, None) == state
    assert follow.missed(state, FIRST, 9.0, POLICY) == state


def test_no_number_is_asked_beyond_the_window() -> None:
    policy = Policy(window=3)
    state = follow.head_seen(follow.starting_at(FIRST), FIRST + 100, 0.0)
    for n in range(FIRST, FIRST + 3):
        assert follow.next_step(state, 0.0, policy) == Ask(n)
        state = follow.missed(state, n, 0.0, policy)
    assert follow.next_step(state, 0.0, policy) == Wait(6.0)


@dataclass
class World:
    """A feed: numbers FIRST..FIRST+size-1 exist; some stay 404 until a time, some never come."""

    size: int
    pointer: int
    stale_until: dict[int, float]
    never: frozenset[int]
    asks: list[tuple[int, float, bool]] = field(default_factory=list)
    holes: list[int] = field(default_factory=list)

    def answers(self, number: int, now: float) -> bool:
        last = FIRST + self.size - 1
        return number <= last and number not in self.never and now >= self.stale_until.get(number, 0.0)


@st.composite
def worlds(draw: st.DrawFn) -> World:
    size = draw(st.integers(1, 40))
    numbers = st.integers(FIRST, FIRST + size - 1)
    stale = draw(st.dictionaries(numbers, st.floats(0, 300), max_size=10))
    never = draw(st.frozensets(numbers, max_size=5))
    pointer = draw(st.integers(FIRST - 1, FIRST + size - 1))
    return World(size, pointer, stale, never)


def drive(world: World, policy: Policy = POLICY, until: float = 2000.0) -> FeedState:
    """Run the core against `world` until `until`, checking the cursor's invariant at every step."""
    state, now, stored = follow.starting_at(FIRST), 0.0, set()
    for _ in range(50_000):
        if now >= until:
            break
        match follow.next_step(state, now, policy):
            case Wait(until=at):
                assert at > now
                now = at
            case AskHead():
                state = follow.head_seen(state, world.pointer, now)
            case DeclareHole(number=n):
                world.holes.append(n)
                state = follow.hole_declared(state, n)
            case Ask(number=n):
                ok = world.answers(n, now)
                world.asks.append((n, now, ok))
                stored |= {n} if ok else set()
                state = follow.found(state, n, None) if ok else follow.missed(state, n, now, policy)
        now += 0.01  # every step takes a little time
        assert all(n in stored or n in world.holes for n in range(FIRST, state.cursor)), "cursor passed"
    return state


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_a_404_is_never_asked_again_within_six_seconds(world: World) -> None:
    drive(world)
    last_404: dict[int, float] = {}
    for number, at, ok in world.asks:
        assert number not in last_404 or at - last_404[number] >= POLICY.retry_404_s
        if not ok:
            last_404[number] = at


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_every_number_up_to_the_head_is_asked_and_only_late_ones_become_holes(world: World) -> None:
    state = drive(world)
    asked = {n for n, _, _ in world.asks}
    assert set(range(FIRST, world.pointer + 1)) <= asked
    # A hole is a number that never came, or came only after the hole timeout.
    late = {n for n, at in world.stale_until.items() if at >= POLICY.hole_after_s}
    assert set(world.holes) <= world.never | late
    # Once the head has passed every number that never comes, the cursor passes everything.
    if all(n < world.pointer for n in world.never):
        assert state.cursor == FIRST + world.size


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 20), st.lists(st.floats(0, 0.5), min_size=1, max_size=200))
async def test_paced_requests_never_exceed_the_rate_in_any_second(max_rps: int, gaps: list[float]) -> None:
    """Both rules: this process's own over answer times, and the shared one's slots (MemoryPace)."""
    clock = FakeClock(0.0)
    shared, answered, times = MemoryPace(max_rps, clock), list[float](), list[float]()
    for gap in gaps:
        clock.now = pace.send_at(answered, clock.now + gap, max_rps)
        clock.now += await shared.turn()
        times.append(clock.now)
        answered.append(clock.now)
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + 1.0) <= max_rps
    assert pace.send_at([], 5.0, max_rps) == 5.0


async def test_a_refusal_pauses_for_retry_after_or_a_minute_growing() -> None:
    clock = FakeClock(100.0)
    shared = MemoryPace(10, clock)
    assert await shared.refused(3.0, THROTTLED_FIRST_S) == 3.0 and await shared.turn() == 3.0
    waits = [await shared.refused(None, THROTTLED_FIRST_S) for _ in range(8)]
    assert waits == [120.0, 240.0, 480.0, 960.0, 1920.0, 3600.0, 3600.0, 3600.0]
    await shared.answered()
    assert await shared.refused(None, THROTTLED_FIRST_S) == 60.0


def test_a_cap_below_one_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        MemoryPace(0, FakeClock(0.0))
