"""What the R2Z2 follower needs of the store: the KillmailStore protocol.

The store implements it without importing the follower (domain is below both). Every write carries
the new cursor so that a crash between two writes can never leave the cursor past a number that was
not saved; asking again after a crash is harmless, as `save` keeps one row per killmail id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from killreport.domain.killmail import Package, Rejected, Zkb


class KillmailStore(Protocol):
    """The killmails, the feed's cursor, its holes and what `status` shows of it, kept together."""

    async def load_cursor(self) -> int | None:
        """The next feed number to store, or None before the first save."""
        ...

    async def save(self, packages: Sequence[Package], rejected: Sequence[Rejected],
                   cursor: int | None) -> None:
        """Keep the packages (one row per killmail id: a known one is updated, never doubled) and the
        rejected ones with their reasons, and set the cursor if given; all in one transaction."""
        ...

    async def record_hole(self, number: int, cursor: int) -> None:
        """Remember that feed number `number` never came (to fill later), and set the cursor; atomically."""
        ...

    async def holes(self, limit: int) -> list[int]:
        """Recorded holes not filled yet, oldest number first."""
        ...

    async def fill_hole(self, number: int) -> None:
        """A hole's number answered after all (what it held was saved first)."""
        ...

    async def refresh_zkb(self, killmail_id: int, zkb: Zkb, sequence_id: int) -> None:
        """Replace a stored killmail's zkb block with the one its republication (file `sequence_id`)
        carries; a killmail id not held (its package was kept aside as rejected) is left alone."""
        ...

    async def note_head(self, head: int) -> None:
        """The head pointer as last read (for the lag `status` shows)."""
        ...

    async def note_error(self, error: str | None) -> None:
        """The feed's last error; None once it answers again."""
        ...


class FeedPace(Protocol):
    """R2Z2's request cap and pauses, shared by every process that asks the feed (the follower and a
    back-fill alike): the database keeps them (store.killmails' pace), a test may keep them in memory."""

    async def turn(self) -> float:
        """Take the next request slot: the seconds to wait before sending it (0: now)."""
        ...

    async def refused(self, retry_after_s: float | None, first_s: float) -> float:
        """The feed refused (429, 403) or failed: every process pauses; returns the pause in seconds."""
        ...

    async def answered(self) -> None:
        """An answer that was not a refusal: the next pause starts small again."""
        ...
