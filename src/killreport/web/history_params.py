"""Reading what the history and trend routes ask for (`days`, `at`, `since`, `until`), or a 400 saying why."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Final

from multidict import MultiMapping

from killreport.since import parse_since
from killreport.web.params import Problem, single

TREND_DAYS: Final = 90
# Snapshots are kept forever; ten years of them is 3,650 rows, a few hundred kilobytes of JSON.
MAX_TREND_DAYS: Final = 3650
JOINED_LEFT_DAYS: Final = 30
# A feed over a longer window would be a whole history: the history routes answer that.
MAX_WINDOW: Final = dt.timedelta(days=366)
# EVE's first day: no history starts before it.
EARLIEST: Final = dt.datetime(2003, 5, 6, tzinfo=dt.UTC)
_SHOWN_CHARS: Final = 40
_DAYS: Final = re.compile(r"[0-9]{1,4}")  # never int() of a string thousands of digits long


def parse_days(query: MultiMapping[str]) -> int:
    """`days`: how many days of snapshots, 1 to 3650 (default 90)."""
    text = single(query, "days")
    if text is None:
        return TREND_DAYS
    if not _DAYS.fullmatch(text) or not 1 <= int(text) <= MAX_TREND_DAYS:
        raise Problem(400, f"days must be a whole number from 1 to {MAX_TREND_DAYS}, got {_shown(text)}")
    return int(text)


def _shown(text: str) -> str:
    return repr(text[:_SHOWN_CHARS] + ("…" if len(text) > _SHOWN_CHARS else ""))


def parse_time(query: MultiMapping[str], name: str, now: dt.datetime, default: dt.datetime) -> dt.datetime:
    """A time parameter: ISO 8601 (UTC unless it says otherwise) or an age (`90s`, `15m`, `2h`, `3d`),
    from EVE's first day to now; `default` when absent."""
    text = single(query, name)
    if text is None:
        return default
    try:
        moment = parse_since(text, now)
    except ValueError:
        raise Problem(400, f"{name} must be a time like 2026-11-30T10:00Z or an age like 3d, "
                           f"got {_shown(text)}") from None
    if not EARLIEST <= moment <= now:
        raise Problem(400, f"{name} must be between {EARLIEST:%Y-%m-%d} and now, got {_shown(text)}")
    return moment


@dataclass(frozen=True, slots=True)
class Window:
    """[since, until): the times a joined/left feed covers."""

    since: dt.datetime
    until: dt.datetime


def parse_window(query: MultiMapping[str], now: dt.datetime) -> Window:
    """`since` (default 30 days before `until`) and `until` (default now); since before until, at most
    366 days apart."""
    until = parse_time(query, "until", now, now)
    since = parse_time(query, "since", now, until - dt.timedelta(days=JOINED_LEFT_DAYS))
    if since >= until:
        raise Problem(400, f"since must be before until, got {since:%Y-%m-%dT%H:%M:%SZ} and "
                           f"{until:%Y-%m-%dT%H:%M:%SZ}")
    if until - since > MAX_WINDOW:
        raise Problem(400, f"since and until must be at most {MAX_WINDOW.days} days apart, got "
                           f"{(until - since).days}")
    return Window(since, until)
