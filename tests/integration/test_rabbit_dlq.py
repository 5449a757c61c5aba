"""Dead letters on the real RabbitMQ: list without losing, replay (kind, limit, order), purge."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from collections.abc import Iterator

import pytest

from killreport.ids import Kind
from killreport.queue.broker import DEAD_LETTER_QUEUE, DeadLetter, PublishFailed
from killreport.queue.messages import Job, decode, encode
from killreport.queue.rabbit import RabbitBroker
from tests.integration.test_rabbit_support import (
    ALLIANCES,
    CORPS,
    broker,
    eventually,
    ready,
    take,
    url,
    vhost,
)

__all__ = ["broker", "url", "vhost"]  # fixtures, imported so pytest finds them here


def _letter(kind: Kind, entity_id: int) -> DeadLetter:
    body = encode(Job(kind, entity_id, attempt=4))
    return DeadLetter(body, kind, entity_id, "transient failures exhausted", 5, f"503 for {entity_id}", {})


MALFORMED = DeadLetter(b"\xff not a job", None, None, "malformed message", 0, "body is not UTF-8", {})


@contextlib.contextmanager
def _policy(vhost: str, pattern: str, definition: dict[str, object]) -> Iterator[None]:
    """A queue policy on `vhost` while the block runs."""
    subprocess.run(["rabbitmqctl", "-q", "set_policy", "-p", vhost, "--apply-to", "queues",
                    "kr-test", pattern, json.dumps(definition)], check=True)
    try:
        yield
    finally:
        subprocess.run(["rabbitmqctl", "-q", "clear_policy", "-p", vhost, "kr-test"], check=True)


async def _dead_ids(broker: RabbitBroker) -> list[int | None]:
    """The ids of every dead letter, sorted: the broker may reorder letters a listing returned,
    because quorum queues apply returns asynchronously (see rabbit_dlq)."""
    ids = [letter.entity_id for letter in await broker.dead_letters(100)]
    return sorted(ids, key=lambda i: -1 if i is None else i)


async def test_listing_shows_letters_in_order_and_loses_none(broker: RabbitBroker) -> None:
    for letter in (_letter("alliance", 1), MALFORMED, _letter("character", 3)):
        await broker.publish_dead(letter)
    first = await broker.dead_letters(100)
    assert [d.entity_id for d in first] == [1, None, 3]
    assert await eventually(lambda: _dead_ids(broker), [None, 1, 3]) == [None, 1, 3]
    assert len(await broker.dead_letters(2)) == 2
    assert await eventually(lambda: _dead_ids(broker), [None, 1, 3]) == [None, 1, 3]
    assert await broker.dead_letters(0) == []
    assert await eventually(lambda: ready(broker, DEAD_LETTER_QUEUE), 3) == 3
    alliance, malformed, _ = first
    assert (alliance.kind, alliance.attempts) == ("alliance", 5)
    assert alliance.reason == "transient failures exhausted"
    assert alliance.last_error == "503 for 1"
    assert alliance.headers["x-kr-queue"] == ALLIANCES
    assert alliance.headers["x-kr-dead-at"].endswith("+00:00")
    assert (malformed.body, malformed.kind, malformed.reason) == (MALFORMED.body, None, "malformed message")


async def test_replay_by_kind_and_limit_resets_attempts(broker: RabbitBroker) -> None:
    for letter in (_letter("alliance", 1), _letter("corporation", 2), MALFORMED, _letter("alliance", 3)):
        await broker.publish_dead(letter)
    assert await broker.replay_dead("alliance", limit=1) == 1
    assert await eventually(lambda: _dead_ids(broker), [None, 2, 3]) == [None, 2, 3]
    assert await broker.replay_dead(None, limit=0) == 0
    assert await broker.replay_dead(None, None) == 2
    only_invalid: list[int | None] = [None]  # an invalid body stays dead
    assert await eventually(lambda: _dead_ids(broker), only_invalid) == only_invalid
    async with broker.consume([ALLIANCES, CORPS], prefetch=5) as deliveries:
        got = await take(deliveries, 3)
        for delivery in got:
            await delivery.ack()
    jobs = sorted((decode(d.body) for d in got), key=lambda job: job.id)
    assert jobs == [Job("alliance", 1), Job("corporation", 2), Job("alliance", 3)]
    assert await broker.purge_dead() == 1
    assert await broker.dead_letters(10) == []
    assert await broker.purge_dead() == 0


async def test_replay_acks_a_letter_only_after_its_publish_is_confirmed(
    broker: RabbitBroker, vhost: tuple[str, str]
) -> None:
    for entity_id in (1, 2, 3):
        await broker.publish_dead(_letter("alliance", entity_id))
    # A real refusal: the broker nacks publishes to a full queue (max-length 1, reject-publish).
    full = {"max-length": 1, "overflow": "reject-publish"}
    with _policy(vhost[0], f"^{ALLIANCES}$", full), pytest.raises(PublishFailed):
        await broker.replay_dead(None, None)
    # Quorum queues admit one message past max-length before refusing, so 1 or 2 got through;
    # each confirmed letter left the dead-letter queue, the refused one and the rest did not.
    for _ in range(100):  # counts reach a quorum queue asynchronously: wait until all 3 are seen
        moved, dead = await ready(broker, ALLIANCES), await _dead_ids(broker)
        if moved + len(dead) == 3:
            break
        await asyncio.sleep(0.05)
    assert moved in (1, 2)
    assert dead == [2, 3][moved - 1:]
