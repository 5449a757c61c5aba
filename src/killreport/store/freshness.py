"""How current the copy is, per kind: tracked entities, those past their Expires, the oldest such age.

Closed alliances and deleted characters are not tracked any more (nothing of theirs is refreshed).
An alliance counts as past Expires when either of its resources (detail, member list) is; a copy
stored without an Expires counts as past it, with no age to report.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.store import tables as t
from killreport.store.dialects import Idioms, of


@dataclass(frozen=True, slots=True)
class Freshness:
    """One kind's freshness."""

    tracked: int
    past_expires: int
    oldest_past_s: float | None


@functools.cache
def per_kind_statement(sql: Idioms) -> Select[Any]:
    """Per kind: tracked, past Expires, and the seconds since the oldest Expires passed."""
    a, c, ch = t.alliances.c, t.corporations.c, t.characters.c
    # NULL when either Expires is (`least` would skip it): past Expires, with no age to report.
    alliance = case((and_(a.expires_at.isnot(None), a.members_expires_at.isnot(None)),
                     sql.least(a.expires_at, a.members_expires_at)))
    due = union_all(
        select(literal("alliance").label("kind"), alliance.label("due_at")).where(a.closed_at.is_(None)),
        select(literal("corporation"), c.expires_at),
        select(literal("character"), ch.expires_at).where(
            ~exists().where(t.character_tombstones.c.id == ch.id)),
    ).subquery("due")
    past = due.c.due_at < sql.now()
    return select(due.c.kind, func.count().label("tracked"),
                  func.count().filter(or_(due.c.due_at.is_(None), past)).label("past_expires"),
                  sql.age(func.min(due.c.due_at).filter(past)).label("oldest_past_s")).group_by(due.c.kind)


async def per_kind(conn: AsyncConnection) -> dict[str, Freshness]:
    """Freshness of every kind that has anything stored."""
    result = await conn.execute(per_kind_statement(of(conn)))
    return {r.kind: Freshness(int(r.tracked), int(r.past_expires),
                              None if r.oldest_past_s is None else float(r.oldest_past_s))
            for r in result}
