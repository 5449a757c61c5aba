"""Many alliances, corporations and characters in a migrated database, for the search plans' tests.

A planner chooses by the table's size and statistics: with a handful of rows it reads a table
whole whatever the indexes. These stand in for a big copy: names made of syllables (so that
trigrams repeat as in real names, and some are common), tickers of letters, inserted as plain rows
many at a time (the plans read columns, not how they were written), then ANALYZEd.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any, Final

from sqlalchemy import Table, insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.store import tables as t

ALLIANCES: Final = 3_000
CORPORATIONS: Final = 15_000
CHARACTERS: Final = 40_000
FIRST: Final = {"alliance": 99_000_001, "corporation": 98_000_001, "character": 90_000_001}
_SYLLABLES: Final = ("ka", "ro", "mi", "zen", "tor", "vex", "ul", "an", "dra", "qi", "sol", "ne", "gar",
                     "is", "bo", "lek", "th", "ya", "cor", "pha")
_T0: Final = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_CACHE: Final = {"fetched_at": _T0, "expires_at": _T0, "etag": None, "last_modified": None,
                 "checked_at": None}


def name(rng: random.Random) -> str:
    """A name of two or three words of syllables, capitalized."""
    words = [("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3)))).capitalize()
             for _ in range(rng.randint(2, 3))]
    return " ".join(words)


def ticker(rng: random.Random) -> str:
    """Three to five capital letters."""
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.randint(3, 5)))


def rows(kind: str, count: int, *, seed: int) -> list[dict[str, Any]]:
    """`count` rows of the kind's table, every column it requires, names and tickers from `seed`."""
    return list(_rows(kind, count, random.Random(seed)))


def _rows(kind: str, count: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    for n in range(count):
        row: dict[str, Any] = {"id": FIRST[kind] + n, "name": name(rng), **_CACHE}
        if kind == "alliance":
            row |= {"ticker": ticker(rng), "creator_id": 1, "creator_corporation_id": 1, "date_founded": _T0}
        elif kind == "corporation":
            row |= {"ticker": ticker(rng), "member_count": 1, "description": "", "friendly_fire": "legal",
                    "home_station_id": 1, "shares": 0, "state": "active", "type": "player_owned",
                    "tax_rate_isk": 0.1, "tax_rate_loyalty_point": 0.0, "war_eligible": True}
        else:
            row |= {"birthday": _T0, "bloodline_id": 1, "race_id": 1, "corporation_id": 1,
                    "gender": "female", "achievement_score": 0}
        yield row


async def fill(conn: AsyncConnection) -> None:
    """The rows, 5,000 to an insert, then ANALYZE."""
    tables: list[tuple[str, Table, int]] = [("alliance", t.alliances, ALLIANCES),
                                            ("corporation", t.corporations, CORPORATIONS),
                                            ("character", t.characters, CHARACTERS)]
    for seed, (kind, table, count) in enumerate(tables):
        made = rows(kind, count, seed=seed)
        for start in range(0, len(made), 5_000):
            await conn.execute(insert(table), made[start:start + 5_000])
    await conn.execute(text("ANALYZE"))
