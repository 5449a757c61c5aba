"""killfeed/adapter.py over a real store (PostgreSQL and SQLite): a save publishes the players its kills
name once it has committed; a broker that is down loses nothing (they stay pending, unpublished, for a
worker's janitor); the shared pace hands out slots and pauses through the database."""

from __future__ import annotations

import json

import pytest

from killreport.backfill.shared_pace import StoredPace
from killreport.domain.killmail import Kill, Package
from killreport.killfeed.adapter import StoredKillmails
from killreport.queue.broker import QUEUE_NAMES, PublishFailed
from killreport.queue.messages import decode
from killreport.queue.stub import StubBroker
from killreport.store import killmail_rows
from killreport.store.interface import Store
from tests.unit.test_r2z2_follower import package

FIRST = 1_000_000


def a_package(number: int) -> Package:
    return Package.model_validate_json(json.dumps(package(number)))


async def test_a_save_stores_moves_the_cursor_and_publishes_who_the_kill_names(store: Store) -> None:
    broker = StubBroker()
    kills = StoredKillmails(store, broker)
    assert await kills.load_cursor() is None
    await kills.save([a_package(FIRST)], [], FIRST + 1)
    assert await kills.load_cursor() == FIRST + 1
    published = {kind: sorted(decode(body).id for body in broker.queues[queue])
                 for kind, queue in QUEUE_NAMES.items()}
    kill = Kill.of(a_package(FIRST))
    assert published == killmail_rows.named(killmail_rows.participant_rows(kill)) and published["character"]
    async with store.connect() as conn:
        assert await store.killmails.held(conn, [130_000_000 + FIRST]) == {130_000_000 + FIRST}
        for kind in QUEUE_NAMES:
            assert await store.jobs.unpublished(conn, kind) == [], "all confirmed"
    await kills.save([a_package(FIRST)], [], None)  # asked again after a crash: nothing doubles
    assert sum(len(q) for q in broker.queues.values()) == sum(len(v) for v in published.values())


async def test_a_broker_that_is_down_leaves_them_pending_for_the_janitor(store: Store) -> None:
    broker = StubBroker()
    broker.fail_publish = PublishFailed("the broker went away")
    kills = StoredKillmails(store, broker)
    await kills.save([a_package(FIRST)], [], FIRST + 1)  # no error: the kill is kept all the same
    assert await kills.load_cursor() == FIRST + 1
    async with store.connect() as conn:
        waiting = await store.jobs.unpublished(conn, "character")
    assert waiting and all(not q for q in broker.queues.values())


async def test_holes_head_and_errors_go_through_to_the_feed_state(store: Store) -> None:
    kills = StoredKillmails(store, StubBroker())
    await kills.save([a_package(FIRST + 2)], [], FIRST)
    await kills.record_hole(FIRST, FIRST + 1)
    await kills.note_head(FIRST + 40)
    await kills.note_error("ServerError: 503")
    assert await kills.holes(10) == [FIRST]
    await kills.fill_hole(FIRST)
    assert await kills.holes(10) == []
    async with store.connect() as conn:
        state = await store.killmails.feed_state(conn)
    assert (state.cursor, state.head, state.last_error) == (FIRST + 1, FIRST + 40, "ServerError: 503")
    await kills.note_error(None)
    async with store.connect() as conn:
        assert (await store.killmails.feed_state(conn)).last_error is None


@pytest.mark.parametrize("max_rps", [1, 3])
async def test_the_shared_pace_gives_max_rps_slots_then_a_wait_and_a_refusal_pauses(
        store: Store, max_rps: int) -> None:
    pace = StoredPace(store, max_rps)
    waits = [await pace.turn() for _ in range(max_rps + 1)]
    assert waits[:max_rps] == [0.0] * max_rps and waits[-1] > 0.5
    assert 9.0 <= await pace.refused(None, 10.0) <= 10.0
    assert await pace.turn() > 8.0
    await pace.answered()
    assert 9.0 <= await pace.refused(None, 10.0) <= 10.0, "calmed: the next pause starts small again"
