"""The back-fill's pure core: which days, which kills of a day still to store, and from where.

A day is a UTC day of `killmail_time`, as R2Z2's day files count them. Its id → hash list is the truth
of what the day holds; kills already stored are left alone (save keeps one row per killmail id
anyway, so a second run only costs the reads); the others take their body from the raw day file when
it has them, else from ESI's killmail route. A raw body that fails CCP's schema is not stored: it is
reported, and the kill asked of ESI instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Final, TypeVar

T = TypeVar("T")
DAY_FORMAT: Final = "%Y%m%d"
MAX_DAYS: Final = 3660  # ten years: a typo such as 1026-01-01 is refused rather than walked


def parse_date(text: str) -> dt.date:
    """A date typed as YYYY-MM-DD, or ValueError saying so."""
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=dt.UTC).date()
    except ValueError:
        raise ValueError(f"{text!r} is not a date written YYYY-MM-DD") from None


def days(first: dt.date, last: dt.date) -> list[str]:
    """Every day from `first` to `last` included, as R2Z2 names them (YYYYMMDD), oldest first."""
    if last < first:
        raise ValueError(f"--to {last.isoformat()} is before --from {first.isoformat()}")
    count = (last - first).days + 1
    if count > MAX_DAYS:
        raise ValueError(f"{count} days asked; at most {MAX_DAYS} at once")
    return [(first + dt.timedelta(days=n)).strftime(DAY_FORMAT) for n in range(count)]


def is_over(day: str, now: dt.datetime) -> bool:
    """Whether the UTC day `day` has ended at `now`: R2Z2 publishes a day's files only then."""
    return day < now.astimezone(dt.UTC).strftime(DAY_FORMAT)


def should_run(finished: bool, redo: bool) -> bool:
    """A day finished by an earlier run is done again only with --redo (its kills are then kept,
    only what is missing is stored)."""
    return redo or not finished


@dataclass(frozen=True, slots=True)
class DayPlan:
    """What a day still needs: kills whose body the raw file gives, and kills to ask ESI for."""

    day: str
    listed: int
    held: int
    from_raw: tuple[tuple[int, str], ...]
    from_esi: tuple[tuple[int, str], ...]


def plan_day(day: str, listed: Mapping[int, str], held: Set[int], raw_ids: Set[int]) -> DayPlan:
    """The day's kills not yet stored, ascending by id: from the raw file where it has them, else ESI."""
    missing = sorted(k for k in listed if k not in held)
    return DayPlan(day=day, listed=len(listed), held=len(listed) - len(missing),
                   from_raw=tuple((k, listed[k]) for k in missing if k in raw_ids),
                   from_esi=tuple((k, listed[k]) for k in missing if k not in raw_ids))


def batches(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """`items` in slices of at most `size`: each is saved in one transaction."""
    if size < 1:
        raise ValueError("a batch holds at least one kill")
    return [items[at:at + size] for at in range(0, len(items), size)]


@dataclass(slots=True)
class DayReport:
    """What the back-fill did with one day, for the progress line and the summary."""

    day: str
    # pending, then: not over, skipped (or skipped incomplete), no list, complete, differs, incomplete,
    # needs esi
    status: str = "pending"
    listed: int = 0
    expected: int | None = None
    held: int = 0
    from_raw: int = 0
    from_esi: int = 0
    raw_rejected: dict[int, str] = field(default_factory=dict)  # raw bodies refused (then asked of ESI)
    failed: dict[int, str] = field(default_factory=dict)  # kills not stored, with the reason
    waiting: int = 0  # kills that need ESI while this process may not ask it

    @property
    def stored(self) -> int:
        """Kills of the day's list stored by the end: held before, plus this run's."""
        return self.held + self.from_raw + self.from_esi


def status_of(report: DayReport) -> str:
    """How a worked day ended: every listed kill stored and totals.json agreeing is complete."""
    if report.waiting:
        return "needs esi"
    if report.failed or report.stored < report.listed:
        return "incomplete"
    if difference(report.listed, report.expected) is not None:
        return "differs"
    return "complete"


def difference(listed: int, expected: int | None) -> str | None:
    """How the day's list disagrees with totals.json, or None (no count there proves nothing)."""
    if expected is None or expected == listed:
        return None
    return f"the day file lists {listed} kills, totals.json says {expected}"
