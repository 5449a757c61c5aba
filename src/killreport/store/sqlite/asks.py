"""What a command asks of the file's runner, as marks in `scheduler_marks` (no table of its own).

Every ESI request on a SQLite file comes from the process holding its runner lock, so a command
that needs the alliance list fetched while a runner holds the file asks the runner (sync/asked.py).
An ask is the instant it was made; the runner copies it into `taken` when it starts on it and into
`answered` or `failed` when done. A mark only ever moves forward, so two commands asking at once
are both answered by the runner's one fetch for the later ask.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

ASKED: Final = "alliance_list_asked"
TAKEN: Final = "alliance_list_taken"
ANSWERED: Final = "alliance_list_answered"
FAILED: Final = "alliance_list_failed"

_SET = text("INSERT INTO scheduler_marks (name, at) VALUES (:name, :at) "
            "ON CONFLICT (name) DO UPDATE SET at = max(at, excluded.at)")
_READ = text("SELECT name, at FROM scheduler_marks WHERE name IN (:asked, :taken, :answered, :failed)")


async def mark(engine: AsyncEngine, name: str, at: float) -> None:
    """Move the mark `name` forward to `at` (never back)."""
    async with engine.begin() as conn:
        await conn.execute(_SET, {"name": name, "at": at})


async def marks(engine: AsyncEngine) -> dict[str, float]:
    """The ask's marks by name (0.0 for one never set)."""
    async with engine.connect() as conn:
        rows = await conn.execute(_READ, {"asked": ASKED, "taken": TAKEN, "answered": ANSWERED,
                                          "failed": FAILED})
        found = {str(r.name): float(r.at) for r in rows}
    return {name: found.get(name, 0.0) for name in (ASKED, TAKEN, ANSWERED, FAILED)}
