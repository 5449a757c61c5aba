"""What one ESI response (or the lack of one) tells the budget; esi.classify reads it off the headers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class TokenReport:
    """The X-Ratelimit-* family of one response (token-bucket route groups)."""

    group: str
    limit: int | None = None
    window_s: int | None = None
    remaining: int | None = None
    used: int | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """What one response (or the lack of one) tells the budget."""

    status: int | None
    is_error: bool
    error_remain: int | None = None
    error_reset_s: int | None = None
    tokens: TokenReport | None = None
    retry_after_s: float | None = None
    unavailable: bool = False  # ESI says it cannot reach the game server: a downtime has begun
    up_since: float | None = None  # a /status showing the cluster open to all (vip false): its start_time
    fresh_s: float | None = None  # how long ESI caches this /status answer (Expires - Date)


# A request that got no HTTP answer: ESI may still have counted it as an error.
NO_ANSWER: Final = Observation(status=None, is_error=True)
