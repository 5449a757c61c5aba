"""domain/history.py: intervals from history records, and the questions over them, held by properties
(Hypothesis) against a naive reading of the records, and by the odd cases ESI can send."""

from __future__ import annotations

import datetime as dt
import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from killreport.domain.history import (
    HistoryError,
    Interval,
    at,
    employment,
    intervals,
    joined,
    left,
    membership,
    start_of,
)
from killreport.domain.models import AllianceHistoryRecord, CorporationHistoryRecord

T0 = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
Entry = tuple[dt.datetime, int, "int | None"]


def when(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


# Few distinct seconds and holders, so that ties, repeats and returns to a holder are common.
entries = st.lists(
    st.tuples(st.integers(0, 40).map(when), st.integers(1, 60), st.one_of(st.none(), st.integers(1, 5))),
    max_size=25)
moments = st.integers(-5, 50).map(when)


def naive_holder(records: list[Entry], moment: dt.datetime) -> tuple[bool, int | None]:
    """(known, holder) at `moment`: the record with the latest (start, record id) not after it."""
    best: dict[int, Entry] = {}
    for record in records:  # the module's pick for a repeated record id
        kept = best.get(record[1])
        key = (record[0], (record[2] is not None, record[2] or 0))
        if kept is None or key < (kept[0], (kept[2] is not None, kept[2] or 0)):
            best[record[1]] = record
    started = [r for r in best.values() if r[0] <= moment]
    if not started:
        return False, None
    return True, max(started, key=lambda r: (r[0], r[1]))[2]


@settings(max_examples=300, deadline=None)
@given(entries)
def test_intervals_cover_from_the_first_record_without_overlap(records: list[Entry]) -> None:
    stays = intervals(records)
    if not records:
        assert stays == []
        return
    assert stays[0].start == min(r[0] for r in records)
    assert stays[-1].end is None
    for one, two in itertools.pairwise(stays):
        assert one.end == two.start  # no gap, no overlap
        assert one.start < one.end  # no empty stay
        assert one.holder != two.holder  # one stay per holder in a row


@settings(max_examples=300, deadline=None)
@given(entries, st.lists(moments, max_size=10))
def test_point_in_time_agrees_with_a_naive_scan(records: list[Entry], probes: list[dt.datetime]) -> None:
    stays = intervals(records)
    for moment in probes:
        found = at(stays, moment)
        known, holder = naive_holder(records, moment)
        assert (found is not None) == known
        if found is not None:
            assert found.holder == holder and found.holds(moment)


@settings(max_examples=200, deadline=None)
@given(entries, st.randoms(use_true_random=False))
def test_order_and_repeats_do_not_matter(records: list[Entry], rng: random.Random) -> None:
    shuffled = records + records[: len(records) // 2]
    rng.shuffle(shuffled)
    assert intervals(shuffled) == intervals(records)


@settings(max_examples=200, deadline=None)
@given(entries, moments, moments)
def test_joined_and_left_agree_with_the_holder_changing(records: list[Entry], one: dt.datetime,
                                                        two: dt.datetime) -> None:
    since, until = min(one, two), max(one, two)
    stays = intervals(records)
    # A holder change at a moment in the window is one stay ending and the next beginning there.
    changes = [s.start for s in stays[1:] if since <= s.start < until]
    assert [s.end for s in left(stays, since, until)] == changes
    began = [s.start for s in joined(stays, since, until)]
    assert began == ([stays[0].start] if stays and since <= stays[0].start < until else []) + changes
    for s in joined(stays, since, until):  # the holder changed there, as a naive scan sees it
        assert naive_holder(records, s.start) == (True, s.holder)
        assert naive_holder(records, s.start - dt.timedelta(microseconds=1))[1] != s.holder or s is stays[0]


def test_employment_from_esi_records_newest_first() -> None:
    rows = [CorporationHistoryRecord(record_id=30, start_date="2021-05-01T00:00:00Z",
                                     corporation_id=98000002),
            CorporationHistoryRecord(record_id=12, start_date="2019-01-01T10:00:00Z", corporation_id=98000001,
                                     is_deleted=True),
            CorporationHistoryRecord(record_id=3, start_date="2018-06-01T00:00:00Z", corporation_id=1000006)]
    stays = employment(rows)
    assert [(s.holder, s.start.year, s.end and s.end.year, s.record_id) for s in stays] == [
        (1000006, 2018, 2019, 3), (98000001, 2019, 2021, 12), (98000002, 2021, None, 30)]
    assert at(stays, dt.datetime(2020, 1, 1, tzinfo=dt.UTC)) == stays[1]
    assert at(stays, dt.datetime(2017, 1, 1, tzinfo=dt.UTC)) is None  # before the first record: unknown


def test_membership_periods_outside_any_alliance_and_ties() -> None:
    rows = [AllianceHistoryRecord(record_id=5, start_date="2020-01-01T00:00:00Z"),
            # Founded and in an alliance the same second: the higher record id wins, no empty stay.
            AllianceHistoryRecord(record_id=6, start_date="2020-01-01T00:00:00Z", alliance_id=99000001),
            AllianceHistoryRecord(record_id=9, start_date="2021-01-01T00:00:00+02:00"),
            AllianceHistoryRecord(record_id=8, start_date="2022-03-01T00:00:00Z", alliance_id=99000002,
                                  is_deleted=True)]
    stays = membership(rows)
    assert [(s.holder, s.record_id) for s in stays] == [(99000001, 6), (None, 9), (99000002, 8)]
    assert stays[1].start == dt.datetime(2020, 12, 31, 22, tzinfo=dt.UTC)  # offsets read, kept in UTC
    found = at(stays, stays[1].start)
    assert found == stays[1] and found.holder is None


def test_the_same_holder_twice_in_a_row_is_one_stay() -> None:
    stays = intervals([(when(0), 1, 7), (when(10), 2, 7), (when(20), 3, 8)])
    assert stays == [Interval(7, when(0), when(20), 1), Interval(8, when(20), None, 3)]


def test_a_repeated_record_id_keeps_one_reading_whatever_the_order() -> None:
    one = [(when(5), 1, 7), (when(3), 1, 8), (when(9), 2, 9)]
    assert intervals(one) == intervals(list(reversed(one))) == [
        Interval(8, when(3), when(9), 1), Interval(9, when(9), None, 2)]


def test_a_start_date_that_is_no_date_is_a_clear_error() -> None:
    # The models check the shape; a month 13 has it, and must not become a wrong interval.
    bad = CorporationHistoryRecord(record_id=77, start_date="2020-13-01T00:00:00Z", corporation_id=1)
    good = CorporationHistoryRecord(record_id=78, start_date="2020-12-01T00:00:00Z", corporation_id=2)
    with pytest.raises(HistoryError, match="record 77"):
        employment([good, bad])
    assert start_of("2020-12-01T00:00:00", 1) == dt.datetime(2020, 12, 1, tzinfo=dt.UTC)  # no offset: UTC


def test_no_records_no_stays() -> None:
    assert employment([]) == membership([]) == []
    assert at([], T0) is None and joined([], T0, when(9)) == [] and left([], T0, when(9)) == []
