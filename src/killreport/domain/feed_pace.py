"""R2Z2's pace as pure rules: when the next request may go under the cap, and how long a refusal pauses.

The cap is for every process together, so the state (the latest request times, a pause, refusals in
a row) lives in one place that all of them read and write: the database's `r2z2_pace` row
(store/killmails.py), or memory in a test. These rules are the one truth both apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

# A slot is taken when a request may go, but the feed counts it when it arrives, a little later; a
# request that takes longer to arrive than the one `max_rps` slots later could make two land in one
# second. Counting a window 100 ms longer than the feed's second absorbs that difference (loopback:
# about 1 ms; ESI-like paths: tens of ms), at the cost of a cap about 9 % below the one asked.
WINDOW_S: Final = 1.1
THROTTLED_FIRST_S: Final = 60.0  # a 429 or 403 without Retry-After: a minute, doubling
TROUBLE_FIRST_S: Final = 6.0  # 5xx, unreachable, timeout: six seconds, doubling
MAX_PAUSE_S: Final = 3600.0


def next_slot(sent: Sequence[float], now: float, paused_until: float,
              max_rps: int) -> tuple[float, tuple[float, ...]]:
    """The time the next request may go and the slots to keep (`sent`: oldest first, any length)."""
    if max_rps < 1:
        raise ValueError("max_rps must be at least 1")
    at = max(now, paused_until)
    recent = [t for t in sent if t > at - WINDOW_S]
    if len(recent) >= max_rps:
        at = max(at, recent[-max_rps] + WINDOW_S)
    return at, (*recent, at)[-max_rps:]


def pause_s(refusals: int, retry_after_s: float | None, first_s: float) -> float:
    """How long a refusal pauses: Retry-After when given, else `first_s` doubling with each refusal
    in a row (`refusals` before this one); never more than an hour."""
    wait = retry_after_s if retry_after_s is not None else first_s * 2 ** min(refusals, 20)
    return min(max(wait, 0.0), MAX_PAUSE_S)
