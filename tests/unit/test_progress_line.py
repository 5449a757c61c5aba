"""`sync-all --wait`'s progress line says what the shared ESI budget allows: a slow sync explains itself."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from killreport.cli.render import progress_line
from killreport.domain.budget import BudgetSnapshot
from killreport.sync.orchestrate import Progress

AT = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
FRESH = BudgetSnapshot(error_limit_remaining=None, error_limit_reset_at=None, paused_until=None,
                       pause_reason=None, in_flight=3)
LIMIT = "error limit (420)"
PENDING = {"character": {"pending": 7, "in_flight": 2, "retrying": 0}}


def _line(budget: BudgetSnapshot | None) -> str:
    return progress_line(Progress(pending=PENDING, stored={"characters": 3}, elapsed_s=12.5,
                                  queues_ready=5, consumers=1, budget=budget, at=AT))


def _in(seconds: float) -> dt.datetime:
    return AT + dt.timedelta(seconds=seconds)


def test_the_work_and_nothing_of_the_budget_when_it_is_unknown() -> None:
    assert _line(None) == "[  12.5s] pending: character 7 | stored: characters 3 | queued 5, consumers 1"


def test_in_flight_before_esi_reported_its_error_limit() -> None:
    assert _line(FRESH).endswith("consumers 1 | in flight 3")


def test_the_error_limit_left_and_when_its_window_ends() -> None:
    line = _line(replace(FRESH, error_limit_remaining=14, error_limit_reset_at=_in(23.4)))
    assert line.endswith(" | in flight 3, ESI errors left 14, window ends in 23 s")


def test_a_window_already_over_counts_down_to_zero_not_below() -> None:
    line = _line(replace(FRESH, error_limit_remaining=60, error_limit_reset_at=_in(-5)))
    assert line.endswith("ESI errors left 60, window ends in 0 s")


def test_a_pause_in_force_with_its_reason() -> None:
    line = _line(replace(FRESH, error_limit_remaining=0, paused_until=_in(41), pause_reason=LIMIT))
    assert line.endswith(" | ESI paused 41 s (error limit (420))")


def test_a_pause_that_has_ended_is_not_shown() -> None:
    line = _line(replace(FRESH, error_limit_remaining=90, paused_until=_in(-1), pause_reason=LIMIT))
    assert "paused" not in line and line.endswith("ESI errors left 90")


def test_esi_down() -> None:
    line = _line(replace(FRESH, downtime=True, pause_reason="downtime"))
    assert line.endswith(" | ESI down: only /status until it is back")
