"""The days a follower's gap may hold kills of: from the last upload's day, less the three days kills
are posted late, to today (killfeed/gap.py)."""

from __future__ import annotations

import datetime as dt

from killreport.killfeed.gap import LATE_DAYS, gap_days


def test_a_gap_wants_the_days_since_the_last_upload_and_the_late_ones_before() -> None:
    last = dt.datetime(2026, 12, 5, 23, 30, tzinfo=dt.UTC)
    assert gap_days(last, dt.date(2026, 12, 7)) == ["20261202", "20261203", "20261204", "20261205",
                                                   "20261206", "20261207"]
    assert LATE_DAYS == 3


def test_an_upload_in_another_zone_counts_by_its_utc_day() -> None:
    last = dt.datetime(2026, 12, 6, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=5)))  # 5 Dec, 20:00 UTC
    assert gap_days(last, dt.date(2026, 12, 5))[-1] == "20261205"
    assert gap_days(last, dt.date(2026, 12, 5))[0] == "20261202"


def test_a_clock_behind_the_last_upload_wants_up_to_today_only() -> None:
    assert gap_days(dt.datetime(2026, 12, 9, tzinfo=dt.UTC), dt.date(2026, 12, 7)) == ["20261206", "20261207"]
