"""Who follows the kill feed: one follower per database, recorded in the killmail_feed row for `status`.

Kept out the way store/schedule.py keeps a second scheduler out, with a key of its own:

    PostgreSQL  an advisory lock ("killfeed") held by the follower's own connection: it goes with
                the connection, however the process ends
    SQLite      the follower runs only inside the process holding the file's runner lock (a flock),
                so there is nothing to take: `try_follow_lock` is True, `follow_unlock` does nothing

The row records the holder and its heartbeat; the first heartbeat makes the row if the feed has
none yet (its cursor stays None until the first save).
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, Final

from sqlalchemy import BigInteger, Text, and_, bindparam, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.store import tables as t
from killreport.store.dialects import POSTGRES, Idioms, of

# A follower whose heartbeat is older than this follows no more (killfeed/lease.py beats every
# SCHEDULER_HEARTBEAT_S, 3 s by default; one late beat is not a dead follower).
FOLLOWER_ALIVE_S: Final = 9.0
# "killfeed" in ASCII: the scheduler's lock is "killrept"; advisory locks are per database.
FOLLOW_LOCK_KEY: Final = 0x6B696C6C_66656564
_KEY = literal(FOLLOW_LOCK_KEY, BigInteger)
_TAKE: Final = select(func.pg_try_advisory_lock(_KEY))
_GIVE: Final = select(func.pg_advisory_unlock(_KEY))
_feed = t.killmail_feed
# Not named `holder`: a parameter named like a column would join an UPDATE's SET.
_MINE: Final = and_(_feed.c.id == 1, _feed.c.holder == bindparam("lease_holder", type_=Text))
_RELEASE: Final = update(_feed).where(_MINE).values(holder=None)


@functools.cache
def _heartbeat_statement(sql: Idioms) -> Any:
    # The lock is this holder's: whoever the row names (a dead follower, nobody) is replaced.
    stmt = sql.insert(_feed).values(id=1, holder=bindparam("lease_holder", type_=Text),
                                    heartbeat_at=sql.now(), updated_at=sql.now())
    return stmt.on_conflict_do_update(index_elements=[_feed.c.id], set_={
        "holder": stmt.excluded.holder, "heartbeat_at": stmt.excluded.heartbeat_at})


async def try_follow_lock(conn: AsyncConnection) -> bool:
    """Take the follower's lock for this connection if nobody holds it (always, on SQLite)."""
    if conn.dialect.name != POSTGRES.name:
        return True
    return bool((await conn.execute(_TAKE)).scalar_one())


async def follow_unlock(conn: AsyncConnection) -> None:
    """Give the follower's lock back (closing the connection does too; nothing on SQLite)."""
    if conn.dialect.name == POSTGRES.name:
        await conn.execute(_GIVE)


async def follow_heartbeat(conn: AsyncConnection, holder: str) -> None:
    """Record `holder` as the follower, alive now (making the feed's row if there is none yet)."""
    await conn.execute(_heartbeat_statement(of(conn)), {"lease_holder": holder})


async def follow_release(conn: AsyncConnection, holder: str) -> None:
    """On a clean stop: nobody follows, if the row still names `holder` (its last heartbeat stays)."""
    await conn.execute(_RELEASE, {"lease_holder": holder})


def heartbeat_age_s(at: dt.datetime | None, now: dt.datetime) -> float | None:
    """Seconds from `at` (the follower's last heartbeat, the head's last read) to `now`; None: never."""
    return None if at is None else round((now - at).total_seconds(), 1)


def following(holder: str | None, heartbeat_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether the killmail_feed row names a follower whose heartbeat is fresh at `now`."""
    age = heartbeat_age_s(heartbeat_at, now)
    return holder is not None and age is not None and age < FOLLOWER_ALIVE_S
