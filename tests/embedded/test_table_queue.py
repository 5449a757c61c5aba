"""What only TableQueue has to show: other processes on the file, crashes, stale tiers, failures.

The Broker contract itself is tests/embedded/test_broker_contract.py (run on StubBroker too).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.config import Settings
from killreport.queue.broker import BrokerError, DeadLetter, Delivery, PublishFailed
from killreport.queue.messages import Job, decode, encode
from killreport.queue.table import TableQueue
from killreport.store.sqlite.engine import open_engine
from killreport.store.sqlite.tables import dead_letters, queue_messages
from killreport.worker.runner import consume
from tests.embedded.sqlite_files import db_file, db_url, engine, migrated_template, other_engine

__all__ = ["db_file", "db_url", "engine", "migrated_template", "other_engine"]

ROOT = Path(__file__).resolve().parents[2]
ALLIANCES = "alliance_sync_queue"
CORPS = "corporation_sync_queue"
CHARACTERS = "character_sync_queue"


def _jobs(*ids: int) -> list[bytes]:
    return [encode(Job("alliance", i)) for i in ids]


async def _take(deliveries: AsyncIterator[Delivery], n: int, within_s: float = 5.0) -> list[Delivery]:
    async with asyncio.timeout(within_s):
        return [await anext(deliveries) for _ in range(n)]


async def _nothing_more(deliveries: AsyncIterator[Delivery], wait_s: float) -> bool:
    try:
        async with asyncio.timeout(wait_s):
            await anext(deliveries)
    except TimeoutError:
        return True
    return False


def _letter(entity_id: int) -> DeadLetter:
    return DeadLetter(encode(Job("alliance", entity_id, 5)), "alliance", entity_id, "exhausted", 5, "503", {})


@pytest.fixture
def queue(engine: AsyncEngine) -> TableQueue:
    """The consumer's queue, polling quickly so tests stay short."""
    return TableQueue(engine, (0.5, 1.0), poll_s=0.05)


async def test_another_engine_publishes_while_this_one_consumes(queue: TableQueue,
                                                                other_engine: AsyncEngine) -> None:
    publisher = TableQueue(other_engine)  # `sync-all` in a second terminal: its own engine
    async with queue.consume([ALLIANCES], prefetch=4) as deliveries:
        assert await _nothing_more(deliveries, 0.1)
        await publisher.publish(ALLIANCES, _jobs(1, 2))
        got = await _take(deliveries, 2, within_s=1.0)  # seen by a poll, no wake from that process
        for delivery in got:
            await delivery.ack()
    assert [decode(d.body).id for d in got] == [1, 2]
    assert {s.name: s.ready for s in await publisher.stats()}[ALLIANCES] == 0


async def test_a_publishing_process_and_the_consumer_lose_and_double_nothing(queue: TableQueue,
                                                                             db_url: str) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.embedded.queue_child", "publish", db_url, "300", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE)
    seen: list[int] = []
    async with queue.consume([ALLIANCES], prefetch=8) as deliveries:
        while len(seen) < 300:
            (delivery,) = await _take(deliveries, 1, within_s=30)
            seen.append(decode(delivery.body).id)
            await delivery.ack()
        assert await _nothing_more(deliveries, 0.3)
    out, _ = await child.communicate()
    assert child.returncode == 0 and out.decode().strip() == "published"
    assert sorted(seen) == list(range(1, 301))


@pytest.fixture
def holder_process(db_url: str) -> Iterator[subprocess.Popen[str]]:
    """A consumer process that took two deliveries and holds them."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.embedded.queue_child", "hold", db_url, "2"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


async def test_a_killed_consumer_loses_nothing(queue: TableQueue,
                                               holder_process: subprocess.Popen[str]) -> None:
    await queue.publish(ALLIANCES, _jobs(1, 2, 3))
    assert holder_process.stdout is not None
    assert await asyncio.to_thread(holder_process.stdout.readline) == "held\n"
    os.kill(holder_process.pid, signal.SIGKILL)
    holder_process.wait()
    async with queue.consume([ALLIANCES], prefetch=5) as deliveries:
        got = await _take(deliveries, 3)
    assert [decode(d.body).id for d in got] == [1, 2, 3]


async def test_what_is_in_flight_is_never_handed_out_twice(queue: TableQueue) -> None:
    await queue.publish(ALLIANCES, _jobs(1, 2, 3))
    async with queue.consume([ALLIANCES], prefetch=10) as deliveries:
        held = await _take(deliveries, 3)
        assert await _nothing_more(deliveries, 0.4), "a row in flight was handed out again"
        await held[1].requeue()
        (again,) = await _take(deliveries, 1)
        assert again.body == held[1].body
        assert await _nothing_more(deliveries, 0.2)


async def test_characters_go_first_and_the_other_queues_are_not_starved(queue: TableQueue) -> None:
    chars = [encode(Job("character", 90_000_000 + i)) for i in range(30)]
    await queue.publish(CHARACTERS, chars)
    await queue.publish(ALLIANCES, _jobs(1, 2))
    await queue.publish(CORPS, [encode(Job("corporation", 98_000_000 + i)) for i in range(3)])
    async with queue.consume([ALLIANCES, CORPS, CHARACTERS], prefetch=10) as deliveries:
        first = await _take(deliveries, 10)
        assert [d.body for d in first[:8]] == chars[:8]  # oldest characters first
        assert {decode(d.body).kind for d in first[8:]} == {"alliance", "corporation"}
        seen = [d.body for d in first]
        for delivery in first:
            await delivery.ack()
        while len(seen) < 35:
            (delivery,) = await _take(deliveries, 1)
            seen.append(delivery.body)
            await delivery.ack()
        assert sorted(seen) == sorted([*chars, *_jobs(1, 2), *(
            encode(Job("corporation", 98_000_000 + i)) for i in range(3))])
        assert await _nothing_more(deliveries, 0.2)


async def test_two_consume_contexts_of_one_queue_share_what_is_in_flight(queue: TableQueue) -> None:
    await queue.publish(ALLIANCES, _jobs(1, 2))
    one, two = queue.consume([ALLIANCES], prefetch=1), queue.consume([ALLIANCES], prefetch=1)
    async with one as first, two as second:
        a, b = (await _take(first, 1))[0], (await _take(second, 1))[0]
        assert {a.body, b.body} == set(_jobs(1, 2))


async def test_an_ack_after_a_purge_never_deletes_a_newer_message(queue: TableQueue,
                                                                  engine: AsyncEngine) -> None:
    await queue.publish(ALLIANCES, _jobs(1))
    async with queue.consume([ALLIANCES], prefetch=1) as deliveries:
        (old,) = await _take(deliveries, 1)
        assert (await queue.purge())[ALLIANCES] == 1  # `purge` from another terminal, say
        await queue.publish(ALLIANCES, _jobs(2))
        async with engine.connect() as conn:  # AUTOINCREMENT: the freed seq is not given again
            assert (await conn.execute(select(queue_messages.c.seq))).scalars().all() == [2]
        await old.ack()
    async with queue.consume([ALLIANCES], prefetch=1) as deliveries:
        assert [d.body for d in await _take(deliveries, 1)] == _jobs(2)


async def test_retries_parked_under_other_delays_are_still_counted_and_delivered(
        queue: TableQueue, engine: AsyncEngine) -> None:
    async with engine.begin() as conn:  # tiers 5 and 7 from an older RETRY_DELAYS_S: 7 is due
        await conn.execute(insert(queue_messages), [
            {"queue": f"{ALLIANCES}.retry.5", "body": b"later", "not_before": 4e9},
            {"queue": f"{ALLIANCES}.retry.7", "body": b"due", "not_before": 0.0},
            {"queue": "someone_elses_queue", "body": b"foreign", "not_before": 0.0}])
    stats = {s.name: s.ready for s in await queue.stats()}
    assert stats[ALLIANCES] == 1 and stats[f"{ALLIANCES}.retry.5"] == 1 and "someone_elses_queue" not in stats
    async with queue.consume([ALLIANCES, CORPS], prefetch=5) as deliveries:
        (due,) = await _take(deliveries, 1)
        assert (due.body, due.queue) == (b"due", ALLIANCES)
        assert await _nothing_more(deliveries, 0.2)
    assert (await queue.purge())[f"{ALLIANCES}.retry.5"] == 1


@pytest.fixture
def runner(db_file: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the file's runner lock as `killreport run`."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.embedded.lock_child", str(db_file),
                             "killreport run", "hold"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    yield proc
    proc.kill()
    proc.wait()


async def test_consumers_show_a_runner_in_another_process(queue: TableQueue, db_file: Path) -> None:
    assert {s.consumers for s in await queue.stats()} == {0}
    async with queue.consume([CORPS], prefetch=1):
        assert {s.name: s.consumers for s in await queue.stats()}[CORPS] == 1


async def test_consumers_show_a_runner_holding_the_lock_in_another_process(
        queue: TableQueue, runner: subprocess.Popen[str]) -> None:
    consumers = {s.name: s.consumers for s in await queue.stats()}
    assert consumers[ALLIANCES] == consumers[CORPS] == 1 and consumers[f"{ALLIANCES}.retry.1"] == 0
    runner.kill()
    runner.wait()
    assert {s.consumers for s in await queue.stats()} == {0}


async def test_replays_from_two_processes_move_each_letter_once(queue: TableQueue,
                                                                other_engine: AsyncEngine) -> None:
    for i in range(1, 1201):
        await queue.publish_dead(_letter(i))
    other = TableQueue(other_engine)
    moved = await asyncio.gather(queue.replay_dead(None, None), other.replay_dead(None, None))
    assert sum(moved) == 1200
    assert await queue.dead_letters(1) == []
    assert {s.name: s.ready for s in await queue.stats()}[ALLIANCES] == 1200


async def test_a_replay_limit_counts_moved_letters_only(queue: TableQueue) -> None:
    await queue.publish_dead(DeadLetter(b"junk", None, None, "malformed message", 0, "x", {}))
    for i in (1, 2, 3):
        await queue.publish_dead(_letter(i))
    assert await queue.replay_dead("alliance", 2) == 2
    assert [d.body for d in await queue.dead_letters(10)] == [b"junk", encode(Job("alliance", 3, 5))]
    assert await queue.replay_dead("corporation", None) == 0
    assert await queue.replay_dead(None, 0) == 0


async def test_headers_json_cannot_hold_are_kept_as_text(queue: TableQueue) -> None:
    error = "x" * 5000
    await queue.publish_dead(DeadLetter(b"b", "alliance", 1, "exhausted", 5, error, {"x-raw": b"\x00\xff"}))
    (letter,) = await queue.dead_letters(1)
    assert letter.headers["x-raw"] == "b'\\x00\\xff'"
    assert len(letter.last_error) == 2000


@pytest.fixture
async def schemaless(tmp_path: Path) -> AsyncIterator[TableQueue]:
    """A queue on a file nobody migrated."""
    made = open_engine(f"sqlite:///{tmp_path / 'bare.db'}")
    yield TableQueue(made)
    await made.dispose()


async def test_a_file_without_the_schema_fails_each_call_with_the_cause(schemaless: TableQueue) -> None:
    letter = DeadLetter(b"d", None, None, "why", 0, "err", {})
    for publish in (schemaless.publish(ALLIANCES, _jobs(1)), schemaless.publish_retry(ALLIANCES, b"x", 1)):
        with pytest.raises(PublishFailed, match="no such table: queue_messages"):
            await publish
    with pytest.raises(PublishFailed, match="dead-lettering failed: no such table: dead_letters"):
        await schemaless.publish_dead(letter)
    with pytest.raises(BrokerError, match="no such table"):
        await schemaless.stats()
    with pytest.raises(BrokerError, match="no such table"):
        await schemaless.dead_letters(1)
    with pytest.raises(BrokerError, match="purging the queues failed: no such table"):
        await schemaless.purge()


async def test_arguments_that_make_no_sense_are_refused(queue: TableQueue) -> None:
    with pytest.raises(ValueError, match="limit must be >= 0"):
        await queue.dead_letters(-1)
    with pytest.raises(ValueError, match="limit must be >= 0"):
        await queue.replay_dead(None, -1)
    with pytest.raises(ValueError, match="prefetch >= 1"):
        async with queue.consume([ALLIANCES], prefetch=0):
            pass
    with pytest.raises(ValueError, match="at least one queue"):
        async with queue.consume([], prefetch=1):
            pass
    with pytest.raises(BrokerError, match="not a main queue"):
        async with queue.consume([f"{ALLIANCES}.retry.1"], prefetch=1):
            pass


@pytest.fixture
async def impatient(db_file: Path) -> AsyncIterator[AsyncEngine]:
    """An engine that waits only 100 ms for the file's write lock."""
    made = open_engine(f"sqlite:///{db_file}", busy_timeout_ms=100)
    yield made
    await made.dispose()


async def test_acks_the_database_refuses_leave_the_deliveries_to_be_requeued(
        impatient: AsyncEngine, db_file: Path) -> None:
    queue = TableQueue(impatient, poll_s=0.05)
    await queue.publish(ALLIANCES, _jobs(1, 2))
    async with queue.consume([ALLIANCES], prefetch=2) as deliveries:
        held = await _take(deliveries, 2)
        writer = sqlite3.connect(db_file, isolation_level=None)  # another process mid-transaction
        writer.execute("BEGIN IMMEDIATE")
        try:
            failed = await asyncio.gather(*(d.ack() for d in held), return_exceptions=True)
            assert all("database is locked" in str(exc) for exc in failed), failed
            with pytest.raises(PublishFailed, match="database is locked"):
                await queue.publish(ALLIANCES, _jobs(3))
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        for delivery in held:
            await delivery.requeue()
        again = await _take(deliveries, 2)
        assert [d.body for d in again] == _jobs(1, 2)
        await asyncio.gather(*(d.ack() for d in again))
    async with impatient.connect() as conn:
        assert (await conn.execute(select(queue_messages.c.seq))).all() == []
        assert (await conn.execute(select(dead_letters.c.seq))).all() == []


async def test_many_acks_at_once_all_commit(queue: TableQueue, engine: AsyncEngine) -> None:
    await queue.publish(ALLIANCES, _jobs(*range(1, 201)))
    async with queue.consume([ALLIANCES], prefetch=200) as deliveries:
        held = await _take(deliveries, 200)
        await asyncio.gather(*(d.ack() for d in held))
        assert await _nothing_more(deliveries, 0.2)
    async with engine.connect() as conn:
        assert (await conn.execute(select(queue_messages.c.seq))).all() == []


async def test_the_worker_loop_runs_every_job_once_and_stops(queue: TableQueue, db_url: str) -> None:
    settings = Settings(database_url=db_url, worker_concurrency=4, shutdown_timeout_s=5, _env_file=None)
    await queue.publish(ALLIANCES, _jobs(*range(1, 101)))
    await queue.publish(CORPS, [encode(Job("corporation", i)) for i in range(1, 51)])
    done: list[tuple[str, int]] = []
    stop = asyncio.Event()

    async def handle(delivery: Delivery) -> None:
        await asyncio.sleep(0.001)
        done.append((delivery.queue, decode(delivery.body).id))
        await delivery.ack()
        if len(done) == 150:
            stop.set()

    await asyncio.wait_for(consume(queue, handle, ("alliance", "corporation"), settings, stop), 30)
    expected = [(ALLIANCES, i) for i in range(1, 101)] + [(CORPS, i) for i in range(1, 51)]
    assert sorted(done) == sorted(expected)
    assert sum(s.ready for s in await queue.stats()) == 0


async def test_a_seq_is_never_reused_after_a_purge(queue: TableQueue, engine: AsyncEngine) -> None:
    await queue.publish(ALLIANCES, _jobs(1))
    await queue.publish_dead(_letter(1))
    async with engine.connect() as conn:
        first = (await conn.execute(select(queue_messages.c.seq))).scalar_one()
        first_dead = (await conn.execute(select(dead_letters.c.seq))).scalar_one()
    await queue.purge()
    await queue.purge_dead()
    await queue.publish(ALLIANCES, _jobs(1))
    await queue.publish_dead(_letter(1))
    async with engine.connect() as conn:
        assert (await conn.execute(select(queue_messages.c.seq))).scalar_one() > first
        assert (await conn.execute(select(dead_letters.c.seq))).scalar_one() > first_dead
