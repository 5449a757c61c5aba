"""The pure pacing rules: when the next request may go under R2Z2_MAX_RPS, and how long a refusal pauses.

The cap is for every process together: `send_at` takes the recent request times of all of them
(kept in one place: the database's r2z2_pace row, through domain's FeedPace) and answers for a
sliding window of one second, the way the feed counts. MemoryPace keeps them in this process's
memory instead: for a process that asks the feed alone, and for tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Final

THROTTLED_FIRST_S: Final = 60.0  # a 429 or 403 without Retry-After: a minute, doubling
TROUBLE_FIRST_S: Final = 6.0  # 5xx, unreachable, timeout: six seconds, doubling
MAX_PAUSE_S: Final = 3600.0


def send_at(recent: Sequence[float], now: float, max_rps: int) -> float:
    """When the next request may go: at most `max_rps` in any second (`recent`: oldest first)."""
    if max_rps < 1:
        raise ValueError("max_rps must be at least 1")
    if len(recent) < max_rps:
        return now
    return max(now, recent[-max_rps] + 1.0)


@dataclass(frozen=True, slots=True)
class Pace:
    """One process's recent request times (the latest `max_rps`), its pause, and refusals in a row."""

    sent: tuple[float, ...] = ()
    paused_until: float = float("-inf")
    refusals: int = 0

    def next_at(self, now: float, max_rps: int) -> float:
        """When the next request may go: the rate and any pause."""
        return max(send_at(self.sent, now, max_rps), self.paused_until)


def sent(pace: Pace, at: float, max_rps: int) -> Pace:
    """A request was answered (or failed) at `at`."""
    return replace(pace, sent=(*pace.sent, at)[-max_rps:])


def answered(pace: Pace) -> Pace:
    """An answer that was not a refusal: pauses start small again."""
    return replace(pace, refusals=0) if pace.refusals else pace


def paused(pace: Pace, now: float, retry_after_s: float | None, first_s: float) -> Pace:
    """A refusal: wait Retry-After when given, else `first_s` doubling with each refusal in a row."""
    wait = retry_after_s if retry_after_s is not None else first_s * 2 ** min(pace.refusals, 20)
    return replace(pace, paused_until=now + min(wait, MAX_PAUSE_S), refusals=pace.refusals + 1)


class MemoryPace:
    """domain's FeedPace over these rules, in memory: each slot is recorded at the time it may go."""

    def __init__(self, max_rps: int, clock: Callable[[], float]) -> None:
        send_at((), 0.0, max_rps)  # refuses a cap below one here, not at the first request
        self.state, self._max_rps, self._clock = Pace(), max_rps, clock

    async def turn(self) -> float:
        """Take the next slot: the seconds to wait before sending (0: now)."""
        now = self._clock()
        at = self.state.next_at(now, self._max_rps)
        self.state = sent(self.state, at, self._max_rps)
        return at - now

    async def refused(self, retry_after_s: float | None, first_s: float) -> float:
        """Pause (Retry-After, or `first_s` doubling); returns the pause in seconds."""
        now = self._clock()
        self.state = paused(self.state, now, retry_after_s, first_s)
        return self.state.paused_until - now

    async def answered(self) -> None:
        """The next pause starts small again."""
        self.state = answered(self.state)
