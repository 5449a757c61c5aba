"""How current the copy is, per kind: tracked entities, those past their Expires, the oldest such age.

Closed alliances and deleted characters are not tracked any more (nothing of theirs is refreshed).
An alliance counts as past Expires when either of its resources (detail, member list) is; a copy
stored without an Expires counts as past it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_PER_KIND = text("""
WITH due AS (
    SELECT 'alliance' AS kind, least(coalesce(expires_at, '-infinity'),
                                     coalesce(members_expires_at, '-infinity')) AS due_at
      FROM alliances WHERE closed_at IS NULL
    UNION ALL
    SELECT 'corporation', coalesce(expires_at, '-infinity') FROM corporations
    UNION ALL
    SELECT 'character', coalesce(c.expires_at, '-infinity') FROM characters c
     WHERE NOT EXISTS (SELECT 1 FROM character_tombstones d WHERE d.id = c.id)
)
SELECT kind, count(*) AS tracked, count(*) FILTER (WHERE due_at < now()) AS past_expires,
       extract(epoch FROM now() - min(due_at) FILTER (WHERE due_at < now() AND due_at > '-infinity'))
         AS oldest_past_s
  FROM due GROUP BY kind
""")


@dataclass(frozen=True, slots=True)
class Freshness:
    """One kind's freshness."""

    tracked: int
    past_expires: int
    oldest_past_s: float | None


async def per_kind(conn: AsyncConnection) -> dict[str, Freshness]:
    """Freshness of every kind that has anything stored."""
    result = await conn.execute(_PER_KIND)
    return {r.kind: Freshness(int(r.tracked), int(r.past_expires),
                              None if r.oldest_past_s is None else float(r.oldest_past_s))
            for r in result}
