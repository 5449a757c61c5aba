"""The error limit (fixed window per IP) and token buckets (floating window per group and IP), pure."""

from __future__ import annotations

import math
from collections import Counter, defaultdict, deque
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
class _Drain:
    """Another program on the IP making `rate` errors a second from `start`; `added` are counted."""

    start: float
    rate: float
    added: int = 0


@dataclass(slots=True)
class _Window:
    ends_at: float
    errors: int = 0
    drain: _Drain | None = None


class ErrorLimiter:
    """ESI's error limit: `budget` error responses per fixed window, which starts at the first request.

    Another program's errors (`spend` with a rate) are not simulated by a task: they are worked out
    from the clock whenever the window is read, so the limiter stays pure and testable with a fake clock.
    """

    def __init__(self, window_s: float, budget: int, clock: Clock) -> None:
        self.window_s = window_s
        self.budget = budget
        self.clock = clock
        self._windows: dict[str, _Window] = {}
        self._spent: Counter[str] = Counter()
        self._ended: defaultdict[str, list[int]] = defaultdict(list)  # errors of each past window

    def _window(self, ip: str) -> _Window:
        now = self.clock()
        win = self._windows.get(ip)
        if win is not None:
            # Settle the old window up to its end first, so a budget the drain spent there is counted.
            self._catch_up(ip, win, min(now, win.ends_at))
        if win is None or now >= win.ends_at:
            if win is not None:
                self._ended[ip].append(win.errors)
            win = _Window(now + self.window_s)
            self._windows[ip] = win
        return win

    def _catch_up(self, ip: str, win: _Window, at: float) -> None:
        drain = win.drain
        if drain is None:
            return
        # Capped before flooring so that a huge rate cannot overflow; the epsilon absorbs float error
        # in elapsed * rate (e.g. 0.05 s * 20/s).
        due = math.floor(min((at - drain.start) * drain.rate, self.budget) + 1e-9)
        self._add(ip, win, due - drain.added)
        drain.added = max(drain.added, due)
        if win.errors >= self.budget:
            win.drain = None  # the other program stops once the budget is spent

    def _add(self, ip: str, win: _Window, errors: int) -> None:
        if errors <= 0 or win.errors >= self.budget:
            return
        win.errors = min(self.budget, win.errors + errors)
        if win.errors >= self.budget:
            self._spent[ip] += 1

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
        if status >= 400 and status != 420:
            self._add(ip, win, 1)
        return self._state(win)

    def spend(self, ip: str, rate: float | None = None) -> ErrorState:
        """Another program on the IP spends the budget: all of it now, or `rate` errors a second."""
        win = self._window(ip)
        if rate is None:
            win.drain = None
            self._add(ip, win, self.budget)
        elif not (math.isfinite(rate) and rate > 0):
            raise ValueError("rate must be a positive number of errors per second")
        elif win.errors < self.budget:
            win.drain = _Drain(self.clock(), float(rate))  # a later call replaces the earlier program
        return self._state(win)

    def _caught_up(self, ip: str, win: _Window) -> _Window:
        """`win` with another program's errors counted up to now (or to its end), for reading."""
        self._catch_up(ip, win, min(self.clock(), win.ends_at))
        return win

    def errors_by_window(self) -> dict[str, list[int]]:
        """Each IP's errors counted in each of its windows so far, oldest first, the current one last."""
        return {ip: [*self._ended[ip], self._caught_up(ip, win).errors] for ip, win in self._windows.items()}

    def windows_spent(self, ip: str) -> int:
        """How many of this IP's windows have run out of budget, through its errors or another program's."""
        win = self._windows.get(ip)
        if win is not None:
            self._caught_up(ip, win)
        return self._spent[ip]


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

    def allow(self, ip: str, limit: int | None = None) -> bool:
        """Count a request; False when it is over the limit (`limit`, if given, instead of the one set
        at start), and then it is not counted."""
        limit = self.limit if limit is None else limit
        if limit <= 0:
            return True
        now = self.clock()
        seen = self._seen.setdefault(ip, deque())
        while seen and seen[0] <= now - self.window_s:
            seen.popleft()
        if len(seen) >= limit:
            return False
        seen.append(now)
        return True
