"""KillmailQueries' writes and bookkeeping: each test runs on PostgreSQL and on SQLite.

Kills go in through `store.killmails.save` and come back through its answers and plain Core selects
(the same statement on both dialects); the reads (`killmail`, `export`...) have their own tests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from killreport.domain import feed_pace
from killreport.domain.killmail import Rejected
from killreport.ids import Kind
from killreport.store import tables as t
from killreport.store.interface import Store
from tests.kills import FACTION, NPC_CORPORATION, kill, zkb
from tests.stores import as_store, engine_for

PILOT, CORP, ALLIANCE = 90_000_001, 98_000_001, 99_000_001
OTHER, OTHER_CORP = 90_000_002, 98_000_002
VICTIM = {"character_id": PILOT, "corporation_id": CORP, "alliance_id": ALLIANCE}
ATTACKER = {"character_id": OTHER, "corporation_id": OTHER_CORP, "ship_type_id": 603, "weapon_type_id": 2488}
NPC = {"corporation_id": NPC_CORPORATION, "faction_id": FACTION, "ship_type_id": 1000}


async def _rows(store: Store, table: Any, *order: Any) -> list[dict[str, Any]]:
    async with store.connect() as conn:
        return [dict(r) for r in (await conn.execute(select(table).order_by(*order))).mappings()]


async def _save(store: Store, *kills: Any, cursor: int | None = None) -> dict[Kind, list[int]]:
    async with store.begin() as conn:
        return await store.killmails.save(conn, list(kills), (), cursor)


async def test_a_kill_is_kept_with_its_participants_and_queues_the_players_it_names(store: Store) -> None:
    added = await _save(store, kill(100, VICTIM, [ATTACKER, NPC]))
    assert added == {"character": [PILOT, OTHER], "corporation": [CORP, OTHER_CORP], "alliance": [ALLIANCE]}
    [row] = await _rows(store, t.killmails)
    assert (row["killmail_id"], row["hash"], row["attacker_count"], row["source"]) == (100, "h100", 2, "feed")
    assert row["killmail_time"] == dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    assert row["items"][0]["items"][0] == {"flag": 5, "item_type_id": 215, "singleton": 0,
                                           "quantity_destroyed": 100}
    assert (row["total_value"], row["labels"], row["zkb_sequence_id"]) == (1_000_000.0, ["pvp"], 100)
    people = await _rows(store, t.killmail_participants, t.killmail_participants.c.position)
    assert [(p["position"], p["is_victim"], p["character_id"], p["final_blow"]) for p in people] == [
        (0, True, PILOT, False), (1, False, OTHER, True), (2, False, None, False)]
    assert people[2]["faction_id"] == FACTION and people[1]["weapon_type_id"] == 2488
    pending = await _rows(store, t.sync_pending, t.sync_pending.c.kind, t.sync_pending.c.id)
    assert {(p["kind"], p["id"]) for p in pending} == {(k, i) for k, ids in added.items() for i in ids}
    assert not any(p["published"] for p in pending), "published by the caller once the save commits"


async def test_the_same_kill_again_is_neither_doubled_nor_queued_twice(store: Store) -> None:
    first = kill(100, VICTIM, [ATTACKER])
    await _save(store, first, first)
    assert await _save(store, first) == {}
    assert len(await _rows(store, t.killmails)) == 1
    assert len(await _rows(store, t.killmail_participants)) == 2
    async with store.connect() as conn:
        assert await store.killmails.held(conn, [100, 101]) == {100}


async def test_discovery_skips_what_is_held_pending_tombstoned_or_lost_for_good(store: Store) -> None:
    async with store.begin() as conn:
        await store.jobs.add(conn, "character", [PILOT], skip_fresh=False)
        await store.jobs.tombstone(conn, OTHER, "404")
        await store.jobs.record_failure(conn, "corporation", CORP, status=404, reason="gone", attempts=1,
                                        permanent=True)
        await store.jobs.record_failure(conn, "corporation", OTHER_CORP, status=502, reason="later",
                                        attempts=1, permanent=False)
    added = await _save(store, kill(100, VICTIM, [ATTACKER]))
    assert added == {"corporation": [OTHER_CORP], "alliance": [ALLIANCE]}


async def test_a_back_filled_kill_takes_the_feeds_zkb_and_an_older_block_never_replaces_a_newer(
        store: Store) -> None:
    await _save(store, kill(100, VICTIM, [ATTACKER], source="history", with_zkb=False))
    [row] = await _rows(store, t.killmails)
    assert (row["total_value"], row["sequence_id"], row["source"]) == (None, None, "history")
    await _save(store, kill(100, VICTIM, [ATTACKER], sequence_id=7, total=5.0))
    await _save(store, kill(100, VICTIM, [ATTACKER], sequence_id=3, total=9.0))
    await _save(store, kill(100, VICTIM, [ATTACKER], source="esi", with_zkb=False))
    [row] = await _rows(store, t.killmails)
    assert (row["total_value"], row["zkb_sequence_id"], row["sequence_id"]) == (5.0, 7, 7)
    assert row["source"] == "history", "the first writer's body and source stand"


async def test_a_republication_replaces_the_zkb_block_of_a_held_kill_only(store: Store) -> None:
    await _save(store, kill(100, VICTIM, [ATTACKER], sequence_id=7))
    async with store.begin() as conn:
        assert await store.killmails.refresh_zkb(conn, 100, zkb(100, total=42.0, labels=["reprice"],
                                                                 attacker_count=1), 7)
        assert not await store.killmails.refresh_zkb(conn, 555, zkb(555), 9)
    [row] = await _rows(store, t.killmails)
    assert (row["total_value"], row["labels"], row["zkb_attacker_count"]) == (42.0, ["reprice"], 1)


async def test_the_cursor_moves_with_the_save_and_holes_are_kept_until_filled(store: Store) -> None:
    async with store.begin() as conn:
        assert await store.killmails.load_cursor(conn) is None
        await store.killmails.note_head(conn, 500)
        assert await store.killmails.load_cursor(conn) is None, "the head alone is no cursor"
    await _save(store, kill(100, VICTIM, [ATTACKER]), cursor=101)
    async with store.begin() as conn:
        await store.killmails.record_hole(conn, 101, 102)
        await store.killmails.record_hole(conn, 103, 104)
        assert await store.killmails.load_cursor(conn) == 104
        assert await store.killmails.holes(conn, 10) == [101, 103]
        await store.killmails.fill_hole(conn, 101)
        assert await store.killmails.holes(conn, 10) == [103]


async def test_the_feed_state_shows_lag_holes_rejected_and_the_last_error(store: Store) -> None:
    rejected = Rejected(sequence_id=9, killmail_id=5, hash="x", reason="victim: field required", body=b"{}")
    async with store.begin() as conn:
        await store.killmails.save(conn, [kill(100, VICTIM, [ATTACKER])], [rejected], 10)
        await store.killmails.record_hole(conn, 10, 11)
        await store.killmails.note_head(conn, 40)
        await store.killmails.note_error(conn, "r2z2 answered 502")
    async with store.connect() as conn:
        state = await store.killmails.feed_state(conn)
    assert (state.cursor, state.head, state.lag_kills) == (11, 40, 29)
    assert (state.holes, state.rejected, state.stored) == (1, 1, 1)
    assert state.last_error == "r2z2 answered 502" and state.last_error_at is not None
    assert state.lag_s is not None and state.lag_s > 0
    async with store.begin() as conn:
        await store.killmails.note_error(conn, None)
        assert (await store.killmails.feed_state(conn)).last_error is None
    [kept] = await _rows(store, t.killmail_rejected)
    assert (kept["killmail_id"], kept["reason"], kept["body"]) == (5, "victim: field required", b"{}")


async def test_the_pace_gives_max_rps_turns_a_window_then_waits(store: Store) -> None:
    waits = []
    for _ in range(4):
        async with store.begin() as conn:
            waits.append(await store.killmails.reserve_pace(conn, 3))
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert feed_pace.WINDOW_S - 0.5 < waits[3] <= feed_pace.WINDOW_S
    async with store.connect() as conn:
        assert (await store.killmails.pace(conn)).recent == 3


async def test_a_refusal_pauses_every_turn_and_pauses_grow_until_an_answer(store: Store) -> None:
    async with store.begin() as conn:
        assert await store.killmails.pause_pace(conn, None, 6.0) == 6.0
        assert await store.killmails.pause_pace(conn, None, 6.0) == 12.0
        assert await store.killmails.pause_pace(conn, 30.0, 6.0) == 30.0
    async with store.begin() as conn:
        wait = await store.killmails.reserve_pace(conn, 10)
    assert 29.0 < wait <= 30.0
    async with store.begin() as conn:
        await store.killmails.calm_pace(conn)
        assert (await store.killmails.pace(conn)).refusals == 0
        assert await store.killmails.pause_pace(conn, None, 6.0) == 6.0


async def test_a_back_fill_day_counts_the_kills_of_its_day(store: Store) -> None:
    await _save(store, kill(100, VICTIM, [ATTACKER], time="2026-11-30T23:59:59Z"),
                kill(101, VICTIM, [ATTACKER], time="2026-12-01T00:00:00Z"),
                kill(102, VICTIM, [ATTACKER], time="2026-12-01T23:59:59.5Z"))
    async with store.begin() as conn:
        day = await store.killmails.backfill_day(conn, "20261201", listed=3, expected=3)
        assert (day.listed, day.stored, day.expected, day.finished_at, day.complete) == (3, 2, 3, None, False)
        day = await store.killmails.backfill_day(conn, "20261201", finished=True)
        assert (day.listed, day.stored, day.complete) == (3, 2, False)
        await store.killmails.backfill_day(conn, "20261130", listed=1, finished=True)
        days = await store.killmails.backfill_days(conn)
    assert [(d.day, d.stored, d.complete) for d in days] == [("20261201", 2, False), ("20261130", 1, True)]


@pytest.mark.parametrize("bad", ["2026-12-01", "20261301"])
async def test_a_back_fill_day_must_be_a_date(store: Store, bad: str) -> None:
    async with store.begin() as conn:
        with pytest.raises(ValueError):
            await store.killmails.backfill_day(conn, bad)


async def test_two_stores_on_one_database_share_the_pace(store: Store, store_url: str) -> None:
    """Two processes' stores (two engines on one database) taking turns at once never beat the cap."""
    async def turn(on: Store) -> float:
        async with on.begin() as conn:
            return await on.killmails.reserve_pace(conn, 5)

    other = as_store(engine_for(store_url), store_url, lend=True)
    try:
        waits = sorted(await asyncio.gather(*(turn(store if n % 2 else other) for n in range(12))))
    finally:
        await other.close()
    assert waits[4] < 0.5 < feed_pace.WINDOW_S - 0.3 < waits[5], "five go at once, the sixth a window later"
    assert waits[10] > 2 * feed_pace.WINDOW_S - 0.3


async def test_a_restart_after_a_gap_moves_the_cursor_and_wants_its_days_again(store: Store) -> None:
    await _save(store, kill(100, VICTIM, [ATTACKER], time="2026-12-01T10:00:00Z"), cursor=101)
    async with store.begin() as conn:
        await store.killmails.backfill_day(conn, "20261201", listed=1, finished=True)
        await store.killmails.restart_from_head(conn, 5000, ["20261201", "20261202"])
        assert await store.killmails.load_cursor(conn) == 5000
        days = {d.day: d for d in await store.killmails.backfill_days(conn)}
    assert set(days) == {"20261201", "20261202"}
    assert days["20261201"].finished_at is None and days["20261201"].listed == 1, "wanted again, counts kept"
    assert (days["20261202"].listed, days["20261202"].stored, days["20261202"].finished_at) == (0, 0, None)
