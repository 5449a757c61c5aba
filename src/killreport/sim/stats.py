"""What clients did: requests by route and status, limit and cache violations, concurrency, headers seen."""

from __future__ import annotations

import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from typing import Any, Final

# A feed number asked again sooner than this after its 404 is counted (R2Z2's etiquette asks 6 s).
AGAIN_AFTER_404_S: Final = 6.0


class Stats:
    """Counters for `/_sim/stats`; `reset` zeroes them (in-flight requests stay counted)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.in_flight = 0
        self._clock = clock
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        self.requests = 0
        self.by_route: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.limit_violations: Counter[str] = Counter()
        self.not_modified = 0
        self.cache_violations: Counter[str] = Counter()
        self.during_downtime: Counter[str] = Counter()
        self.affiliation_early_ids = 0
        self.max_in_flight = self.in_flight
        # Seconds spent with each number of requests in flight, from the first request on: how much
        # of a run a client kept its in-flight cap full (bench/embedded.py).
        self.in_flight_s: defaultdict[int, float] = defaultdict(float)
        self._level_since: float | None = None
        self.user_agents: Counter[str] = Counter()
        self.compatibility_dates: Counter[str] = Counter()
        self.r2z2 = FeedCounts(self._clock)
        self.hidden_limit: Counter[str] = Counter()  # header-less 429s of the history routes, by route

    def started(self, user_agent: str | None, compat: str | None) -> None:
        """A request arrived."""
        self.requests += 1
        self._level_changes()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.user_agents[user_agent if user_agent is not None else "(none)"] += 1
        self.compatibility_dates[compat if compat is not None else "(none)"] += 1

    def finished(self, route_key: str, status: int) -> None:
        """A response was sent (or the client went away)."""
        self._level_changes()
        self.in_flight -= 1
        self.by_route[route_key][str(status)] += 1
        if status in (420, 429):
            self.limit_violations[str(status)] += 1
        elif status == 304:
            self.not_modified += 1

    def _level_changes(self) -> None:
        """Count the time spent at the in-flight level about to change."""
        now = self._clock()
        if self._level_since is not None:
            self.in_flight_s[self.in_flight] += now - self._level_since
        self._level_since = now

    def hidden_limit_hit(self, route_key: str) -> None:
        """A history request went over the hidden limit (answered 429 without any limit header)."""
        self.hidden_limit[route_key] += 1

    def cache_violation(self, route_key: str) -> None:
        """A client asked again for a resource before the Expires it had been given."""
        self.cache_violations[route_key] += 1

    def down(self, route_key: str) -> None:
        """A request arrived while a downtime window was open."""
        self.during_downtime[route_key] += 1

    def affiliation_early(self, ids: int) -> None:
        """An affiliation request covered `ids` characters again before their answer's Expires."""
        self.affiliation_early_ids += ids

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counters."""
        return {
            "requests": self.requests,
            "by_route": {route: dict(c) for route, c in sorted(self.by_route.items())},
            "limit_violations": {"420": self.limit_violations["420"], "429": self.limit_violations["429"],
                                 "total": sum(self.limit_violations.values())},
            "not_modified": self.not_modified,
            "cache_violations": {"total": sum(self.cache_violations.values()),
                                 "by_route": dict(self.cache_violations)},
            "affiliation_early_ids": self.affiliation_early_ids,
            "hidden_limit": {"total": sum(self.hidden_limit.values()), "by_route": dict(self.hidden_limit)},
            "during_downtime": dict(self.during_downtime),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "in_flight_seconds": {str(n): round(s, 3) for n, s in sorted(self.in_flight_s.items())},
            "user_agents": dict(self.user_agents),
            "compatibility_dates": dict(self.compatibility_dates),
            "r2z2": self.r2z2.as_dict(),
        }


class FeedCounts:
    """The R2Z2 feed's requests: answers by status, the most that arrived within any one second, and
    feed numbers asked again within AGAIN_AFTER_404_S of their 404."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.by_status: Counter[str] = Counter()
        self.max_per_s = 0
        self._arrivals: deque[float] = deque()  # within the last second
        self._last_404: dict[int, float] = {}
        self.again_early = 0
        self.again_min_gap_s: float | None = None

    def arrived(self, number: int | None) -> None:
        """A request arrived (for file `number`, or another path)."""
        now = self._clock()
        self._arrivals.append(now)
        while self._arrivals[0] <= now - 1.0:
            self._arrivals.popleft()
        self.max_per_s = max(self.max_per_s, len(self._arrivals))
        last = None if number is None else self._last_404.pop(number, None)
        if last is not None:
            gap = now - last
            self.again_min_gap_s = gap if self.again_min_gap_s is None else min(self.again_min_gap_s, gap)
            self.again_early += gap < AGAIN_AFTER_404_S

    def answered(self, status: int, number: int | None) -> None:
        """It was answered with `status`."""
        self.by_status[str(status)] += 1
        if status == 404 and number is not None:
            self._last_404[number] = self._clock()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counters."""
        gap = None if self.again_min_gap_s is None else round(self.again_min_gap_s, 3)
        return {"requests": sum(self.by_status.values()), "by_status": dict(self.by_status),
                "max_per_s": self.max_per_s,
                "asked_again_after_404": {"within_6s": self.again_early, "min_gap_s": gap}}
