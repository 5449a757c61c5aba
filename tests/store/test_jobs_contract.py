"""JobQueries' contract: each test runs on PostgreSQL and on SQLite and expects the same answers.

A job's life (claim, read back what is stored, store, revalidate, defer, members, tombstone, fail,
release, finish), the pending set, the list cache and references. Everything goes in through
`store.jobs`; state is read back through `store.jobs` where it answers, else by plain Core selects
(the same statement on both dialects). Atomic writes are also failed half way: nothing may remain.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, cast

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from killreport.changes import Change
from killreport.domain.models import Alliance, Character, Corporation, Entity
from killreport.ids import Kind
from killreport.store import rows
from killreport.store import tables as t
from killreport.store.entities import Stored
from killreport.store.facts import CacheFacts, Revalidated
from killreport.store.interface import Store
from killreport.store.references import AllianceReferences, CorporationReferences

HOUR = 3600.0
CLAIM_S = 60.0


def at(seconds_from_now: float) -> dt.datetime:
    """A time `seconds_from_now` from now (negative: past), to the microsecond."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds_from_now)


def facts(expires_in: float | None, etag: str | None = '"e1"', fetched_ago: float = 10.0) -> CacheFacts:
    """Cache facts of an answer received `fetched_ago` s ago, expiring `expires_in` s from now."""
    return CacheFacts(fetched_at=at(-fetched_ago), expires_at=None if expires_in is None else at(expires_in),
                      etag=etag, last_modified=dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC))


def alliance(**more: Any) -> Alliance:
    """An alliance answer (`more` overrides any field)."""
    return Alliance(**{"name": "Alpha", "ticker": "ALP", "creator_id": 90000001,
                       "creator_corporation_id": 98000001, "date_founded": "2010-05-06T07:08:09Z",
                       "executor_corporation_id": 98000002, **more})


def corporation(**more: Any) -> Corporation:
    """A corporation answer with every optional part (palette, dates, url)."""
    return Corporation(**{
        "name": "Corp", "ticker": "CRP", "member_count": 12, "description": "<b>hi</b>",
        "friendly_fire": "legal", "home_station_id": 60003760, "shares": 1000, "state": "active",
        "tax_rates": {"isk": 0.1, "loyalty_point": 0.0}, "type": "player_owned", "war_eligible": True,
        "alliance_id": 99000001, "ceo_id": 90000002, "creator_id": 90000003,
        "date_founded": "2011-01-01T00:00:00.5Z", "palette": {"main_color": "#112233"},
        "url": "https://example.com", **more})


def character(**more: Any) -> Character:
    """A character answer."""
    return Character(**{"name": "Pilot", "birthday": "2012-03-04T05:06:07Z", "bloodline_id": 4, "race_id": 2,
                        "corporation_id": 98000001, "gender": "female", "achievement_score": 77,
                        "alliance_id": 99000001, "security_status": -1.25, "description": "x", **more})


def types(row: Mapping[str, object] | None) -> dict[str, type]:
    """Each value's type: equal rows may still differ in it (True == 1, 0.0 == 0)."""
    return {k: type(v) for k, v in (row or {}).items()}


def bad_change(kind: Kind, entity_id: int) -> Change:
    """A change the changes table refuses (no field): fails an atomic write after its first part."""
    return Change(kind, entity_id, cast(str, None), 1, 2)


async def claim(store: Store, kind: Kind, entity_id: int, ttl_s: float = CLAIM_S) -> Stored | None:
    """claim_and_read on a connection of the job's kind (autocommit)."""
    async with store.autocommit() as conn:
        return await store.jobs.claim_and_read(conn, kind, entity_id, ttl_s)


async def claim_over() -> None:
    """Wait until a claim made for 0 s has passed: SQLite's clock counts whole milliseconds."""
    await asyncio.sleep(0.005)


async def pending(store: Store, kind: Kind) -> dict[int, tuple[bool, int, bool]]:
    """The pending rows of `kind`: id -> (published, attempts, claimed now)."""
    p = t.sync_pending.c
    now = dt.datetime.now(dt.UTC)
    async with store.connect() as conn:
        result = await conn.execute(
            select(p.id, p.published, p.attempts, p.claimed_until).where(p.kind == kind))
        return {int(r.id): (bool(r.published), int(r.attempts), r.claimed_until is not None
                            and r.claimed_until > now) for r in result}


async def failures(store: Store) -> dict[tuple[str, int], tuple[int | None, str, int, bool]]:
    """sync_failures: (kind, id) -> (status, reason, attempts, permanent)."""
    f = t.sync_failures.c
    async with store.connect() as conn:
        result = await conn.execute(select(f.kind, f.id, f.status, f.reason, f.attempts, f.permanent))
        return {(r.kind, int(r.id)): (r.status, r.reason, int(r.attempts), bool(r.permanent)) for r in result}


async def row_of(store: Store, kind: Kind, entity_id: int) -> dict[str, Any] | None:
    """The entity's whole stored row, or None."""
    table = t.ENTITY_TABLES[kind]
    async with store.connect() as conn:
        row = (await conn.execute(select(table).where(table.c.id == entity_id))).mappings().first()
        return None if row is None else dict(row)


async def changes(store: Store) -> list[Change]:
    """Every recorded change, in recorded order."""
    async with store.connect() as conn:
        return [o.change for o in await store.admin.recent_changes(conn)]


async def put(store: Store, entity_id: int, entity: Entity, cache: CacheFacts) -> None:
    """Store an entity (no changes) on an autocommit connection."""
    async with store.autocommit() as conn:
        await store.jobs.store(conn, entity_id, entity, cache)


# ---- claims --------------------------------------------------------------------------------------


async def test_a_claim_is_won_once_and_makes_the_entity_pending(store: Store) -> None:
    assert await claim(store, "corporation", 98000001) == Stored(fresh=False)
    assert await claim(store, "corporation", 98000001) is None, "held by the first claim"
    assert await claim(store, "character", 98000001) == Stored(fresh=False), "another kind, another row"
    assert await pending(store, "corporation") == {98000001: (True, 0, True)}


async def test_of_claims_made_at_once_exactly_one_wins(store: Store) -> None:
    results = await asyncio.gather(*(claim(store, "character", 90000001) for _ in range(6)))
    assert sorted(results, key=lambda r: r is None) == [Stored(fresh=False), *[None] * 5]


async def test_jobs_finishing_at_once_queue_each_shared_child_once(store: Store) -> None:
    async def job(alliance_id: int) -> list[int]:
        async with store.autocommit() as conn:
            children: tuple[Kind, Iterable[int]] = ("corporation", range(98000000, 98000010))
            return await store.jobs.store_and_finish(conn, alliance_id, alliance(), facts(HOUR), children)

    added = await asyncio.gather(*(job(99000000 + i) for i in range(5)))
    everything = [i for ids in added for i in ids]
    assert sorted(everything) == list(range(98000000, 98000010)), "each child added by exactly one job"
    assert len(await pending(store, "corporation")) == 10


async def test_a_claim_that_ran_out_can_be_taken_again(store: Store) -> None:
    assert await claim(store, "alliance", 99000001, ttl_s=0.6) == Stored(fresh=False)
    assert await claim(store, "alliance", 99000001) is None
    await asyncio.sleep(0.7)
    assert await claim(store, "alliance", 99000001) == Stored(fresh=False)


async def test_a_claim_on_a_queued_row_publishes_it_and_keeps_its_attempts(store: Store) -> None:
    async with store.autocommit() as conn:
        assert await store.jobs.add(conn, "character", [90000001], skip_fresh=False) == [90000001]
        await store.jobs.release(conn, "character", 90000001, attempts=2)
    assert await pending(store, "character") == {90000001: (False, 2, False)}
    assert await claim(store, "character", 90000001) == Stored(fresh=False)
    assert await pending(store, "character") == {90000001: (True, 2, True)}


# ---- what a claim reads --------------------------------------------------------------------------


async def test_a_stored_corporation_reads_back_as_it_was_stored(store: Store) -> None:
    corp = corporation()
    await put(store, 98000001, corp, facts(HOUR, etag='"c1"'))
    read = await claim(store, "corporation", 98000001)
    assert read == Stored(
        fresh=True, references=CorporationReferences(ceo_id=90000002, creator_id=90000003),
        row=rows.row_of(corp), etag='"c1"', history_due=True)  # first stored: its history is wanted
    assert types(read.row) == types(rows.row_of(corp)), "True, not 1; 0.0, not 0"
    stored = await row_of(store, "corporation", 98000001)
    assert stored is not None
    assert (stored["palette_main_color"], stored["palette_secondary_color"], stored["tax_rate_loyalty_point"],
            stored["war_eligible"]) == ("#112233", None, 0.0, True)


async def test_a_stored_character_and_an_expired_one(store: Store) -> None:
    pilot = character()
    await put(store, 90000001, pilot, facts(HOUR, etag=None))
    await put(store, 90000002, pilot, facts(-1.0))
    read = await claim(store, "character", 90000001)
    assert read == Stored(fresh=True, row=rows.row_of(pilot), history_due=True)
    assert types(read.row) == types(rows.row_of(pilot))
    assert await claim(store, "character", 90000002) == Stored(fresh=False, row=rows.row_of(pilot),
                                                               etag='"e1"', history_due=True)


async def test_an_alliance_reads_its_members_and_their_own_freshness(store: Store) -> None:
    ally = alliance()
    await put(store, 99000001, ally, facts(HOUR))
    refs = AllianceReferences(creator_id=90000001, creator_corporation_id=98000001,
                              executor_corporation_id=98000002)
    expected = Stored(fresh=True, references=refs, row=rows.row_of(ally), etag='"e1"')
    assert await claim(store, "alliance", 99000001, ttl_s=0.0) == expected, "no member list yet"
    async with store.autocommit() as conn:
        await store.jobs.replace_members(conn, 99000001, [98000003, 98000002, 98000002], facts(-5.0, '"m1"'))
    await claim_over()
    assert await claim(store, "alliance", 99000001, ttl_s=0.0) == dataclasses.replace(
        expected, members=(98000002, 98000003), members_fresh=False, members_etag='"m1"')


async def test_a_stored_row_has_every_cache_fact(store: Store) -> None:
    cache = facts(HOUR)
    await put(store, 99000001, alliance(executor_corporation_id=None, faction_id=500001), cache)
    stored = await row_of(store, "alliance", 99000001)
    assert stored is not None
    assert {k: stored[k] for k in cache.columns()} == cache.columns()
    assert (stored["executor_corporation_id"], stored["faction_id"], stored["members_fetched_at"],
            stored["closed_at"]) == (None, 500001, None, None)


# ---- storing -------------------------------------------------------------------------------------


async def test_storing_again_replaces_the_row_and_appends_the_changes(store: Store) -> None:
    await put(store, 98000001, corporation(), facts(HOUR))
    noted = [Change("corporation", 98000001, "name", "Corp", "New"),
             Change("corporation", 98000001, "ceo_id", 90000002, None)]
    async with store.autocommit() as conn:
        await store.jobs.store(conn, 98000001, corporation(name="New", ceo_id=None), facts(HOUR, '"c2"'),
                               noted)
    stored = await row_of(store, "corporation", 98000001)
    assert stored is not None and (stored["name"], stored["ceo_id"], stored["etag"]) == ("New", None, '"c2"')
    assert await changes(store) == noted


async def test_store_and_finish_queues_children_that_are_new_and_not_fresh(store: Store) -> None:
    await put(store, 98000010, corporation(), facts(HOUR))                  # fresh: skipped
    await put(store, 98000011, corporation(), facts(-1.0))                  # expired: queued
    async with store.autocommit() as conn:
        await store.jobs.add(conn, "corporation", [98000012], skip_fresh=False)   # pending already
        await store.jobs.record_failure(conn, "alliance", 99000001, status=500, reason="x", attempts=3,
                                        permanent=False)
    assert await claim(store, "alliance", 99000001) == Stored(fresh=False)
    noted = [Change("alliance", 99000001, "ticker", "OLD", "ALP")]
    children: tuple[Kind, Any] = ("corporation", iter([98000013, 98000012, 98000011, 98000010, 98000013]))
    async with store.autocommit() as conn:
        added = await store.jobs.store_and_finish(conn, 99000001, alliance(), facts(HOUR), children, noted)
    assert sorted(added) == [98000011, 98000013]
    assert await pending(store, "alliance") == {}
    assert await pending(store, "corporation") == {
        98000011: (True, 0, False), 98000012: (False, 0, False), 98000013: (True, 0, False)}
    assert await failures(store) == {}
    assert await changes(store) == noted
    assert await claim(store, "alliance", 99000001) is not None


async def test_store_and_finish_without_children_adds_nothing(store: Store) -> None:
    async with store.autocommit() as conn:
        assert await store.jobs.store_and_finish(conn, 90000001, character(), facts(HOUR)) == []
    assert await pending(store, "corporation") == {}
    assert (await claim(store, "character", 90000001) or Stored(fresh=False)).fresh is True


async def test_revalidate_moves_only_expires_and_checked(store: Store) -> None:
    cache = facts(-1.0)
    await put(store, 99000001, alliance(), cache)
    async with store.autocommit() as conn:
        await store.jobs.replace_members(conn, 99000001, [98000001], facts(-1.0, '"m1"'))
    before = await row_of(store, "alliance", 99000001)
    detail, members = Revalidated(at(-2.0), at(HOUR)), Revalidated(at(-1.0), at(2 * HOUR))
    async with store.autocommit() as conn:
        await store.jobs.revalidate(conn, "alliance", 99000001, detail)
        await store.jobs.revalidate(conn, "alliance", 99000001, members, prefix=t.MEMBERS_PREFIX)
    after = await row_of(store, "alliance", 99000001)
    assert before is not None and after is not None
    moved = {**detail.columns(), **members.columns(t.MEMBERS_PREFIX)}
    assert after == {**before, **moved}
    stored = await claim(store, "alliance", 99000001)
    assert stored is not None and (stored.fresh, stored.members_fresh) == (True, True)


async def test_revalidate_and_finish_queues_children_and_finishes(store: Store) -> None:
    await put(store, 98000001, corporation(), facts(-1.0))
    assert await claim(store, "corporation", 98000001) is not None
    async with store.autocommit() as conn:
        await store.jobs.record_failure(conn, "corporation", 98000001, status=None, reason="timeout",
                                        attempts=1, permanent=False)
        added = await store.jobs.revalidate_and_finish(conn, "corporation", 98000001,
                                                       Revalidated(at(0), at(HOUR)),
                                                       ("character", [90000003, 90000002]))
    assert sorted(added) == [90000002, 90000003]
    assert await pending(store, "corporation") == {}
    assert await failures(store) == {}
    stored = await claim(store, "corporation", 98000001)
    assert stored is not None and stored.fresh is True


async def test_defer_only_ever_moves_expires_later(store: Store) -> None:
    await put(store, 99000001, alliance(), facts(None))
    later, sooner = at(HOUR), at(60)
    async with store.autocommit() as conn:
        await store.jobs.defer(conn, "alliance", 99000001, later)                # no Expires: takes it
        await store.jobs.defer(conn, "alliance", 99000001, sooner)               # earlier: ignored
        await store.jobs.defer(conn, "alliance", 99000001, sooner, prefix=t.MEMBERS_PREFIX)
        await store.jobs.defer(conn, "alliance", 99000002, later)                # not stored: nothing
    stored = await row_of(store, "alliance", 99000001)
    assert stored is not None
    assert (stored["expires_at"], stored["members_expires_at"], stored["fetched_at"] is not None) == (
        later, sooner, True)
    assert await row_of(store, "alliance", 99000002) is None
    read = await claim(store, "alliance", 99000001)
    assert read is not None and (read.fresh, read.members_fresh, read.members) == (True, True, None)


async def test_replace_members_replaces_the_list_and_records_its_change(store: Store) -> None:
    await put(store, 99000001, alliance(), facts(HOUR))
    async with store.autocommit() as conn:
        await store.jobs.replace_members(conn, 99000001, [98000001, 98000002], facts(HOUR, '"m1"'))
        noted = [Change("alliance", 99000001, "corporations", [98000001, 98000002], [98000002, 98000003])]
        await store.jobs.replace_members(conn, 99000001, [98000003, 98000002], facts(HOUR, '"m2"'), noted)
        await store.jobs.replace_members(conn, 99000002, [98000009], facts(HOUR))   # another alliance
    read = await claim(store, "alliance", 99000001, ttl_s=0.0)
    assert read is not None and (read.members, read.members_etag, read.members_fresh) == (
        (98000002, 98000003), '"m2"', True)
    assert await changes(store) == noted
    async with store.autocommit() as conn:
        await store.jobs.replace_members(conn, 99000001, [], facts(HOUR, '"m3"'))
    await claim_over()
    read = await claim(store, "alliance", 99000001, ttl_s=0.0)
    assert read is not None and (read.members, read.members_etag) == ((), '"m3"'), "an empty list is a list"
    async with store.connect() as conn:
        ac = t.alliance_corporations.c
        rows_ = (await conn.execute(select(ac.alliance_id, ac.corporation_id))).all()
    assert sorted(tuple(r) for r in rows_) == [(99000002, 98000009)]


async def test_a_tombstone_keeps_the_row_and_stops_the_character_being_queued(store: Store) -> None:
    await put(store, 90000001, character(), facts(-1.0))
    noted = [Change("character", 90000001, "deleted", False, True)]
    async with store.autocommit() as conn:
        await store.jobs.tombstone(conn, 90000001, "404", noted)
        await store.jobs.tombstone(conn, 90000001, "404 again")            # once is enough
        await store.jobs.tombstone(conn, 90000002, "never stored")
    assert await claim(store, "character", 90000001) == Stored(fresh=True, tombstoned=True)
    assert await claim(store, "character", 90000002) == Stored(fresh=True, tombstoned=True)
    assert await row_of(store, "character", 90000001) is not None
    assert await changes(store) == noted
    async with store.autocommit() as conn:
        assert await store.jobs.add(conn, "character", [90000001, 90000002, 90000003], skip_fresh=False) == [
            90000003]
    async with store.connect() as conn:
        tomb = t.character_tombstones.c
        reasons = (await conn.execute(select(tomb.id, tomb.reason).order_by(tomb.id))).all()
    assert [tuple(r) for r in reasons] == [(90000001, "404"), (90000002, "never stored")]


# ---- failures, release, finish --------------------------------------------------------------------


async def test_the_latest_failure_wins(store: Store) -> None:
    async with store.autocommit() as conn:
        await store.jobs.record_failure(conn, "character", 1, status=500, reason="boom", attempts=1,
                                        permanent=False)
        await store.jobs.record_failure(conn, "character", 1, status=404, reason="gone", attempts=2,
                                        permanent=True)
        await store.jobs.record_failure(conn, "corporation", 1, status=None, reason="timeout", attempts=5,
                                        permanent=False)
    assert await failures(store) == {("character", 1): (404, "gone", 2, True),
                                     ("corporation", 1): (None, "timeout", 5, False)}


async def test_release_remembers_attempts_and_a_hold_keeps_the_claim(store: Store) -> None:
    assert await claim(store, "corporation", 1) is not None
    assert await claim(store, "corporation", 2) is not None
    async with store.autocommit() as conn:
        await store.jobs.release(conn, "corporation", 1, attempts=1)
        await store.jobs.release(conn, "corporation", 2, attempts=3, hold_until=at(0.6))
    assert await pending(store, "corporation") == {1: (True, 1, False), 2: (True, 3, True)}
    assert await claim(store, "corporation", 1) == Stored(fresh=False)
    assert await claim(store, "corporation", 2) is None, "held until the answer's Expires"
    await asyncio.sleep(0.7)
    assert await claim(store, "corporation", 2) == Stored(fresh=False)


async def test_finish_leaves_the_pending_set_and_stored_clears_failures(store: Store) -> None:
    async with store.autocommit() as conn:
        await store.jobs.add(conn, "alliance", [1, 2], skip_fresh=False)
        for entity_id in (1, 2):
            await store.jobs.record_failure(conn, "alliance", entity_id, status=500, reason="x", attempts=1,
                                            permanent=False)
        await store.jobs.finish(conn, "alliance", 1)
        await store.jobs.finish(conn, "alliance", 2, stored=True)
        await store.jobs.finish(conn, "alliance", 3, stored=True)            # nothing to finish
    assert await pending(store, "alliance") == {}
    assert await failures(store) == {("alliance", 1): (500, "x", 1, False)}


# ---- the pending set ------------------------------------------------------------------------------


async def test_add_skips_pending_and_if_asked_fresh_ids(store: Store) -> None:
    await put(store, 99000001, alliance(), facts(HOUR))                       # both fresh: skipped
    await put(store, 99000002, alliance(), facts(HOUR))
    async with store.autocommit() as conn:
        await store.jobs.replace_members(conn, 99000001, [1], facts(HOUR))
        await store.jobs.replace_members(conn, 99000002, [1], facts(-1.0))    # members expired: queued
        fresh_skipped = await store.jobs.add(conn, "alliance", [99000003, 99000002, 99000001],
                                             skip_fresh=True)
        again = await store.jobs.add(conn, "alliance", [99000001, 99000002, 99000004], skip_fresh=False,
                                     published=True)
        assert await store.jobs.add(conn, "alliance", [], skip_fresh=True) == []
    assert sorted(fresh_skipped) == [99000002, 99000003]
    assert sorted(again) == [99000001, 99000004]
    assert await pending(store, "alliance") == {99000001: (True, 0, False), 99000002: (False, 0, False),
                                                99000003: (False, 0, False), 99000004: (True, 0, False)}
    async with store.connect() as conn:
        assert sorted(await store.jobs.among(conn, "alliance", [99000004, 99000005, 99000001])) == [
            99000001, 99000004]
        assert await store.jobs.among(conn, "corporation", [99000001]) == []
        assert await store.jobs.among(conn, "alliance", []) == []


async def test_unpublished_ids_wait_for_their_age_and_mark_published_confirms_them(store: Store) -> None:
    async with store.autocommit() as conn:
        await store.jobs.add(conn, "corporation", [3], skip_fresh=False)
        await asyncio.sleep(0.8)
        await store.jobs.add(conn, "corporation", [1, 2], skip_fresh=False)
        await store.jobs.add(conn, "corporation", [4], skip_fresh=False, published=True)
        await store.jobs.add(conn, "character", [1], skip_fresh=False)
    async with store.connect() as conn:
        assert (await store.jobs.unpublished(conn, "corporation"))[0] == 3, "oldest first"
        assert sorted(await store.jobs.unpublished(conn, "corporation")) == [1, 2, 3]
        assert await store.jobs.unpublished(conn, "corporation", older_than_s=0.4) == [3]
        assert await store.jobs.unpublished(conn, "corporation", older_than_s=HOUR) == []
        assert await store.jobs.unpublished(conn, "corporation", limit=1) == [3]
        assert sorted(await store.jobs.unpublished(conn, "corporation", [2, 3, 4, 5])) == [2, 3]
        assert await store.jobs.unpublished(conn, "corporation", []) == []
    async with store.autocommit() as conn:
        await store.jobs.mark_published(conn, "corporation", [1, 3, 9])
        await store.jobs.mark_published(conn, "corporation", [])
    async with store.connect() as conn:
        assert await store.jobs.unpublished(conn, "corporation") == [2]
        assert await store.jobs.unpublished(conn, "character") == [1]


async def test_forget_unclaimed_drops_all_but_live_claims(store: Store) -> None:
    async with store.autocommit() as conn:
        await store.jobs.add(conn, "corporation", [1, 2], skip_fresh=False)
    assert await claim(store, "corporation", 3) is not None                   # claimed: kept
    assert await claim(store, "corporation", 4, ttl_s=0.0) is not None        # claim over: dropped
    await claim_over()
    async with store.autocommit() as conn:
        await store.jobs.release(conn, "corporation", 5, attempts=1)          # no row: nothing
        assert await store.jobs.forget_unclaimed(conn) == 3
        assert await store.jobs.forget_unclaimed(conn) == 0
    assert await pending(store, "corporation") == {3: (True, 0, True)}


# ---- list cache and references ---------------------------------------------------------------------


async def test_a_cached_list_is_answered_while_current(store: Store) -> None:
    async with store.autocommit() as conn:
        assert await store.jobs.fresh_ids(conn, "/alliances/") is None
        await store.jobs.put_ids(conn, "/alliances/", [3, 1, 2], facts(HOUR))
        assert await store.jobs.fresh_ids(conn, "/alliances/") == [3, 1, 2]
        await store.jobs.put_ids(conn, "/alliances/", [5], facts(-1.0))
        assert await store.jobs.fresh_ids(conn, "/alliances/") is None, "replaced by an expired copy"
        await store.jobs.put_ids(conn, "/other/", [], facts(None))
        assert await store.jobs.fresh_ids(conn, "/other/") is None, "no Expires: never current"
        h = t.http_cache.c
        row = (await conn.execute(select(h.body, h.etag).where(h.path == "/alliances/"))).one()
    assert (row.body, row.etag) == ([5], '"e1"')


async def test_referenced_ids_are_what_stored_alliances_and_corporations_name(store: Store) -> None:
    await put(store, 99000001, alliance(), facts(HOUR))
    await put(store, 99000002, alliance(creator_id=90000005, creator_corporation_id=98000005,
                                        executor_corporation_id=None), facts(HOUR))
    await put(store, 98000001, corporation(ceo_id=90000002, creator_id=None), facts(HOUR))
    async with store.autocommit() as conn:
        await store.jobs.replace_members(conn, 99000001, [98000001, 98000007], facts(HOUR))
        assert sorted(await store.jobs.referenced_ids(conn, "corporation")) == [
            98000001, 98000002, 98000005, 98000007]
        assert sorted(await store.jobs.referenced_ids(conn, "character")) == [90000001, 90000002, 90000005]
        assert await store.jobs.referenced_ids(conn, "alliance") == []


# ---- atomic writes fail whole -----------------------------------------------------------------------


async def test_a_store_whose_changes_fail_stores_nothing(store: Store) -> None:
    async with store.autocommit() as conn:
        with pytest.raises(IntegrityError):
            await store.jobs.store(conn, 98000001, corporation(), facts(HOUR),
                                   [Change("corporation", 98000001, "name", "a", "b"),
                                    bad_change("corporation", 98000001)])
        # The connection is usable and not left inside a transaction: this write is seen elsewhere.
        await store.jobs.add(conn, "corporation", [1], skip_fresh=False)
    assert await row_of(store, "corporation", 98000001) is None
    assert await changes(store) == []
    assert await pending(store, "corporation") == {1: (False, 0, False)}


async def test_a_store_and_finish_that_fails_leaves_the_job_as_it_was(store: Store) -> None:
    assert await claim(store, "alliance", 99000001) is not None
    async with store.autocommit() as conn:
        await store.jobs.record_failure(conn, "alliance", 99000001, status=500, reason="x", attempts=1,
                                        permanent=False)
        with pytest.raises(IntegrityError):
            await store.jobs.store_and_finish(conn, 99000001, alliance(), facts(HOUR),
                                              ("corporation", [98000001]), [bad_change("alliance", 99000001)])
    assert await row_of(store, "alliance", 99000001) is None
    assert await pending(store, "alliance") == {99000001: (True, 0, True)}
    assert await pending(store, "corporation") == {}
    assert await failures(store) == {("alliance", 99000001): (500, "x", 1, False)}


async def test_replace_members_that_fails_changes_nothing(store: Store) -> None:
    await put(store, 99000001, alliance(), facts(HOUR))
    async with store.autocommit() as conn:
        await store.jobs.replace_members(conn, 99000001, [98000001], facts(HOUR, '"m1"'))
        with pytest.raises(IntegrityError):
            await store.jobs.replace_members(conn, 99000001, [98000002], facts(HOUR, '"m2"'),
                                             [bad_change("alliance", 99000001)])
    read = await claim(store, "alliance", 99000001)
    assert read is not None and (read.members, read.members_etag) == ((98000001,), '"m1"')


async def test_a_tombstone_whose_changes_fail_is_not_recorded(store: Store) -> None:
    await put(store, 90000001, character(), facts(HOUR))
    async with store.autocommit() as conn:
        with pytest.raises(IntegrityError):
            await store.jobs.tombstone(conn, 90000001, "404", [bad_change("character", 90000001)])
    assert await claim(store, "character", 90000001) == Stored(fresh=True, row=rows.row_of(character()),
                                                               etag='"e1"', history_due=True)


async def test_inside_a_callers_transaction_its_rollback_undoes_an_atomic_write(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.begin() as conn:
            await store.jobs.store_and_finish(conn, 98000001, corporation(), facts(HOUR),
                                              ("character", [90000001]))
            raise RuntimeError("the caller fails after the write")
    assert await row_of(store, "corporation", 98000001) is None
    assert await pending(store, "character") == {}
    async with store.begin() as conn:
        await store.jobs.add(conn, "character", [90000009], skip_fresh=False)       # caller wrote first
        await store.jobs.store(conn, 98000001, corporation(), facts(HOUR),
                               [Change("corporation", 98000001, "name", "a", "b")])
    assert await row_of(store, "corporation", 98000001) is not None
    assert await pending(store, "character") == {90000009: (False, 0, False)}
