"""Daily snapshots for the web's tests: two months of an alliance and one of its corporations,
with three days never taken (a scheduler that did not run), as rows the scheduler would write."""

from __future__ import annotations

import datetime as dt
from typing import Final

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.store import tables as t

TREND_ALLIANCE: Final = 99000001
TREND_CORPORATION: Final = 98000001
SPAN_DAYS: Final = 60
# Days ago without a snapshot: the chart shows a gap there and no delta reaches across it.
MISSED: Final = frozenset({20, 21, 22})
HELD: Final = tuple(d for d in range(SPAN_DAYS, -1, -1) if d not in MISSED)  # days ago, oldest first


def pilots(kind: str, days_ago: int) -> int:
    """The member count on a day: growing, with a weekly wobble and a fall a fortnight ago."""
    base = 15_000 if kind == "alliance" else 5_000
    return base + 40 * (SPAN_DAYS - days_ago) + 25 * (days_ago % 7) - (600 if days_ago <= 14 else 0)


def today() -> dt.date:
    """The UTC date: the trend's last day."""
    return dt.datetime.now(dt.UTC).date()


async def snapshots(conn: AsyncConnection) -> None:
    """The held days' rows of TREND_ALLIANCE (4 corporations) and TREND_CORPORATION."""
    rows = []
    for days_ago in HELD:
        day = today() - dt.timedelta(days=days_ago)
        taken = dt.datetime.combine(day, dt.time(0, 0, 1), dt.UTC)
        rows.append({"kind": "alliance", "entity_id": TREND_ALLIANCE, "day": day, "taken_at": taken,
                     "member_count": pilots("alliance", days_ago), "corporation_count": 4})
        rows.append({"kind": "corporation", "entity_id": TREND_CORPORATION, "day": day, "taken_at": taken,
                     "member_count": pilots("corporation", days_ago), "corporation_count": None})
    await conn.execute(insert(t.entity_snapshots), rows)
