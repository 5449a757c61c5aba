"""The back-fill's pure core: dates typed and walked, days over or not, what a day still needs and
from where, batches, and how a worked day ends."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from killreport.backfill.plan import (
    MAX_DAYS,
    DayReport,
    batches,
    days,
    difference,
    is_over,
    parse_date,
    plan_day,
    should_run,
    status_of,
)


def test_dates_are_typed_as_iso_days() -> None:
    assert parse_date("2026-12-06") == dt.date(2026, 12, 6)
    for bad in ("20261206", "2026-13-01", "2026-02-30", "", "2026-12-06T00:00", "yesterday"):
        with pytest.raises(ValueError, match="YYYY-MM-DD"):
            parse_date(bad)


def test_days_are_walked_oldest_first_across_months_and_years() -> None:
    assert days(dt.date(2026, 12, 30), dt.date(2027, 1, 2)) == [
        "20261230", "20261231", "20270101", "20270102"]
    assert days(dt.date(2024, 2, 28), dt.date(2024, 3, 1)) == ["20240228", "20240229", "20240301"]
    assert days(dt.date(2026, 12, 6), dt.date(2026, 12, 6)) == ["20261206"]


def test_a_backwards_or_huge_range_is_refused() -> None:
    with pytest.raises(ValueError, match="before"):
        days(dt.date(2026, 12, 6), dt.date(2026, 12, 5))
    with pytest.raises(ValueError, match="at most"):
        days(dt.date(2000, 1, 1), dt.date(2000, 1, 1) + dt.timedelta(days=MAX_DAYS))


def test_a_day_is_over_once_the_next_utc_day_began() -> None:
    noon = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)
    assert is_over("20261206", noon) and not is_over("20261207", noon) and not is_over("20261208", noon)
    # 01:00 on the 8th in Tokyo is 16:00 UTC on the 7th: the UTC day counts
    late_in_tokyo = dt.datetime(2026, 12, 8, 1, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    assert not is_over("20261207", late_in_tokyo)
    assert is_over("20261207", dt.datetime(2026, 12, 8, 0, 0, tzinfo=dt.UTC))


def test_a_finished_day_runs_again_only_with_redo() -> None:
    assert should_run(False, False) and should_run(True, True) and not should_run(True, False)


def test_a_day_needs_its_unheld_kills_from_the_raw_file_where_it_has_them_else_esi() -> None:
    listed = {5: "e" * 40, 1: "a" * 40, 3: "c" * 40, 4: "d" * 40}
    plan = plan_day("20261206", listed, held={3, 99}, raw_ids={1, 3, 5, 77})
    assert plan.listed == 4 and plan.held == 1
    assert plan.from_raw == ((1, "a" * 40), (5, "e" * 40)) and plan.from_esi == ((4, "d" * 40),)


@given(st.dictionaries(st.integers(1, 10**6), st.just("f" * 40), max_size=60),
       st.sets(st.integers(1, 10**6)), st.sets(st.integers(1, 10**6)))
def test_every_listed_kill_is_held_or_planned_once(listed: dict[int, str], held: set[int],
                                                   raw: set[int]) -> None:
    plan = plan_day("20261206", listed, held, raw)
    planned = [k for k, _ in plan.from_raw + plan.from_esi]
    assert sorted(planned + [k for k in listed if k in held]) == sorted(listed)
    assert len(set(planned)) == len(planned) and plan.held + len(planned) == plan.listed
    assert all(k in raw for k, _ in plan.from_raw) and not any(k in raw for k, _ in plan.from_esi)


def test_batches_cover_everything_in_order() -> None:
    assert batches(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert batches([], 3) == []
    with pytest.raises(ValueError):
        batches([1], 0)


def test_how_a_worked_day_ends() -> None:
    done = DayReport("20261206", listed=4, expected=4, held=1, from_raw=2, from_esi=1)
    assert done.stored == 4 and status_of(done) == "complete"
    assert status_of(DayReport("d", listed=4, expected=None, held=4)) == "complete"  # totals lacks the day
    assert status_of(DayReport("d", listed=4, expected=5, held=4)) == "differs"
    assert status_of(DayReport("d", listed=4, held=3, failed={9: "422"})) == "incomplete"
    assert status_of(DayReport("d", listed=4, held=1, waiting=3)) == "needs esi"
    assert difference(4, 5) == "the day file lists 4 kills, totals.json says 5"
    assert difference(4, 4) is None and difference(4, None) is None
