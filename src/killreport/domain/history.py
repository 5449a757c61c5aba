"""Who was where, and when: the intervals a history route's records describe, and questions over them.

A character's corporation history gives its employment intervals (corporation, start, end or None while
current); a corporation's alliance history gives its membership intervals (alliance, or None for a
period outside any, start, end). Pure and total over what ESI may send:

- records in any order, and the same record twice, give the same intervals (a record id seen twice with
  different contents keeps the reading with the earlier start date, then the lower holder, whatever the
  order they came in);
- records are ordered by start date, then by record id (ESI's tie-breaker for equal start dates);
- a stay that ends the moment it starts (a tie the later record id wins) is no stay, and consecutive
  records naming the same holder are one stay, begun by the first of them;
- a start date that is no date raises HistoryError naming the record; nothing is half-built.

The intervals cover everything from the first record's start on, without gaps or overlaps, and the last
one is open (end None). Before the first record nothing is known: `at` says None, not "outside any".
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from killreport.domain.models import AllianceHistoryRecord, CorporationHistoryRecord


class HistoryError(ValueError):
    """A history record that cannot be read (its start date is no date)."""


@dataclass(frozen=True, slots=True)
class Interval:
    """A stay in `holder` (a corporation or an alliance; None: outside any alliance) from `start` until
    `end` (None: still there); `record_id` is the record that began it."""

    holder: int | None
    start: dt.datetime
    end: dt.datetime | None
    record_id: int

    def holds(self, when: dt.datetime) -> bool:
        """Whether `when` falls in this stay (its start included, its end not)."""
        return self.start <= when and (self.end is None or when < self.end)


# (start, record id, holder): one record, read.
_Entry = tuple[dt.datetime, int, int | None]


def start_of(text: str, record_id: int) -> dt.datetime:
    """A record's start date as an aware UTC datetime (a date without offset is taken as UTC)."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise HistoryError(f"history record {record_id}: start_date {text[:40]!r} is not a date") from None
    return (when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def employment(records: Iterable[CorporationHistoryRecord]) -> list[Interval]:
    """A character's employment intervals from its corporation history, oldest first."""
    return intervals((start_of(r.start_date, r.record_id), r.record_id, r.corporation_id) for r in records)


def membership(records: Iterable[AllianceHistoryRecord]) -> list[Interval]:
    """A corporation's alliance membership intervals (None: outside any) from its alliance history."""
    return intervals((start_of(r.start_date, r.record_id), r.record_id, r.alliance_id) for r in records)


def _holder_key(holder: int | None) -> tuple[bool, int]:
    return (holder is not None, holder or 0)


def _read(entries: Iterable[_Entry]) -> list[_Entry]:
    """One entry per record id (for a repeated one, the module's pick), by start date then record id."""
    by_id: dict[int, _Entry] = {}
    for entry in entries:
        kept = by_id.get(entry[1])
        if kept is None or (entry[0], _holder_key(entry[2])) < (kept[0], _holder_key(kept[2])):
            by_id[entry[1]] = entry
    return sorted(by_id.values(), key=lambda e: (e[0], e[1]))


def intervals(entries: Iterable[_Entry]) -> list[Interval]:
    """The intervals of (start, record id, holder) records, in any order: see the module's rules."""
    ordered = _read(entries)
    out: list[Interval] = []
    for n, (start, record_id, holder) in enumerate(ordered):
        end = ordered[n + 1][0] if n + 1 < len(ordered) else None
        if end is not None and end <= start:
            continue  # over the moment it began: a tie another record won
        if out and out[-1].holder == holder:
            out[-1] = Interval(holder, out[-1].start, end, out[-1].record_id)
        else:
            out.append(Interval(holder, start, end, record_id))
    return out


def at(stays: Sequence[Interval], when: dt.datetime) -> Interval | None:
    """The stay `when` falls in, or None before the first (nothing is known then)."""
    n = bisect.bisect_right([s.start for s in stays], when)
    if n == 0:
        return None
    found = stays[n - 1]
    return found if found.holds(when) else None


def joined(stays: Iterable[Interval], since: dt.datetime, until: dt.datetime) -> list[Interval]:
    """The stays that began in [since, until), oldest first."""
    return [s for s in stays if since <= s.start < until]


def left(stays: Iterable[Interval], since: dt.datetime, until: dt.datetime) -> list[Interval]:
    """The stays that ended in [since, until), oldest first."""
    return [s for s in stays if s.end is not None and since <= s.end < until]
