"""KillmailQueries' reads, both stores: one kill in ESI's shape plus zkb, the export in id order, and
kills and losses of a character, corporation or alliance, newest (highest id) first."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.ids import Kind
from killreport.store.lookup import Row


async def killmail(conn: AsyncConnection, killmail_id: int) -> Row | None:
    """A kill in ESI's shape plus `zkb`, or None."""
    raise NotImplementedError


async def export(conn: AsyncConnection, *, after: int, limit: int, kind: Kind | None = None,
                 entity_id: int | None = None) -> list[Row]:
    """Kills with ids above `after`, ascending, optionally naming `entity_id` as `kind`."""
    raise NotImplementedError


async def involving(conn: AsyncConnection, kind: Kind, entity_id: int, *, losses: bool,
                    before: int | None, limit: int) -> list[Row]:
    """Kills or losses of an entity, newest first, below `before`: summary rows."""
    raise NotImplementedError


async def recent(conn: AsyncConnection, limit: int) -> list[Row]:
    """The newest kills, as summary rows."""
    raise NotImplementedError
