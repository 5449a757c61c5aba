"""The pure pacing rules: when the next request may go under R2Z2_MAX_RPS, and how long a refusal pauses.

The cap is for every process together: `send_at` takes the recent request times of all of them
(kept in one place; the database will hold them for the distributed mode) and answers for a sliding
window of one second, the way the feed counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from killreport.domain import feed_pace
from killreport.r2z2.errors import R2z2Error, ServerError, Throttled, Timeout, Unreachable

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
