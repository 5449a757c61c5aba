"""Every queue killreport declares, as plain data (queue/rabbit.py declares them on RabbitMQ).

RabbitMQ 3.10 has no delayed-message plugin, so a retry is a message parked in a tier queue with a
message TTL; when it expires the queue dead-letters it (at-least-once, so a crash cannot drop it)
back to its main queue through the default exchange. All queues are durable quorum queues.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from killreport.queue.broker import DEAD_LETTER_QUEUE, QUEUE_NAMES

DEFAULT_RETRY_DELAYS_S: Final[tuple[float, ...]] = (5, 30, 120, 600)
_QUORUM: Final[Mapping[str, str | int]] = {"x-queue-type": "quorum"}


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """One queue's name and declaration arguments."""

    name: str
    arguments: Mapping[str, str | int]


def retry_queue_name(main: str, tier: int) -> str:
    """The name of `main`'s retry tier `tier` (1-based)."""
    return f"{main}.retry.{tier}"


def tier_for_attempt(attempt: int, tiers: int) -> int:
    """The 1-based tier for a 1-based attempt; attempts beyond the last tier reuse the last tier."""
    if attempt < 1:
        raise ValueError(f"retry attempts are 1-based, got {attempt}")
    return min(attempt, tiers)


@dataclass(frozen=True, slots=True)
class Topology:
    """The queues for a given set of retry delays (seconds, one tier each, shortest first)."""

    retry_delays_s: tuple[float, ...] = DEFAULT_RETRY_DELAYS_S

    def __post_init__(self) -> None:
        if not self.retry_delays_s:
            raise ValueError("at least one retry delay is needed")
        if any(delay <= 0 for delay in self.retry_delays_s):
            raise ValueError(f"retry delays must be positive, got {self.retry_delays_s}")

    @property
    def main_queues(self) -> tuple[str, ...]:
        """The main queue names, one per kind."""
        return tuple(QUEUE_NAMES.values())

    def is_main(self, queue: str) -> bool:
        """True if `queue` is one of the main queues."""
        return queue in self.main_queues

    def retry_queue(self, main: str, attempt: int) -> str:
        """The tier queue that holds a message of `main` for its 1-based `attempt`."""
        if not self.is_main(main):
            raise ValueError(f"{main!r} is not a main queue; expected one of {', '.join(self.main_queues)}")
        return retry_queue_name(main, tier_for_attempt(attempt, len(self.retry_delays_s)))

    def retry_delay_s(self, attempt: int) -> float:
        """How long a message waits in the tier for its 1-based `attempt`."""
        return self.retry_delays_s[tier_for_attempt(attempt, len(self.retry_delays_s)) - 1]

    def retry_specs(self, main: str) -> list[QueueSpec]:
        """`main`'s retry tiers, shortest delay first."""
        return [
            QueueSpec(
                retry_queue_name(main, tier),
                {
                    **_QUORUM,
                    "x-message-ttl": round(delay * 1000),
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": main,
                    # at-least-once dead-lettering only works with reject-publish overflow.
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                },
            )
            for tier, delay in enumerate(self.retry_delays_s, start=1)
        ]

    def main_specs(self) -> list[QueueSpec]:
        """The main queues."""
        return [QueueSpec(name, _QUORUM) for name in self.main_queues]

    def dead_letter_spec(self) -> QueueSpec:
        """The dead-letter queue."""
        return QueueSpec(DEAD_LETTER_QUEUE, _QUORUM)

    def purgeable(self) -> list[QueueSpec]:
        """Main and retry queues: everything `purge` empties (the dead letters are kept)."""
        return self.main_specs() + [spec for main in self.main_queues for spec in self.retry_specs(main)]

    def all_specs(self) -> list[QueueSpec]:
        """Every queue, in declaration order."""
        return [*self.purgeable(), self.dead_letter_spec()]

