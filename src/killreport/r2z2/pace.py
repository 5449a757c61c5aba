"""This process's pacing: its own rule under R2Z2_MAX_RPS, which answers pause every process, and
MemoryPace, a FeedPace kept in memory.

The cap is for every process together: domain/feed_pace.py's rules over one shared state (the
database's r2z2_pace row, through the store; MemoryPace in this process's memory, for a process
that asks the feed alone and for tests). `send_at` is the follower's own, stricter rule over its own
requests, counted at the time their answers came in (r2z2/follower.py says why it keeps both).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from killreport.domain import feed_pace
from killreport.r2z2.errors import R2z2Error, ServerError, Throttled, Timeout, Unreachable


def send_at(answered: Sequence[float], now: float, max_rps: int) -> float:
    """When this process's next request may go: at most `max_rps` answers within any second before
    it (`answered`: their times, oldest first)."""
    if max_rps < 1:
        raise ValueError("max_rps must be at least 1")
    if len(answered) < max_rps:
        return now
    return max(now, answered[-max_rps] + 1.0)


def pause_rule(exc: R2z2Error, throttled_first_s: float = feed_pace.THROTTLED_FIRST_S,
               trouble_first_s: float = feed_pace.TROUBLE_FIRST_S) -> tuple[float | None, float] | None:
    """(Retry-After, first pause) for a refusal (429, 403) or trouble (5xx, unreachable, timeout): the
    feed pauses every process; None for an answer that is merely unusable (malformed, 404, odd status).
    The first pauses are domain.feed_pace's, which the shared pace applies."""
    if isinstance(exc, Throttled):
        return exc.retry_after_s, throttled_first_s
    if isinstance(exc, (ServerError, Unreachable, Timeout)):
        return None, trouble_first_s
    return None


class MemoryPace:
    """domain's FeedPace over domain/feed_pace.py's rules, in memory: each slot recorded when it may go."""

    def __init__(self, max_rps: int, clock: Callable[[], float]) -> None:
        send_at((), 0.0, max_rps)  # refuses a cap below one here, not at the first request
        self._max_rps, self._clock = max_rps, clock
        self.sent: tuple[float, ...] = ()
        self.paused_until, self.refusals = float("-inf"), 0

    async def turn(self) -> float:
        """Take the next slot: the seconds to wait before sending (0: now)."""
        now = self._clock()
        at, self.sent = feed_pace.next_slot(self.sent, now, self.paused_until, self._max_rps)
        return at - now

    async def refused(self, retry_after_s: float | None, first_s: float) -> float:
        """Pause (Retry-After, or `first_s` doubling with each refusal in a row); the pause in seconds."""
        wait = feed_pace.pause_s(self.refusals, retry_after_s, first_s)
        self.paused_until, self.refusals = self._clock() + wait, self.refusals + 1
        return wait

    async def answered(self) -> None:
        """The next pause starts small again."""
        self.refusals = 0
