"""StubBroker behaves like the Broker protocol promises, and shows tests what workers did."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from killreport.queue.broker import (
    DEAD_LETTER_QUEUE,
    Broker,
    BrokerUnavailable,
    DeadLetter,
    Delivery,
    PublishFailed,
)
from killreport.queue.dead import letter_from, letter_headers
from killreport.queue.messages import Job, decode, encode
from killreport.queue.stub import StubBroker

ALLIANCES = "alliance_sync_queue"
CORPS = "corporation_sync_queue"


def _jobs(*ids: int, kind: str = "alliance") -> list[bytes]:
    return [encode(Job(kind, i)) for i in ids]  # type: ignore[arg-type]


async def _take(deliveries: AsyncIterator[Delivery], n: int) -> list[Delivery]:
    async with asyncio.timeout(2):
        return [await anext(deliveries) for _ in range(n)]


async def _nothing_more(deliveries: AsyncIterator[Delivery]) -> bool:
    try:
        async with asyncio.timeout(0.05):
            await anext(deliveries)
    except TimeoutError:
        return True
    return False


def test_stub_satisfies_the_protocol() -> None:
    broker: Broker = StubBroker()
    assert broker is not None


async def test_publish_consume_ack_exactly_once() -> None:
    broker = StubBroker()
    await broker.publish(ALLIANCES, _jobs(1_000_001 + 98_000_000, 99_000_002))
    async with broker.consume([ALLIANCES], prefetch=5) as deliveries:
        got = await _take(deliveries, 2)
        for delivery in got:
            await delivery.ack()
        with pytest.raises(RuntimeError, match="already acked"):
            await got[0].ack()
    assert [d.acks for d in broker.deliveries] == [1, 1]
    assert broker.acked() == _jobs(99_000_001, 99_000_002)
    assert broker.queues[ALLIANCES] == type(broker.queues[ALLIANCES])()


async def test_prefetch_limits_unsettled_deliveries() -> None:
    broker = StubBroker()
    await broker.publish(ALLIANCES, _jobs(1_000, 2_000, 3_000))
    async with broker.consume([ALLIANCES], prefetch=2) as deliveries:
        first, _ = await _take(deliveries, 2)
        assert await _nothing_more(deliveries)
        await first.ack()
        (third,) = await _take(deliveries, 1)
        assert decode(third.body).id == 3_000


async def test_a_cancelled_wait_does_not_end_the_stream() -> None:
    broker = StubBroker()
    async with broker.consume([ALLIANCES], prefetch=1) as deliveries:
        assert await _nothing_more(deliveries)
        await broker.publish(ALLIANCES, _jobs(7))
        (delivery,) = await _take(deliveries, 1)
        assert delivery.body == _jobs(7)[0]


async def test_requeue_goes_to_the_front_and_is_redelivered() -> None:
    broker = StubBroker()
    await broker.publish(ALLIANCES, _jobs(10, 20))
    async with broker.consume([ALLIANCES], prefetch=1) as deliveries:
        (first,) = await _take(deliveries, 1)
        await first.requeue()
        (again,) = await _take(deliveries, 1)
        assert again.body == first.body
        await again.ack()
    assert [(d.acks, d.requeues) for d in broker.deliveries] == [(0, 1), (1, 0)]


async def test_unsettled_deliveries_return_when_the_context_exits() -> None:
    broker = StubBroker()
    await broker.publish(ALLIANCES, _jobs(10, 20, 30))
    async with broker.consume([ALLIANCES], prefetch=5) as deliveries:
        await _take(deliveries, 2)
    held = broker.deliveries
    assert [d.returned_on_exit for d in held] == [True, True]
    assert list(broker.queues[ALLIANCES]) == _jobs(10, 20, 30)
    with pytest.raises(RuntimeError, match="returned"):
        await held[0].ack()
    assert held[0].acks == 0


async def test_consumes_several_queues_round_robin() -> None:
    broker = StubBroker()
    await broker.publish(ALLIANCES, _jobs(1, 2))
    await broker.publish(CORPS, _jobs(3, 4, kind="corporation"))
    async with broker.consume([ALLIANCES, CORPS], prefetch=10) as deliveries:
        got = await _take(deliveries, 4)
    assert [d.queue for d in got] == [ALLIANCES, CORPS, ALLIANCES, CORPS]


async def test_a_waiting_consumer_wakes_on_publish() -> None:
    broker = StubBroker()
    async with broker.consume([ALLIANCES], prefetch=1) as deliveries:
        waiting = asyncio.ensure_future(anext(deliveries))
        await asyncio.sleep(0)
        await broker.publish(ALLIANCES, _jobs(7))
        async with asyncio.timeout(1):
            assert (await waiting).body == _jobs(7)[0]


async def test_retries_wait_for_their_tier_delay() -> None:
    broker = StubBroker((5, 30))
    await broker.publish_retry(ALLIANCES, b"one", 1)
    await broker.publish_retry(ALLIANCES, b"many", 9)
    assert broker.retrying(ALLIANCES) == [b"one", b"many"]
    assert broker.advance(4.9) == 0
    assert broker.advance(0.1) == 1
    assert list(broker.queues[ALLIANCES]) == [b"one"]
    assert broker.advance(25) == 1
    assert list(broker.queues[ALLIANCES]) == [b"one", b"many"]


async def test_injected_clock_and_release_all() -> None:
    now = [100.0]
    broker = StubBroker((5,), clock=lambda: now[0])
    await broker.publish_retry(CORPS, b"a", 1)
    await broker.publish_retry(CORPS, b"b", 1)
    assert broker.release_retries() == 0
    now[0] = 105.0
    assert broker.release_retries() == 2
    await broker.publish_retry(CORPS, b"c", 1)
    assert broker.release_retries(all_=True) == 1


async def test_publish_retry_refuses_non_main_queues_and_attempt_zero() -> None:
    broker = StubBroker()
    with pytest.raises(ValueError, match="not a main queue"):
        await broker.publish_retry(DEAD_LETTER_QUEUE, b"x", 1)
    with pytest.raises(ValueError, match="1-based"):
        await broker.publish_retry(ALLIANCES, b"x", 0)


async def test_stats_and_purge() -> None:
    broker = StubBroker((1, 2))
    await broker.publish(ALLIANCES, _jobs(1, 2))
    await broker.publish_retry(ALLIANCES, b"r", 3)
    await broker.publish_dead(DeadLetter(b"d", None, None, "why", 0, "err", {}))
    async with broker.consume([CORPS], prefetch=1):
        stats = {s.name: (s.ready, s.consumers) for s in await broker.stats()}
    assert stats[ALLIANCES] == (2, 0)
    assert stats[CORPS] == (0, 1)
    assert stats[f"{ALLIANCES}.retry.2"] == (1, 0)
    assert stats[DEAD_LETTER_QUEUE] == (1, 0)
    lost = await broker.purge()
    assert lost[ALLIANCES] == 2 and lost[f"{ALLIANCES}.retry.2"] == 1 and DEAD_LETTER_QUEUE not in lost
    assert sum(s.ready for s in await broker.stats()) == 1


async def test_dead_letters_replay_and_purge() -> None:
    broker = StubBroker()
    letters = [
        DeadLetter(encode(Job("alliance", 5, 4)), "alliance", 5, "exhausted", 5, "503", {}),
        DeadLetter(b"\xffjunk", None, None, "malformed message", 0, "not UTF-8", {}),
        DeadLetter(encode(Job("corporation", 6, 4)), "corporation", 6, "exhausted", 5, "timeout", {}),
        DeadLetter(encode(Job("alliance", 7, 4)), "alliance", 7, "exhausted", 5, "503", {}),
    ]
    for letter in letters:
        await broker.publish_dead(letter)
    listed = await broker.dead_letters(10)
    assert [d.body for d in listed] == [d.body for d in letters]
    assert listed[0].headers["x-kr-queue"] == ALLIANCES
    assert await broker.replay_dead("alliance", limit=1) == 1
    assert list(broker.queues[ALLIANCES]) == [encode(Job("alliance", 5))]
    assert await broker.replay_dead(None, None) == 2
    assert list(broker.queues[CORPS]) == [encode(Job("corporation", 6))]
    assert [d.body for d in await broker.dead_letters(10)] == [b"\xffjunk"]
    assert await broker.purge_dead() == 1
    assert await broker.dead_letters(10) == []


async def test_fail_publish_simulates_a_broker_that_is_down() -> None:
    broker = StubBroker()
    broker.fail_publish = BrokerUnavailable("down")
    with pytest.raises(BrokerUnavailable):
        await broker.publish(ALLIANCES, _jobs(1))
    assert not broker.queues[ALLIANCES]


async def test_unknown_queue_and_closed_broker() -> None:
    broker = StubBroker()
    with pytest.raises(PublishFailed, match="NO_ROUTE"):
        await broker.publish("nope", [b"x"])
    async with broker.consume([ALLIANCES], prefetch=1) as deliveries:
        await broker.close()
        async with asyncio.timeout(1):
            assert [d async for d in deliveries] == []
    with pytest.raises(PublishFailed, match="closed"):
        await broker.publish(ALLIANCES, _jobs(1))


def test_dead_letter_headers_round_trip() -> None:
    import datetime as dt

    letter = DeadLetter(b"body", "character", 90000001, "exhausted", 5, "x" * 5000, {"x-extra": "kept"})
    headers = letter_headers(letter, dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    assert headers["x-kr-dead-at"] == "2026-01-02T03:04:05+00:00"
    assert headers["x-kr-queue"] == "character_sync_queue"
    assert len(headers["x-kr-last-error"]) == 2000
    back = letter_from(b"body", headers)
    assert (back.kind, back.entity_id, back.reason, back.attempts) == ("character", 90000001, "exhausted", 5)
    assert back.headers["x-extra"] == "kept"
    assert letter_from(b"?", {}).kind is None
