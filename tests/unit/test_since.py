"""`changes --since` reads ages and ISO times, and refuses anything else with a usage error."""

from __future__ import annotations

import datetime as dt

import pytest

from killreport.since import parse_since

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("90s", NOW - dt.timedelta(seconds=90)),
    ("15m", NOW - dt.timedelta(minutes=15)),
    ("2h", NOW - dt.timedelta(hours=2)),
    ("3d", NOW - dt.timedelta(days=3)),
    ("2026-11-30", dt.datetime(2026, 11, 30, tzinfo=dt.UTC)),
    ("2026-11-30T10:00Z", dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC)),
    ("2026-11-30T10:00+02:00", dt.datetime(2026, 11, 30, 8, tzinfo=dt.UTC)),
])
def test_ages_and_times(text: str, expected: dt.datetime) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "2h ago", "-5m", "", "12", "99999999999d"])
def test_anything_else_is_a_usage_error(text: str) -> None:
    with pytest.raises(ValueError, match="expected a time"):
        parse_since(text, NOW)
