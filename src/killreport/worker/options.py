"""Every option a worker takes, in one place, with its default and why."""

from __future__ import annotations

from dataclasses import dataclass

from killreport.ids import KINDS, Kind


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How one worker process runs."""

    kinds: tuple[Kind, ...] = KINDS
    # Jobs handled at once by this process; also the broker prefetch, so nothing waits unowned.
    concurrency: int = 16
    # SIGTERM: stop taking jobs, give running ones this long to finish, then cancel (they are
    # returned to the queue unacked, so nothing is lost).
    shutdown_timeout_s: float = 30.0
    # A claim keeps a duplicate message from fetching the same entity twice; a crashed holder's
    # claim frees itself after this long.
    claim_ttl_s: float = 60.0
    # Transient failures (5xx, timeouts, malformed bodies) before a job is dead-lettered.
    max_attempts: int = 5
    # Pending rows whose message was never confirmed (their publisher died) are re-published
    # after this age, checked every `janitor_interval_s`.
    janitor_interval_s: float = 15.0
    janitor_age_s: float = 30.0
    # How often request counts by status are added to the shared table.
    stats_flush_s: float = 1.0
    # Services down: back off up to this long between attempts, forever (a worker should outlive
    # a database or broker restart).
    reconnect_max_delay_s: float = 30.0
