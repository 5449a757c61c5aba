"""An in-memory KillmailStore for the follower's tests: what was saved, how often, holes and refreshes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from killreport.domain.killmail import Package, Rejected, Zkb


class MemoryKillmailStore:
    """Keeps everything in dicts and lists; refuses a cursor that moves back (the follower never should)."""

    def __init__(self, cursor: int | None = None) -> None:
        self.cursor = cursor
        self.killmails: dict[int, Package] = {}
        self.zkb: dict[int, Zkb] = {}
        self.saves: Counter[int] = Counter()  # killmail id -> packages handed over for it
        self.rejected: list[Rejected] = []
        self.recorded: list[int] = []  # holes, in the order they were recorded
        self.filled: list[int] = []
        self.refreshed: list[int] = []
        self.heads: list[int] = []
        self.errors: list[str | None] = []

    async def load_cursor(self) -> int | None:
        return self.cursor

    async def save(self, packages: Sequence[Package], rejected: Sequence[Rejected],
                   cursor: int | None) -> None:
        if cursor is not None:
            self._move(cursor)
        for package in packages:
            self.saves[package.killmail_id] += 1
            self.killmails[package.killmail_id] = package
            self.zkb[package.killmail_id] = package.zkb
        self.rejected.extend(rejected)

    async def record_hole(self, number: int, cursor: int) -> None:
        self._move(cursor)
        self.recorded.append(number)

    async def holes(self, limit: int) -> list[int]:
        return sorted(n for n in self.recorded if n not in self.filled)[:limit]

    async def fill_hole(self, number: int) -> None:
        assert number in self.recorded and number not in self.filled, f"{number} is no open hole"
        self.filled.append(number)

    async def refresh_zkb(self, killmail_id: int, zkb: Zkb, sequence_id: int) -> None:
        if killmail_id not in self.killmails:
            return
        self.zkb[killmail_id] = zkb
        self.refreshed.append(killmail_id)

    async def note_head(self, head: int) -> None:
        self.heads.append(head)

    async def note_error(self, error: str | None) -> None:
        self.errors.append(error)

    def _move(self, cursor: int) -> None:
        assert self.cursor is None or cursor >= self.cursor, f"cursor back from {self.cursor} to {cursor}"
        self.cursor = cursor
