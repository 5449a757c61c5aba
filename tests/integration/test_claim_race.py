"""claim_and_read's claim can be won after a concurrent finish committed: it must then see what
that finish stored, not the entity as it was before.

One statement claims (INSERT ... ON CONFLICT on sync_pending, which waits for the row lock of a
job finishing the same entity) and reads the stored copy; PostgreSQL reads with the snapshot taken
when the statement started, before that job's commit. The claim is then won on a deleted pending
row and the job sees no fresh copy, so it asks ESI again before the Expires just stored: the rare
cache violations of the distributed fault tests (duplicate messages after a broker restart or a
kill; one in a fresh-clone scripts/test run of 2026-11-30, with a 60 s claim). claim_and_read now reads
again, in a statement of its own, whenever the first read found something to fetch.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.store import jobs

CORP = 98000001


async def _stale_corporation_claimed_elsewhere(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO corporations (id, name, ticker, member_count, description, friendly_fire,"
            " home_station_id, shares, state, type, tax_rate_isk, tax_rate_loyalty_point, war_eligible,"
            " fetched_at, expires_at) VALUES (:id, 'x', 'X', 1, '', 'legal', 1, 1, 'active',"
            " 'player_owned', 0, 0, false, now(), now() - interval '1 hour')"), {"id": CORP})
        await conn.execute(text(
            "INSERT INTO sync_pending (kind, id, queued_at, claimed_until, published, attempts)"
            " VALUES ('corporation', :id, now(), now() + interval '60 s', true, 0)"), {"id": CORP})


async def test_a_claim_won_after_a_concurrent_finish_sees_what_that_finish_stored(
        engine: AsyncEngine) -> None:
    await _stale_corporation_claimed_elsewhere(engine)
    async with engine.connect() as first, engine.connect() as second:
        finishing = await first.begin()  # the first job stores its 200 and finishes the entity
        await first.execute(text("UPDATE corporations SET expires_at = now() + interval '1 hour'"
                                 " WHERE id = :id"), {"id": CORP})
        await first.execute(text("DELETE FROM sync_pending WHERE kind = 'corporation' AND id = :id"),
                            {"id": CORP})
        # A duplicate message's job claims meanwhile: it waits for the first job's row lock.
        claiming = asyncio.ensure_future(jobs.claim_and_read(second, "corporation", CORP, 60.0))
        await asyncio.sleep(0.5)
        assert not claiming.done(), "the claim did not wait for the finishing job"
        await finishing.commit()
        stored = await asyncio.wait_for(claiming, 10)
    # Either outcome is safe: the claim lost, or it was won and sees the fresh copy (nothing to ask).
    assert stored is None or stored.fresh, stored
