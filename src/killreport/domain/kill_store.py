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
    """The killmails, the feed's cursor and its holes, kept together."""

    async def load_cursor(self) -> int | None:
        """The next feed number to store, or None before the first save."""
        ...

    async def save(self, packages: Sequence[Package], rejected: Sequence[Rejected], cursor: int) -> None:
        """Keep the packages (one row per killmail id: a known one is updated, never doubled) and the
        rejected ones with their reasons, and set the cursor; all in one transaction."""
        ...

    async def record_hole(self, number: int, cursor: int) -> None:
        """Remember that feed number `number` never came (to fill later), and set the cursor; atomically."""
        ...

    async def refresh_zkb(self, killmail_id: int, zkb: Zkb) -> None:
        """Replace a stored killmail's zkb block with the one its republication carries; a killmail id
        not held (its package was kept aside as rejected) is left alone."""
        ...
