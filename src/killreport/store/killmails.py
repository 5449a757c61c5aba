"""KillmailQueries, both stores: the feed's writes (kills, participants, discovery, cursor, holes),
its state, R2Z2's shared pace, the back-fill's days; the reads are store/killmail_reads.py's.

Each statement is written once and given the connection's idioms (store/dialects.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.domain.killmail import Kill, Rejected, Zkb
from killreport.ids import Kind
from killreport.store.killmail_lease import follow_heartbeat, follow_release, follow_unlock, try_follow_lock
from killreport.store.killmail_reads import export, involving, killmail, recent

__all__ = [
    "BackfillDay", "FeedState", "Pace", "backfill_day", "backfill_days", "calm_pace", "export", "feed_state",
    "fill_hole", "follow_heartbeat", "follow_release", "follow_unlock", "held", "holes", "involving",
    "killmail", "load_cursor", "note_error", "note_head", "pace", "pause_pace", "recent", "record_hole",
    "refresh_zkb", "reserve_pace", "save", "try_follow_lock",
]


@dataclass(frozen=True, slots=True)
class FeedState:
    """What `status` shows of the feed: where it is, how far behind, what went wrong, who follows."""

    cursor: int | None
    head: int | None
    head_seen_at: dt.datetime | None
    lag_kills: int | None  # head - cursor, when both are known
    lag_s: float | None  # now - the newest stored feed kill's upload time
    holes: int
    rejected: int
    stored: int
    last_error: str | None
    last_error_at: dt.datetime | None
    holder: str | None
    heartbeat_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Pace:
    """R2Z2's shared pace: requests in the last second, and a pause after a refusal."""

    recent: int
    paused_until: float  # epoch seconds; in the past when not paused
    refusals: int


@dataclass(frozen=True, slots=True)
class BackfillDay:
    """One back-filled UTC day: listed by its day file, stored, totals.json's count, finished when."""

    day: str  # YYYYMMDD
    listed: int
    stored: int
    expected: int | None
    started_at: dt.datetime
    finished_at: dt.datetime | None

    @property
    def complete(self) -> bool:
        """Finished, every listed kill stored, and totals.json agrees (when it has the day)."""
        return (self.finished_at is not None and self.stored >= self.listed
                and (self.expected is None or self.expected == self.listed))


async def load_cursor(conn: AsyncConnection) -> int | None:
    """The next feed number to store, or None before the feed's first save."""
    raise NotImplementedError


async def save(conn: AsyncConnection, kills: Sequence[Kill], rejected: Sequence[Rejected] = (),
               cursor: int | None = None) -> dict[Kind, list[int]]:
    """Keep kills and rejected packages, set the cursor, queue the unknown entities they name."""
    raise NotImplementedError


async def refresh_zkb(conn: AsyncConnection, killmail_id: int, zkb: Zkb, sequence_id: int) -> bool:
    """Replace a stored kill's zkb block with a republication's; False if the kill is not held."""
    raise NotImplementedError


async def record_hole(conn: AsyncConnection, number: int, cursor: int) -> None:
    """Remember a hole and set the cursor."""
    raise NotImplementedError


async def holes(conn: AsyncConnection, limit: int) -> list[int]:
    """Unfilled holes, oldest number first."""
    raise NotImplementedError


async def fill_hole(conn: AsyncConnection, number: int) -> None:
    """A hole's number answered after all."""
    raise NotImplementedError


async def note_head(conn: AsyncConnection, head: int) -> None:
    """The feed's head pointer as last read."""
    raise NotImplementedError


async def note_error(conn: AsyncConnection, error: str | None) -> None:
    """The feed's last error (None: it answers again)."""
    raise NotImplementedError


async def feed_state(conn: AsyncConnection) -> FeedState:
    """The feed as `status` shows it."""
    raise NotImplementedError


async def reserve_pace(conn: AsyncConnection, max_rps: int) -> float:
    """Take R2Z2's next request slot; seconds to wait first."""
    raise NotImplementedError


async def pause_pace(conn: AsyncConnection, retry_after_s: float | None, first_s: float) -> float:
    """Every process pauses after a refusal; returns the pause's length."""
    raise NotImplementedError


async def calm_pace(conn: AsyncConnection) -> None:
    """The next pause starts small again."""
    raise NotImplementedError


async def pace(conn: AsyncConnection) -> Pace:
    """R2Z2's shared pace now."""
    raise NotImplementedError


async def held(conn: AsyncConnection, ids: Iterable[int]) -> set[int]:
    """Which of these killmail ids are stored."""
    raise NotImplementedError


async def backfill_day(conn: AsyncConnection, day: str, *, listed: int | None = None,
                       expected: int | None = None, finished: bool = False) -> BackfillDay:
    """Record a back-fill day's progress; return the row."""
    raise NotImplementedError


async def backfill_days(conn: AsyncConnection) -> list[BackfillDay]:
    """Every back-filled day, newest first."""
    raise NotImplementedError
