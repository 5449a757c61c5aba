"""Many characters and corporations in a migrated database, for the due selection's plan tests.

A copy in steady state under the default refresh policy: characters checked over the last 30 days
(a few past it, a few a sweep saw moving), corporations checked over the last week, a few in
alliances and a few named by recent kills, checked within the hour; some wanted histories, some
pending jobs, recent failures and tombstones. Rows go in directly, many at a time: the plans read
columns, not how they were written.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any, Final

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.store import tables as t

CHARACTERS: Final = range(90_000_001, 90_040_001)
CORPORATIONS: Final = range(98_000_001, 98_010_001)
NOW: Final = dt.datetime.now(dt.UTC)
DAY_S: Final = 86400.0
FOUNDED: Final = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


def _ago(seconds: float) -> dt.datetime:
    return NOW - dt.timedelta(seconds=seconds)


def _character(rng: random.Random, i: int) -> dict[str, Any]:
    checked = rng.uniform(0, 30.05 * DAY_S)
    return {"id": i, "name": f"c{i}", "birthday": FOUNDED, "bloodline_id": 1, "race_id": 1,
            "corporation_id": rng.choice(CORPORATIONS), "gender": "male", "achievement_score": 0,
            "fetched_at": _ago(checked), "checked_at": None, "expires_at": _ago(checked - DAY_S),
            "history_wanted": rng.random() < 0.002, "detail_wanted": rng.random() < 0.002}


def _corporation(rng: random.Random, i: int) -> dict[str, Any]:
    member, killed = rng.random() < 0.02, rng.random() < 0.03
    checked = rng.uniform(0, 3700) if member or killed else rng.uniform(0, 7.01 * DAY_S)
    return {"id": i, "name": f"k{i}", "ticker": "K", "member_count": 1, "description": "",
            "friendly_fire": "legal", "home_station_id": 60000001, "shares": 0, "state": "active",
            "type": "player_owned", "tax_rate_isk": 0.1, "tax_rate_loyalty_point": 0.0, "war_eligible": True,
            "alliance_id": 99_000_001 if member else None, "fetched_at": _ago(checked + 3600),
            "checked_at": _ago(checked), "expires_at": _ago(checked - 3600),
            "seen_on_kill_at": _ago(rng.uniform(0, 6 * DAY_S)) if killed else (
                _ago(rng.uniform(8, 300) * DAY_S) if rng.random() < 0.2 else None),
            "history_wanted": rng.random() < 0.002}


async def fill(conn: AsyncConnection) -> None:
    """Insert the characters and corporations, some pending, failed or deleted, then ANALYZE."""
    rng = random.Random(25)
    await conn.execute(insert(t.characters), [_character(rng, i) for i in CHARACTERS])
    await conn.execute(insert(t.corporations), [_corporation(rng, i) for i in CORPORATIONS])
    pending = [{"kind": kind, "id": i, "queued_at": NOW, "published": True, "attempts": 0}
               for kind, ids in (("character", CHARACTERS), ("corporation", CORPORATIONS)) for i in ids[::97]]
    await conn.execute(insert(t.sync_pending), pending)
    failed = [{"kind": "character", "id": i, "status": 404, "reason": "gone", "attempts": 1,
               "permanent": True, "failed_at": NOW} for i in CHARACTERS[5::501]]
    await conn.execute(insert(t.sync_failures), failed)
    await conn.execute(insert(t.character_tombstones), [
        {"id": i, "deleted_seen_at": NOW, "reason": "deleted"} for i in CHARACTERS[7::301]])
    await conn.execute(text("ANALYZE"))
