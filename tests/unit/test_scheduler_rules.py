"""The scheduler's pure decisions: spreading due work, the sweep's rhythm, moves, the list's delta."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from killreport.changes import Change
from killreport.domain.schedule import Affiliated, Move, Rhythm, StoredAlliance
from killreport.scheduler.rules import (
    closing_changes,
    list_delta,
    move_changes,
    moves,
    pointed_to,
    release_count,
    steady_period,
    sweep_due,
)

T0 = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)


@given(backlog=st.integers(0, 10**6), tracked=st.integers(0, 10**6), period=st.floats(1, 10**6),
       elapsed=st.floats(0, 100), spread=st.floats(0.01, 1))
def test_release_is_within_the_backlog_and_at_most_the_capped_rate_plus_one(
        backlog: int, tracked: int, period: float, elapsed: float, spread: float) -> None:
    n = release_count(backlog, tracked, period, elapsed, spread)
    assert 0 <= n <= backlog
    if backlog:
        assert n >= 1, "anything due is released, however small the rate"
        assert n <= max(1, math.ceil(tracked / (spread * period) * elapsed))


def test_a_small_backlog_goes_out_whole() -> None:
    # 18,000 corporations over an hour: 20 a second may go out; 7 due now all go.
    assert release_count(7, 18_000, 3600, 1.0, 0.25) == 7
    assert release_count(0, 18_000, 3600, 1.0, 0.25) == 0


def test_the_numbers_of_the_default_universe() -> None:
    assert release_count(10**6, 3_550, 3600, 1.0, 0.25) == 4     # alliances: 3.9 a second
    assert release_count(10**6, 17_800, 3600, 1.0, 0.25) == 20   # corporations: 19.8 a second
    assert release_count(10**6, 31_000, 86400, 1.0, 0.25) == 2   # characters: 1.4 a second
    assert release_count(10**6, 17_800, 3600, 2.5, 0.25) == 50   # a late tick releases its share


def test_one_age_is_the_period_and_corporations_spread_over_what_their_tiers_make() -> None:
    assert steady_period(31_000, 31_000, Rhythm(86400.0)) == 86400.0
    # 18,000 active of 1,000,000 corporations: 5 + 1.62 a second fall due, so a backlog of all of
    # them is spread as if each came back every 151,000 s (not every hour: 278 a second).
    period = steady_period(1_000_000, 18_000, Rhythm(3600.0, 604_800.0, 604_800.0))
    assert period == pytest.approx(1_000_000 / (18_000 / 3600 + 982_000 / 604_800))
    assert release_count(10**6, 1_000_000, period, 1.0, 0.25) == 27
    assert steady_period(10, 50, Rhythm(3600.0, 7200.0)) == 3600.0, "never more active than tracked"
    assert steady_period(0, 0, Rhythm(3600.0, 7200.0)) == 3600.0, "nothing tracked: the kind's age"


@dataclass
class Wave:
    """Entities that all fell due at once, released tick by tick."""

    released_per_tick: list[int]
    order: list[int]


def _drain(due: list[int], tracked: int, period_s: float, spread: float, tick_s: float) -> Wave:
    waiting, per_tick, order = list(due), [], []
    while waiting:
        n = release_count(len(waiting), tracked, period_s, tick_s, spread)
        per_tick.append(n)
        order += waiting[:n]
        waiting = waiting[n:]
    return Wave(per_tick, order)


def test_everything_due_at_once_drains_within_the_spread_never_as_one_burst() -> None:
    tracked, period, spread = 18_000, 3600.0, 0.25
    wave = _drain(list(range(tracked)), tracked, period, spread, tick_s=1.0)
    assert len(wave.released_per_tick) <= spread * period + 1, "drains within a quarter of the period"
    assert max(wave.released_per_tick) <= math.ceil(tracked / (spread * period)), "never a burst"
    assert wave.order == list(range(tracked)), "oldest first, each once"


def test_steady_state_keeps_up_with_what_falls_due() -> None:
    # Spread evenly, tracked / period fall due a second; the release rate (4 times that) keeps up.
    tracked, period = 3_550, 3600.0
    arriving = tracked / period
    backlog = 0.0
    for _ in range(3600):
        backlog += arriving
        backlog -= release_count(math.floor(backlog), tracked, period, 1.0, 0.25)
    assert backlog < 2


def test_a_sweep_waits_a_period_and_for_the_last_answers_expires() -> None:
    hour = dt.timedelta(hours=1)
    assert sweep_due(T0, None, None, 3600)
    assert not sweep_due(T0, T0 - hour / 2, None, 3600)
    assert sweep_due(T0, T0 - hour, None, 3600)
    assert not sweep_due(T0, T0 - 2 * hour, T0 + dt.timedelta(seconds=1), 3600), "Expires wins"
    assert not sweep_due(T0, None, T0 + dt.timedelta(seconds=1), 60)
    assert sweep_due(T0, T0 - dt.timedelta(seconds=60), T0, 60)


@dataclass(frozen=True)
class Answer:
    character_id: int
    corporation_id: int
    alliance_id: int | None = None


def test_moves_are_the_stored_characters_whose_answer_differs() -> None:
    stored = {90000001: Affiliated(98000001, 99000001), 90000002: Affiliated(98000002, None),
              90000003: Affiliated(98000003, 99000003)}
    answers = [Answer(90000003, 98000003, None), Answer(90000001, 98000001, 99000001),
               Answer(90000002, 98000009, 99000009), Answer(90000099, 98000001, None)]
    found = moves(stored, answers)
    assert found == [Move(90000002, Affiliated(98000002, None), Affiliated(98000009, 99000009)),
                     Move(90000003, Affiliated(98000003, 99000003), Affiliated(98000003, None))]
    assert move_changes(found) == [
        Change("character", 90000002, "corporation_id", 98000002, 98000009),
        Change("character", 90000002, "alliance_id", None, 99000009),
        Change("character", 90000003, "alliance_id", 99000003, None),
    ]


def test_moves_point_only_at_player_corporations_and_alliances() -> None:
    to_npc = Move(90000001, Affiliated(98000001, 99000001), Affiliated(1000167, None))
    to_player = Move(90000002, Affiliated(98000002, None), Affiliated(98000009, 99000009))
    assert pointed_to([to_npc, to_player]) == (frozenset({98000009}), frozenset({99000009}))


def test_the_alliance_list_delta() -> None:
    old = T0 - dt.timedelta(days=30)
    stored = {1: StoredAlliance(False, old), 2: StoredAlliance(False, old), 3: StoredAlliance(True, old),
              4: StoredAlliance(True, old), 5: StoredAlliance(False, T0 + dt.timedelta(minutes=5))}
    delta = list_delta([1, 3, 6, 7], stored, T0)
    assert delta.new == [6, 7]
    assert delta.left == [2], "5 was founded after the list last changed: it cannot be in it yet"
    assert delta.returned == [3]
    assert list_delta([1, 3, 6, 7], stored, None).left == [2, 5]
    assert closing_changes([2], [3]) == [Change("alliance", 2, "closed", False, True),
                                         Change("alliance", 3, "closed", True, False)]
