"""The Broker contract, run against StubBroker and TableQueue alike: what a worker may rely on.

Only the protocol is used (publish, consume, settle, stats, dead letters); time passes through the
harness: the stub's clock is advanced, the table queue really waits (its tiers are rows whose
`not_before` passes). RabbitBroker has its own tests against a real RabbitMQ
(tests/integration/test_rabbit_*.py); the assertions here are the ones those make too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.queue.broker import DEAD_LETTER_QUEUE, Broker, DeadLetter, Delivery, PublishFailed
from killreport.queue.messages import Job, decode, encode
from killreport.queue.stub import StubBroker
from killreport.queue.table import TableQueue
from killreport.queue.topology import Topology
from tests.embedded.sqlite_files import db_file, db_url, engine, migrated_template

__all__ = ["db_file", "db_url", "engine", "migrated_template"]

ALLIANCES = "alliance_sync_queue"
CORPS = "corporation_sync_queue"
TIERS = (0.5, 1.0)


@dataclass
class Harness:
    """A broker under test and how to let time pass for its retry tiers."""

    broker: Broker
    let_pass: Callable[[float], Awaitable[None]]


@pytest.fixture(params=["stub", "table"])
async def harness(request: pytest.FixtureRequest, engine: AsyncEngine) -> AsyncIterator[Harness]:
    """The broker under test; the stub ignores the (migrated, empty) file."""
    if request.param == "stub":
        stub = StubBroker(TIERS)

        async def advance(seconds: float) -> None:
            stub.advance(seconds)

        yield Harness(stub, advance)
        return
    table = TableQueue(engine, TIERS, poll_s=0.05, lend=True)  # as the runner's
    yield Harness(table, asyncio.sleep)
    await table.close()


def _jobs(*ids: int, kind: str = "alliance") -> list[bytes]:
    return [encode(Job(kind, i)) for i in ids]  # type: ignore[arg-type]


async def _take(deliveries: AsyncIterator[Delivery], n: int) -> list[Delivery]:
    async with asyncio.timeout(3):
        return [await anext(deliveries) for _ in range(n)]


async def _nothing_more(deliveries: AsyncIterator[Delivery], wait_s: float = 0.2) -> bool:
    try:
        async with asyncio.timeout(wait_s):
            await anext(deliveries)
    except TimeoutError:
        return True
    return False


async def _ready(broker: Broker) -> dict[str, tuple[int, int]]:
    return {s.name: (s.ready, s.consumers) for s in await broker.stats()}


async def test_publish_consume_ack_exactly_once(harness: Harness) -> None:
    broker = harness.broker
    await broker.publish(ALLIANCES, _jobs(99_000_001, 99_000_002))
    async with broker.consume([ALLIANCES], prefetch=5) as deliveries:
        got = await _take(deliveries, 2)
        for delivery in got:
            await delivery.ack()
        with pytest.raises(RuntimeError, match="already acked"):
            await got[0].ack()
        with pytest.raises(RuntimeError, match="already acked"):
            await got[1].requeue()
        assert await _nothing_more(deliveries)
    assert [d.body for d in got] == _jobs(99_000_001, 99_000_002)
    assert all(d.queue == ALLIANCES for d in got)
    assert (await _ready(broker))[ALLIANCES] == (0, 0)


async def test_prefetch_limits_unsettled_deliveries(harness: Harness) -> None:
    broker = harness.broker
    await broker.publish(ALLIANCES, _jobs(1_000, 2_000, 3_000))
    async with broker.consume([ALLIANCES], prefetch=2) as deliveries:
        first, _ = await _take(deliveries, 2)
        assert await _nothing_more(deliveries)
        await first.ack()
        (third,) = await _take(deliveries, 1)
        assert decode(third.body).id == 3_000


async def test_a_cancelled_wait_does_not_end_the_stream(harness: Harness) -> None:
    broker = harness.broker
    async with broker.consume([ALLIANCES], prefetch=1) as deliveries:
        assert await _nothing_more(deliveries)
        await broker.publish(ALLIANCES, _jobs(7))
        (delivery,) = await _take(deliveries, 1)
        assert delivery.body == _jobs(7)[0]


async def test_requeue_comes_back_first(harness: Harness) -> None:
    broker = harness.broker
    await broker.publish(ALLIANCES, _jobs(10, 20))
    async with broker.consume([ALLIANCES], prefetch=1) as deliveries:
        (first,) = await _take(deliveries, 1)
        await first.requeue()
        with pytest.raises(RuntimeError, match="already acked or requeued"):
            await first.ack()
        (again,) = await _take(deliveries, 1)
        assert again.body == first.body == _jobs(10)[0]
        await again.ack()
        (second,) = await _take(deliveries, 1)
        assert second.body == _jobs(20)[0]


async def test_unsettled_deliveries_return_when_the_context_exits(harness: Harness) -> None:
    broker = harness.broker
    await broker.publish(ALLIANCES, _jobs(10, 20, 30))
    async with broker.consume([ALLIANCES], prefetch=5) as deliveries:
        held = await _take(deliveries, 2)
    with pytest.raises(RuntimeError, match="returned"):
        await held[0].ack()
    with pytest.raises(RuntimeError, match="returned"):
        await held[1].requeue()
    async with broker.consume([ALLIANCES], prefetch=5) as deliveries:
        assert [d.body for d in await _take(deliveries, 3)] == _jobs(10, 20, 30)


async def test_consumes_several_queues_round_robin(harness: Harness) -> None:
    broker = harness.broker
    await broker.publish(ALLIANCES, _jobs(1, 2))
    await broker.publish(CORPS, _jobs(3, 4, kind="corporation"))
    async with broker.consume([ALLIANCES, CORPS], prefetch=10) as deliveries:
        got = await _take(deliveries, 4)
    assert [d.queue for d in got] == [ALLIANCES, CORPS, ALLIANCES, CORPS]
    assert [decode(d.body).id for d in got] == [1, 3, 2, 4]


async def test_a_waiting_consumer_wakes_on_publish(harness: Harness) -> None:
    broker = harness.broker
    async with broker.consume([ALLIANCES], prefetch=1) as deliveries:
        waiting = asyncio.ensure_future(anext(deliveries))
        await asyncio.sleep(0)
        await broker.publish(ALLIANCES, _jobs(7))
        async with asyncio.timeout(1):
            assert (await waiting).body == _jobs(7)[0]


async def test_retries_wait_for_their_tier_then_come_from_the_main_queue(harness: Harness) -> None:
    broker = harness.broker
    await broker.publish_retry(ALLIANCES, b"one", 1)
    await broker.publish_retry(ALLIANCES, b"many", 9)  # beyond the last tier: the last tier's delay
    stats = await _ready(broker)
    assert stats[ALLIANCES] == (0, 0)
    assert (stats[f"{ALLIANCES}.retry.1"][0], stats[f"{ALLIANCES}.retry.2"][0]) == (1, 1)
    async with broker.consume([ALLIANCES], prefetch=5) as deliveries:
        assert await _nothing_more(deliveries, 0.1)
        await harness.let_pass(0.6)
        (first,) = await _take(deliveries, 1)
        await harness.let_pass(0.6)
        (second,) = await _take(deliveries, 1)
    assert (first.body, first.queue, second.body, second.queue) == (b"one", ALLIANCES, b"many", ALLIANCES)


async def test_publish_retry_refuses_non_main_queues_and_attempt_zero(harness: Harness) -> None:
    with pytest.raises(ValueError, match="not a main queue"):
        await harness.broker.publish_retry(DEAD_LETTER_QUEUE, b"x", 1)
    with pytest.raises(ValueError, match="1-based"):
        await harness.broker.publish_retry(ALLIANCES, b"x", 0)


async def test_stats_name_every_queue_and_purge_keeps_the_dead_letters(harness: Harness) -> None:
    broker = harness.broker
    await broker.publish(ALLIANCES, _jobs(1, 2))
    await broker.publish_retry(ALLIANCES, b"r", 3)
    await broker.publish_dead(DeadLetter(b"d", None, None, "why", 0, "err", {}))
    async with broker.consume([CORPS], prefetch=1):
        stats = await _ready(broker)
    assert set(stats) == {spec.name for spec in Topology(TIERS).all_specs()}
    assert stats[ALLIANCES] == (2, 0)
    assert stats[CORPS] == (0, 1)
    assert stats[f"{ALLIANCES}.retry.2"] == (1, 0)
    assert stats[DEAD_LETTER_QUEUE] == (1, 0)
    lost = await broker.purge()
    assert lost[ALLIANCES] == 2 and lost[f"{ALLIANCES}.retry.2"] == 1 and DEAD_LETTER_QUEUE not in lost
    assert sum(ready for ready, _ in (await _ready(broker)).values()) == 1


async def test_dead_letters_list_replay_and_purge(harness: Harness) -> None:
    broker = harness.broker
    letters = [
        DeadLetter(encode(Job("alliance", 5, 4)), "alliance", 5, "exhausted", 5, "503", {}),
        DeadLetter(b"\xffjunk", None, None, "malformed message", 0, "not UTF-8", {}),
        DeadLetter(encode(Job("corporation", 6, 4)), "corporation", 6, "exhausted", 5, "timeout", {}),
        DeadLetter(encode(Job("alliance", 7, 4)), "alliance", 7, "exhausted", 5, "503", {"x-extra": 1}),
    ]
    for letter in letters:
        await broker.publish_dead(letter)
    listed = await broker.dead_letters(10)
    assert [d.body for d in listed] == [d.body for d in letters]
    assert [d.body for d in await broker.dead_letters(2)] == [d.body for d in letters[:2]]
    assert listed[0].headers["x-kr-queue"] == ALLIANCES and listed[3].headers["x-extra"] == 1
    assert [(d.kind, d.entity_id, d.reason, d.attempts, d.last_error) for d in listed[:2]] == [
        ("alliance", 5, "exhausted", 5, "503"), (None, None, "malformed message", 0, "not UTF-8")]
    assert await broker.replay_dead("alliance", limit=1) == 1
    assert await broker.replay_dead(None, None) == 2
    assert [d.body for d in await broker.dead_letters(10)] == [b"\xffjunk"]
    async with broker.consume([ALLIANCES, CORPS], prefetch=5) as deliveries:
        got = {d.body for d in await _take(deliveries, 3)}
    assert got == {encode(Job("alliance", 5)), encode(Job("alliance", 7)), encode(Job("corporation", 6))}
    assert await broker.purge_dead() == 1
    assert await broker.dead_letters(10) == []


async def test_malformed_bodies_are_delivered_untouched(harness: Harness) -> None:
    await harness.broker.publish(ALLIANCES, [b"\xff\x00not json", b""])
    async with harness.broker.consume([ALLIANCES], prefetch=5) as deliveries:
        assert [d.body for d in await _take(deliveries, 2)] == [b"\xff\x00not json", b""]


async def test_unknown_queue_and_closed_broker(harness: Harness) -> None:
    broker = harness.broker
    with pytest.raises(PublishFailed, match="NO_ROUTE"):
        await broker.publish("nope", [b"x"])
    async with broker.consume([ALLIANCES], prefetch=1) as deliveries:
        await broker.close()
        async with asyncio.timeout(1):
            assert [d async for d in deliveries] == []
    with pytest.raises(PublishFailed, match="closed"):
        await broker.publish(ALLIANCES, _jobs(1))
    with pytest.raises(PublishFailed, match="closed"):
        await broker.publish_dead(DeadLetter(b"d", None, None, "why", 0, "err", {}))
