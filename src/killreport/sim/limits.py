"""The error limit (fixed window per IP) and token buckets (floating window per group and IP), pure."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class ErrorState:
    """What the error-limit headers say: errors left and whole seconds until the window ends."""

    blocked: bool
    remain: int
    reset_s: int


@dataclass(slots=True)
class _Window:
    ends_at: float
    errors: int = 0


class ErrorLimiter:
    """ESI's error limit: `budget` error responses per fixed window, which starts at the first request."""

    def __init__(self, window_s: float, budget: int, clock: Clock) -> None:
        self.window_s = window_s
        self.budget = budget
        self.clock = clock
        self._windows: dict[str, _Window] = {}

    def _window(self, ip: str) -> _Window:
        now = self.clock()
        win = self._windows.get(ip)
        if win is None or now >= win.ends_at:
            win = _Window(now + self.window_s)
            self._windows[ip] = win
        return win

    def _state(self, win: _Window) -> ErrorState:
        remain = max(0, self.budget - win.errors)
        reset = max(0, math.ceil(win.ends_at - self.clock() - 1e-6))
        return ErrorState(remain <= 0, remain, reset)

    def admit(self, ip: str) -> ErrorState:
        """Before serving: whether this IP is blocked (420) and the current header values."""
        return self._state(self._window(ip))

    def record(self, ip: str, status: int) -> ErrorState:
        """After deciding a response: count it if it is an error and return the header values."""
        win = self._window(ip)
        if status >= 400 and status != 420 and win.errors < self.budget:
            win.errors += 1
        return self._state(win)

    def spend(self, ip: str) -> ErrorState:
        """Use up the whole budget now, as another program on the same IP would."""
        win = self._window(ip)
        win.errors = self.budget
        return self._state(win)


def token_cost(status: int) -> int:
    """Tokens a response costs: 2xx 2, 3xx 1, 4xx 5, 5xx 0."""
    if status < 300:
        return 2
    if status < 400:
        return 1
    if status < 500:
        return 5
    return 0


@dataclass(frozen=True, slots=True)
class BucketState:
    """What the `X-Ratelimit-*` headers say; `retry_after_s` is set when the bucket is empty."""

    limit: int
    used: int
    retry_after_s: int | None = None

    @property
    def remaining(self) -> int:
        """Tokens left."""
        return max(0, self.limit - self.used)


@dataclass(slots=True)
class _Bucket:
    spent: deque[tuple[float, int]] = field(default_factory=deque)
    used: int = 0


class TokenBuckets:
    """One floating window of `tokens` per (group, IP); a request is refused while the bucket is empty."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def _bucket(self, group: str, ip: str, window_s: float) -> _Bucket:
        bucket = self._buckets.setdefault((group, ip), _Bucket())
        horizon = self.clock() - window_s
        while bucket.spent and bucket.spent[0][0] <= horizon:
            bucket.used -= bucket.spent.popleft()[1]
        return bucket

    def admit(self, group: str, ip: str, tokens: int, window_s: float) -> BucketState:
        """Before serving: the state, with `retry_after_s` when the request must get a 429."""
        bucket = self._bucket(group, ip, window_s)
        if bucket.used < tokens:
            return BucketState(tokens, bucket.used)
        return BucketState(tokens, bucket.used, self._retry_after(bucket, tokens, window_s))

    def record(self, group: str, ip: str, tokens: int, window_s: float, status: int) -> BucketState:
        """After deciding a response: spend its cost and return the header values."""
        bucket = self._bucket(group, ip, window_s)
        cost = token_cost(status)
        if cost:
            bucket.spent.append((self.clock(), cost))
            bucket.used += cost
        return BucketState(tokens, bucket.used)

    def _retry_after(self, bucket: _Bucket, tokens: int, window_s: float) -> int:
        # Wait until enough of the oldest spending leaves the window for the bucket to have a token again.
        used, now = bucket.used, self.clock()
        for at, cost in bucket.spent:
            used -= cost
            if used < tokens:
                return max(1, math.ceil(at + window_s - now))
        return 1


class RateCounter:
    """Requests per IP in a sliding window; past `limit` they are refused (0 turns it off)."""

    def __init__(self, window_s: float, limit: int, clock: Clock) -> None:
        self.window_s = window_s
        self.limit = limit
        self.clock = clock
        self._seen: dict[str, deque[float]] = {}

    def allow(self, ip: str) -> bool:
        """Count a request; False when it is over the limit (and then it is not counted)."""
        if self.limit <= 0:
            return True
        now = self.clock()
        seen = self._seen.setdefault(ip, deque())
        while seen and seen[0] <= now - self.window_s:
            seen.popleft()
        if len(seen) >= self.limit:
            return False
        seen.append(now)
        return True
