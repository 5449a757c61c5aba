"""RabbitBroker against the real RabbitMQ: declare, publish, consume, retry tiers, stats, purge."""

from __future__ import annotations

import asyncio
import time

import pytest

from killreport.queue.broker import DEAD_LETTER_QUEUE, BrokerError, BrokerUnavailable, PublishFailed
from killreport.queue.messages import Job, decode, encode
from killreport.queue.rabbit import RabbitBroker
from tests.integration.test_rabbit_support import (
    ALLIANCES,
    CORPS,
    SHORT_TIERS,
    Proxy,
    broker,
    connect,
    drop_connections,
    eventually,
    rabbitmqctl,
    ready,
    take,
    url,
    vhost,
)

__all__ = ["broker", "url", "vhost"]  # fixtures, imported so pytest finds them here


async def _total_ready(broker: RabbitBroker) -> int:
    return sum(s.ready for s in await broker.stats())


def _jobs(*ids: int) -> list[bytes]:
    return [encode(Job("alliance", i)) for i in ids]


async def test_declare_is_idempotent_and_every_queue_is_quorum(fresh_rabbit_url: str) -> None:
    bare = await RabbitBroker.connect(fresh_rabbit_url, SHORT_TIERS, declare=False, connect_attempts=1)
    with pytest.raises(BrokerError, match="does not exist; declare the queues first"):
        await bare.stats()
    with pytest.raises(BrokerError, match="does not exist"):
        await bare.dead_letters(1)
    await bare.close()
    first = await RabbitBroker.connect(fresh_rabbit_url, SHORT_TIERS, connect_attempts=1)
    await first.declare()
    second = await RabbitBroker.connect(fresh_rabbit_url, SHORT_TIERS, connect_attempts=1)
    await second.close()
    await first.close()
    vhost_name = fresh_rabbit_url.rsplit("/", 1)[1]
    listed = rabbitmqctl("list_queues", "-p", vhost_name, "name", "type", "durable", "arguments")
    rows = {line.split("\t")[0]: line for line in listed.splitlines()[1:]}
    assert set(rows) == {spec.name for spec in first.topology.all_specs()}
    assert all("\tquorum\ttrue\t" in row for row in rows.values())
    tier = rows[f"{ALLIANCES}.retry.2"]
    assert "x-message-ttl" in tier and "2000" in tier and "at-least-once" in tier and "reject-publish" in tier


async def test_changed_tier_delays_fail_with_a_clear_error(url: str, broker: RabbitBroker) -> None:
    with pytest.raises(BrokerError, match=r"retry\.1' exists with different arguments"):
        await RabbitBroker.connect(url, (3, 4), connect_attempts=1)


async def test_publish_consume_ack(url: str, broker: RabbitBroker) -> None:
    await broker.publish(ALLIANCES, _jobs(*range(1, 21)))
    assert await eventually(lambda: ready(broker, ALLIANCES), 20) == 20
    got = []
    async with broker.consume([ALLIANCES], prefetch=4) as deliveries:
        for _ in range(20):
            (delivery,) = await take(deliveries, 1)
            await delivery.ack()
            got.append(delivery)
    assert [decode(d.body).id for d in got] == list(range(1, 21))
    assert {d.queue for d in got} == {ALLIANCES}
    await broker.close()
    # A new connection sees nothing: the acks stuck, nothing came back when the first one closed.
    again = await connect(url)
    assert await eventually(lambda: ready(again, ALLIANCES), 0) == 0
    await again.close()


async def test_unacked_deliveries_return_on_close(url: str, broker: RabbitBroker) -> None:
    await broker.publish(ALLIANCES, _jobs(1, 2, 3, 4, 5))
    async with broker.consume([ALLIANCES], prefetch=10) as deliveries:
        held = await take(deliveries, 2)
        await held[0].ack()
    # The one held unacked and the three still buffered all went back.
    assert await eventually(lambda: ready(broker, ALLIANCES), 4) == 4
    async with broker.consume([ALLIANCES], prefetch=10) as deliveries:
        await take(deliveries, 3)
        await broker.close()
    again = await connect(url)
    assert await eventually(lambda: ready(again, ALLIANCES), 4) == 4
    await again.close()


async def test_requeue_redelivers_and_settling_twice_raises(broker: RabbitBroker) -> None:
    await broker.publish(CORPS, [encode(Job("corporation", 98000001))])
    async with broker.consume([CORPS], prefetch=1) as deliveries:
        (first,) = await take(deliveries, 1)
        await first.requeue()
        with pytest.raises(RuntimeError, match="already acked or requeued"):
            await first.ack()
        (second,) = await take(deliveries, 1)
        assert second.body == first.body
        await second.ack()
    assert await eventually(lambda: ready(broker, CORPS), 0) == 0


async def test_a_cancelled_wait_loses_nothing(broker: RabbitBroker) -> None:
    async with broker.consume([ALLIANCES, CORPS], prefetch=2) as deliveries:
        with pytest.raises(TimeoutError):
            await take(deliveries, 1, timeout_s=0.2)
        await broker.publish(ALLIANCES, _jobs(42))
        (delivery,) = await take(deliveries, 1)
        assert decode(delivery.body).id == 42
        await delivery.ack()


async def test_retry_tier_returns_the_message_after_its_ttl(broker: RabbitBroker) -> None:
    body = encode(Job("alliance", 99000001, attempt=1))
    await broker.publish_retry(ALLIANCES, body, 9)  # beyond the last tier: waits in the last one
    await broker.publish_retry(ALLIANCES, body, 1)
    assert await eventually(lambda: ready(broker, f"{ALLIANCES}.retry.1"), 1) == 1
    held = {s.name: s.ready for s in await broker.stats()}
    assert held[f"{ALLIANCES}.retry.1"] == 1 and held[f"{ALLIANCES}.retry.2"] == 1
    assert held[ALLIANCES] == 0
    started = time.monotonic()
    async with broker.consume([ALLIANCES], prefetch=2) as deliveries:
        (early,) = await take(deliveries, 1, timeout_s=5)
        early_s = time.monotonic() - started
        (late,) = await take(deliveries, 1, timeout_s=5)
        late_s = time.monotonic() - started
        await early.ack()
        await late.ack()
    assert early.body == late.body == body
    assert 0.8 <= early_s < 1.9 <= late_s


async def test_malformed_bodies_are_delivered_untouched(broker: RabbitBroker) -> None:
    raw = [b"\xff\x00 not json", b"", b'{"v":1,"kind":"faction","id":1,"attempt":0}']
    await broker.publish(ALLIANCES, raw)
    async with broker.consume([ALLIANCES], prefetch=5) as deliveries:
        got = await take(deliveries, 3)
        for delivery in got:
            await delivery.ack()
    assert sorted(d.body for d in got) == sorted(raw)


async def test_unroutable_publish_raises(broker: RabbitBroker) -> None:
    with pytest.raises(PublishFailed, match="NO_ROUTE"):
        await broker.publish("no_such_queue", [b"lost?"])
    with pytest.raises(ValueError, match="not a main queue"):
        await broker.publish_retry("no_such_queue", b"x", 1)


async def test_stats_show_ready_and_consumers(broker: RabbitBroker) -> None:
    await broker.publish(CORPS, [encode(Job("corporation", 98000002))] * 3)
    assert await eventually(lambda: ready(broker, CORPS), 3) == 3
    async with broker.consume([ALLIANCES], prefetch=1):
        stats = {s.name: (s.ready, s.consumers) for s in await broker.stats()}
    assert stats[CORPS] == (3, 0)
    assert stats[ALLIANCES] == (0, 1)
    assert stats[DEAD_LETTER_QUEUE] == (0, 0)
    assert len(stats) == len(broker.topology.all_specs())


async def test_purge_empties_main_and_retry_queues(broker: RabbitBroker) -> None:
    await broker.publish(ALLIANCES, _jobs(1, 2))
    await broker.publish_retry(CORPS, b"r", 2)
    assert await eventually(lambda: ready(broker, f"{CORPS}.retry.2"), 1) == 1
    lost = await broker.purge()
    assert lost[ALLIANCES] == 2
    assert lost[f"{CORPS}.retry.2"] == 1
    assert DEAD_LETTER_QUEUE not in lost
    assert await eventually(lambda: _total_ready(broker), 0) == 0


async def test_closed_port_raises_broker_unavailable_with_the_password_masked() -> None:
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable) as caught:
        await RabbitBroker.connect(
            "amqp://guest:s3cr3t@127.0.0.1:1/", connect_attempts=3, connect_delay_s=0.05
        )
    message = str(caught.value)
    assert "s3cr3t" not in message
    assert "amqp://guest:***@127.0.0.1:1/" in message
    assert "after 3 attempt(s)" in message
    assert caught.value.__cause__ is None
    assert time.monotonic() - started < 5


async def test_publishes_during_a_dropped_connection_are_all_confirmed(
    vhost: tuple[str, str], broker: RabbitBroker
) -> None:
    reconnected = asyncio.Event()
    broker._connection.reconnect_callbacks.add(lambda *_: reconnected.set())
    dropping = asyncio.ensure_future(asyncio.to_thread(drop_connections, vhost[0]))
    confirmed: list[int] = []
    async with asyncio.timeout(15):
        # Keep publishing through the drop and the reconnect; no publish may raise.
        while not (dropping.done() and reconnected.is_set()):
            batch = list(range(len(confirmed) + 1, len(confirmed) + 101))
            await broker.publish(ALLIANCES, _jobs(*batch))
            confirmed += batch
            await asyncio.sleep(0.01)
    assert await dropping == 1
    seen: set[int] = set()
    async with broker.consume([ALLIANCES], prefetch=500) as deliveries:
        while not set(confirmed) <= seen:
            (delivery,) = await take(deliveries, 1)
            seen.add(decode(delivery.body).id)
            await delivery.ack()


async def test_an_outage_fails_publishes_then_publish_and_consume_recover(
    url: str, broker: RabbitBroker
) -> None:
    proxy = Proxy()
    await proxy.start()
    cut_off = await RabbitBroker.connect(
        proxy.url(url), SHORT_TIERS, connect_attempts=1, reconnect_interval_s=0.2, publish_timeout_s=1.0
    )
    try:
        async with cut_off.consume([CORPS], prefetch=5) as deliveries:
            await proxy.cut()
            with pytest.raises(PublishFailed, match=r"not confirmed within 1\.0s"):
                await cut_off.publish(CORPS, [encode(Job("corporation", 98000001))])
            await proxy.start()
            await cut_off.publish(CORPS, [encode(Job("corporation", 98000002))])
            # The robust connection restored the consumer too.
            (delivery,) = await take(deliveries, 1, timeout_s=5)
            assert decode(delivery.body).id == 98000002
            await delivery.ack()
    finally:
        await cut_off.close()
        await proxy.cut()
    assert await eventually(lambda: ready(broker, CORPS), 0) == 0
