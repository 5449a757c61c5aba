"""The declared queues as data: names, quorum type, retry-tier arguments, tier choice."""

from __future__ import annotations

import pytest

from killreport.queue.broker import DEAD_LETTER_QUEUE, QUEUE_NAMES
from killreport.queue.topology import DEFAULT_RETRY_DELAYS_S, Topology, retry_queue_name, tier_for_attempt

MAIN = "corporation_sync_queue"


def test_default_delays() -> None:
    assert Topology().retry_delays_s == DEFAULT_RETRY_DELAYS_S == (5, 30, 120, 600)


def test_every_queue_is_quorum_and_names_are_unique() -> None:
    specs = Topology().all_specs()
    assert all(spec.arguments["x-queue-type"] == "quorum" for spec in specs)
    names = [spec.name for spec in specs]
    assert len(names) == len(set(names)) == 3 + 3 * 4 + 1
    assert names[-1] == DEAD_LETTER_QUEUE


def test_main_queues_are_the_original_names() -> None:
    topology = Topology()
    assert topology.main_queues == tuple(QUEUE_NAMES.values())
    assert [spec.name for spec in topology.main_specs()] == list(QUEUE_NAMES.values())
    assert all(dict(spec.arguments) == {"x-queue-type": "quorum"} for spec in topology.main_specs())


def test_retry_tiers_dead_letter_back_to_their_main_queue() -> None:
    specs = Topology((1, 2.5)).retry_specs(MAIN)
    assert [spec.name for spec in specs] == [f"{MAIN}.retry.1", f"{MAIN}.retry.2"]
    assert dict(specs[1].arguments) == {
        "x-queue-type": "quorum",
        "x-message-ttl": 2500,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": MAIN,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


@pytest.mark.parametrize(
    ("attempt", "tier", "delay"), [(1, 1, 5), (2, 2, 30), (4, 4, 600), (5, 4, 600), (99, 4, 600)]
)
def test_attempts_beyond_the_last_tier_reuse_it(attempt: int, tier: int, delay: float) -> None:
    topology = Topology()
    assert topology.retry_queue(MAIN, attempt) == retry_queue_name(MAIN, tier)
    assert topology.retry_delay_s(attempt) == delay


def test_attempts_are_one_based() -> None:
    with pytest.raises(ValueError, match="1-based"):
        tier_for_attempt(0, 4)


def test_retry_queue_refuses_a_non_main_queue() -> None:
    with pytest.raises(ValueError, match="not a main queue"):
        Topology().retry_queue(DEAD_LETTER_QUEUE, 1)


def test_purgeable_keeps_dead_letters() -> None:
    names = {spec.name for spec in Topology().purgeable()}
    assert DEAD_LETTER_QUEUE not in names
    assert set(QUEUE_NAMES.values()) <= names


@pytest.mark.parametrize("delays", [(), (0,), (5, -1)])
def test_invalid_delays_are_refused(delays: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="retry delay"):
        Topology(delays)
