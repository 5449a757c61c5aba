"""killreport/lookup.py over a real store, on PostgreSQL and on SQLite: what is answered from the copy,
what is queued (once, through the pending set), and the bounded wait for what the workers fetch.

The workers are stood in for by their two visible effects on the copy, a stored row or a pending row
finished without one; the whole path through real workers is tests/embedded/test_lookup_cli.py and
tests/integration/test_lookup_cli.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest
from sqlalchemy import insert, select

from killreport.lookup import look_up
from killreport.queue.broker import QUEUE_NAMES
from killreport.queue.messages import Job, decode
from killreport.store import tables as t
from killreport.store.interface import Store
from tests.store.test_lookup_contract import ALLIANCES, CHARACTERS, CORPORATIONS, DELETED

pytestmark = pytest.mark.timeout(60)


class Published:
    """A job queue that keeps what is published on it (the lookup only publishes)."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, Job]] = []
        self.some = asyncio.Event()

    async def publish(self, queue: str, bodies: Sequence[bytes]) -> None:
        self.jobs += [(queue, decode(body)) for body in bodies]
        self.some.set()

    async def __call__(self) -> Published:
        """The queue, as look_up asks for it when something must be queued."""
        return self


async def _unreachable() -> Published:
    raise ConnectionError("the broker is down")


@pytest.fixture
async def seeded(store: Store) -> Store:
    async with store.begin() as conn:
        await conn.execute(insert(t.alliances), ALLIANCES)
        await conn.execute(insert(t.corporations), CORPORATIONS)
        await conn.execute(insert(t.characters), CHARACTERS)
        await conn.execute(insert(t.character_tombstones), [
            {"id": i, "deleted_seen_at": at, "reason": "deleted"} for i, at in DELETED.items()])
    return store


async def _pending(store: Store) -> set[tuple[str, int]]:
    async with store.connect() as conn:
        rows = await conn.execute(select(t.sync_pending.c.kind, t.sync_pending.c.id))
        return {(r.kind, r.id) for r in rows}


async def test_held_ids_are_answered_from_the_copy_with_their_corporation_and_alliance(seeded: Store) -> None:
    queue = Published()
    report = await look_up(seeded, queue, [90000001, 98000001, 99000002, 90000002], wait_s=5)
    shown = {a["id"]: a for a in report.as_json()["ids"]}
    assert shown[90000001] == {
        "id": 90000001, "status": "held", "kind": "character", "reason": None, "name": "test pilot",
        "ticker": None, "deleted": False,
        "corporation": {"id": 98000001, "name": "Test Corp", "ticker": "TST"}, "alliance": None}
    assert shown[98000001]["alliance"] == {"id": 99000002, "name": "Test Alliance Please Ignore",
                                           "ticker": "TEST"}
    assert (shown[99000002]["name"], shown[99000002]["ticker"]) == ("Test Alliance Please Ignore", "TEST")
    assert "corporation" not in shown[99000002] and "alliance" not in shown[99000002]
    assert shown[90000002]["deleted"] is True
    assert (report.queued, queue.jobs, await _pending(seeded)) == (0, [], set())
    assert report.waited_s < 1  # nothing to wait for
    unqueued = await look_up(seeded, _unreachable, [90000001], wait_s=5)
    assert unqueued.of("held") == [90000001]  # answered while the broker is down


async def test_an_id_to_queue_while_the_broker_is_down_fails_and_queues_nothing(seeded: Store) -> None:
    with pytest.raises(ConnectionError, match="the broker is down"):
        await look_up(seeded, _unreachable, [90000001, 90000009], wait_s=5)
    assert await _pending(seeded) == set()


async def test_an_id_the_copy_lacks_is_queued_once_and_pending_past_the_wait(seeded: Store) -> None:
    queue = Published()
    first = await look_up(seeded, queue, [90000009, 98000009, 99000009], wait_s=0.3, poll_s=0.05)
    again = await look_up(seeded, queue, [90000009], wait_s=0)
    assert [(a.status, a.kind) for a in first.answers] == [
        ("pending", "character"), ("pending", "corporation"), ("pending", "alliance")]
    assert 0.3 <= first.waited_s < 2
    assert (first.queued, again.queued, again.of("pending")) == (3, 0, [90000009])  # never a duplicate
    assert sorted(queue.jobs) == sorted([(QUEUE_NAMES["character"], Job("character", 90000009)),
                                         (QUEUE_NAMES["corporation"], Job("corporation", 98000009)),
                                         (QUEUE_NAMES["alliance"], Job("alliance", 99000009))])
    assert await _pending(seeded) == {("character", 90000009), ("corporation", 98000009),
                                      ("alliance", 99000009)}


async def test_npc_faction_ambiguous_and_invalid_ids_are_answered_and_never_queued(store: Store) -> None:
    ids = [1, 1000125, 3000001, 500001, 100_000_123, 0, -1, 30000142, 2**31]
    report = await look_up(store, _unreachable, ids, wait_s=5)  # nothing to queue: no broker asked for
    assert [(a.id, a.status, a.kind) for a in report.answers] == [
        (1, "npc", None), (1000125, "npc", "corporation"), (3000001, "npc", "character"),
        (500001, "faction", None), (100_000_123, "ambiguous", None), (0, "invalid", None),
        (-1, "invalid", None), (30000142, "invalid", None), (2**31, "invalid", None)]
    assert all(a.reason for a in report.answers)
    assert (report.queued, await _pending(store)) == (0, set())
    assert report.waited_s < 1


async def test_an_old_id_is_answered_under_the_kind_the_copy_holds_it(store: Store) -> None:
    async with store.begin() as conn:
        await conn.execute(insert(t.corporations), [{**CORPORATIONS[0], "id": 100_000_123,
                                                     "alliance_id": None}])
    report = await look_up(store, _unreachable, [100_000_123], wait_s=0)
    assert [(a.status, a.kind) for a in report.answers] == [("held", "corporation")]
    assert report.answers[0].record == {"name": "Test Corp", "ticker": "TST", "alliance": None}


async def test_the_wait_ends_when_every_queued_id_is_fetched(store: Store) -> None:
    queue = Published()

    async def workers() -> None:  # what a worker leaves: a stored row, or a pending row gone without one
        await queue.some.wait()
        await asyncio.sleep(0.3)
        async with store.begin() as conn:
            await conn.execute(insert(t.characters), [{**CHARACTERS[0], "id": 2_130_000_001,
                                                       "name": "Arrived", "corporation_id": 98000001}])
            await store.jobs.finish(conn, "character", 2_130_000_001, stored=True)
            await store.jobs.finish(conn, "character", 90000404)

    started = time.monotonic()
    fetching = asyncio.create_task(workers())
    report = await look_up(store, queue, [2_130_000_001, 90000404], wait_s=20, poll_s=0.05)
    await fetching
    assert [(a.status, a.kind) for a in report.answers] == [("held", "character"), ("unknown", "character")]
    assert report.answers[0].record == {"name": "Arrived", "ticker": None, "deleted": False,
                                        "corporation": {"id": 98000001, "name": None, "ticker": None},
                                        "alliance": None}
    assert time.monotonic() - started < 5 and report.of("pending") == []
