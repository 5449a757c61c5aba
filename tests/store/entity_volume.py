"""A busy copy in a migrated database, inserted as plain rows, for the entity reads' plan tests.

A planner chooses by a table's size and statistics: a handful of rows would be read whole whatever
the indexes. These rows stand in for a copy in use: tens of thousands of characters in thousands of
corporations in hundreds of alliances, some deleted, their histories as intervals, daily snapshots,
a change log, a pending set mostly published and claimed, and some failures. Rows go in directly,
many at a time: the plans read columns, not how they were written.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any, Final

from sqlalchemy import Table, insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.store import tables as t

ALLIANCES: Final = range(99_000_001, 99_000_301)
CORPORATIONS: Final = range(98_000_001, 98_003_001)
CHARACTERS: Final = range(90_000_001, 90_040_001)
DELETED: Final = CHARACTERS[::37]  # about one in 37 characters is deleted
CHANGES: Final = 40_000
DAYS: Final = 20  # days of snapshots, the last of them today
NOW: Final = dt.datetime.now(dt.UTC).replace(microsecond=0)
FOUNDED: Final = dt.datetime(2010, 5, 1, tzinfo=dt.UTC)
_BATCH: Final = 5_000


def _at(seconds: float) -> dt.datetime:
    return NOW + dt.timedelta(seconds=seconds)


def alliance_of(corporation_id: int) -> int | None:
    """The alliance a corporation is in (two in three are in one)."""
    return ALLIANCES[corporation_id % len(ALLIANCES)] if corporation_id % 3 else None


def corporation_of(character_id: int) -> int:
    """The corporation a character is in."""
    return CORPORATIONS[(character_id * 7919) % len(CORPORATIONS)]


def _cache(rng: random.Random, prefix: str = "") -> dict[str, Any]:
    fetched = -rng.randint(60, 40 * 86_400)
    return {f"{prefix}fetched_at": _at(fetched),
            f"{prefix}expires_at": _at(fetched + rng.choice([3600, 86_400])),
            f"{prefix}checked_at": _at(fetched), f"{prefix}etag": None, f"{prefix}last_modified": None}


def _alliances(rng: random.Random) -> Iterator[dict[str, Any]]:
    for i in ALLIANCES:
        yield {"id": i, "name": f"Alliance {i}", "ticker": f"A{i % 100_000}", "creator_id": CHARACTERS[0],
               "creator_corporation_id": CORPORATIONS[0], "date_founded": FOUNDED,
               "executor_corporation_id": None, "faction_id": None, **_cache(rng), **_cache(rng, "members_"),
               "closed_at": _at(-86_400) if i % 50 == 0 else None}


def _corporations(rng: random.Random) -> Iterator[dict[str, Any]]:
    for i in CORPORATIONS:
        yield {"id": i, "name": f"Corporation {i}", "ticker": f"C{i % 100_000}",
               "member_count": rng.randint(1, 900),
               "alliance_id": alliance_of(i), "ceo_id": None, "creator_id": None, "date_founded": FOUNDED,
               "description": "", "enlisted_faction_id": None, "friendly_fire": "legal",
               "home_station_id": 60_000_001, "shares": 0, "state": "closed" if i % 40 == 0 else "active",
               "type": "player_owned", "tax_rate_isk": 0.1, "tax_rate_loyalty_point": 0.0, "url": None,
               "war_eligible": True, "palette_main_color": None, "palette_secondary_color": None,
               "palette_tertiary_color": None, **_cache(rng), **_cache(rng, "history_"),
               "history_wanted": rng.random() < 0.01}


def _characters(rng: random.Random) -> Iterator[dict[str, Any]]:
    for i in CHARACTERS:
        corporation = corporation_of(i)
        yield {"id": i, "name": f"Pilot {i}", "birthday": FOUNDED, "bloodline_id": 1, "race_id": 1,
               "corporation_id": corporation, "gender": "male", "achievement_score": 0,
               "alliance_id": alliance_of(corporation), "faction_id": None, "description": None,
               "security_status": 0.0, "corporation_title": None, "character_title_id": None,
               **_cache(rng), **_cache(rng, "history_"), "history_wanted": rng.random() < 0.01}


def _stays(owner: str, holder: str, owner_id: int,
           holders: tuple[int | None, int | None]) -> list[dict[str, Any]]:
    """Two stays of `owner_id`: the first holder's until a year ago, the second's since."""
    turn = _at(-365 * 86_400 + owner_id % 86_400)
    return [{owner: owner_id, "start": FOUNDED, "end": turn, holder: holders[0], "record_id": 1},
            {owner: owner_id, "start": turn, "end": None, holder: holders[1], "record_id": 2}]


def _intervals() -> Iterator[tuple[Table, dict[str, Any]]]:
    for i in CHARACTERS:
        for row in _stays("character_id", "corporation_id", i, (CORPORATIONS[i % 97], corporation_of(i))):
            yield t.employment_intervals, row
    for i in CORPORATIONS:
        for row in _stays("corporation_id", "alliance_id", i, (ALLIANCES[i % 89], alliance_of(i))):
            yield t.membership_intervals, row


def _snapshots(rng: random.Random) -> Iterator[dict[str, Any]]:
    today = NOW.date()
    for age in range(DAYS):
        day = today - dt.timedelta(days=age)
        for i in CORPORATIONS:
            yield {"kind": "corporation", "entity_id": i, "day": day, "member_count": rng.randint(1, 900),
                   "corporation_count": None, "taken_at": NOW}
        for i in ALLIANCES:
            yield {"kind": "alliance", "entity_id": i, "day": day, "member_count": rng.randint(1, 9000),
                   "corporation_count": 10, "taken_at": NOW}


def _changes(rng: random.Random) -> Iterator[dict[str, Any]]:
    for n in range(CHANGES):
        pick = rng.random()
        kind, ids, field = (("alliance", ALLIANCES, "corporations") if pick < 0.05 else
                            ("corporation", CORPORATIONS, "member_count") if pick < 0.2 else
                            ("character", CHARACTERS, "corporation_id"))
        yield {"kind": kind, "entity_id": rng.choice(ids), "field": field, "old_value": 1, "new_value": 2,
               "observed_at": _at(-30 * 86_400 + n * 60)}


def _pending(rng: random.Random) -> Iterator[dict[str, Any]]:
    for i in CHARACTERS[::3]:
        yield {"kind": "character", "id": i + 1_000_000, "queued_at": _at(-rng.randint(0, 3600)),
               "claimed_until": _at(60) if rng.random() < 0.02 else None, "published": rng.random() > 0.02,
               "attempts": 1 if rng.random() < 0.01 else 0}
    for i in CORPORATIONS[::2]:
        yield {"kind": "corporation", "id": i, "queued_at": _at(-rng.randint(0, 3600)), "claimed_until": None,
               "published": True, "attempts": 0}


def _failures() -> Iterator[dict[str, Any]]:
    for i in CHARACTERS[1::80]:
        yield {"kind": "character", "id": i, "status": 404, "reason": "gone", "attempts": 1,
               "permanent": True, "failed_at": _at(-3600)}


async def _put(conn: AsyncConnection, table: Table, rows: Iterator[dict[str, Any]]) -> None:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == _BATCH:
            await conn.execute(insert(table), batch)
            batch = []
    if batch:
        await conn.execute(insert(table), batch)


async def fill(conn: AsyncConnection) -> None:
    """Insert the busy copy, then ANALYZE so the planner knows the sizes."""
    rng = random.Random(25)
    await _put(conn, t.alliances, _alliances(rng))
    await _put(conn, t.corporations, _corporations(rng))
    await _put(conn, t.characters, _characters(rng))
    await _put(conn, t.alliance_corporations, ({"alliance_id": a, "corporation_id": c} for c in CORPORATIONS
                                               if (a := alliance_of(c)) is not None))
    await _put(conn, t.character_tombstones, ({"id": i, "deleted_seen_at": NOW, "reason": "deleted"}
                                              for i in DELETED))
    intervals = list(_intervals())
    for table in (t.employment_intervals, t.membership_intervals):
        await _put(conn, table, (row for of, row in intervals if of is table))
    await _put(conn, t.entity_snapshots, _snapshots(rng))
    await _put(conn, t.changes, _changes(rng))
    await _put(conn, t.sync_pending, _pending(rng))
    await _put(conn, t.sync_failures, _failures())
    await conn.execute(text("ANALYZE"))
