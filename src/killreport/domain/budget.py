"""The budget interface the ESI client talks to."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Final, Protocol

from killreport.domain.observation import Observation


@dataclass(frozen=True, slots=True)
class Lease:
    """Permission to send one request; settle it exactly once."""

    id: int
    route: str
    group: str | None = None
    probe: bool = False


@dataclass(frozen=True, slots=True)
class BucketState:
    """A token bucket as last reported."""

    group: str
    limit: int | None
    window_s: int | None
    remaining: int | None
    reported_at: dt.datetime | None
    paused_until: dt.datetime | None


@dataclass(frozen=True, slots=True)
class RouteCapState:
    """A cap group (ESI_ROUTE_CAPS): the share of its rate it has now (below 1 after cuts) and until
    when, the headerless 429s seen on its routes, and the pause of its last cut while it lasts."""

    group: str
    factor: float
    reduced_until: dt.datetime | None
    hits: int
    paused_until: dt.datetime | None = None


# The pause reason a snapshot shows while ESI is down (daily or unscheduled): only /status goes out.
DOWNTIME: Final = "downtime"


@dataclass(frozen=True, slots=True)
class BudgetSnapshot:
    """The shared budget as `killreport status` shows it."""

    error_limit_remaining: int | None
    error_limit_reset_at: dt.datetime | None
    paused_until: dt.datetime | None
    pause_reason: str | None
    in_flight: int
    buckets: list[BucketState] = field(default_factory=list)
    route_groups: dict[str, str] = field(default_factory=dict)
    downtime: bool = False  # ESI is down: only /status goes out until it shows ESI back
    route_caps: list[RouteCapState] = field(default_factory=list)


class Budget(Protocol):
    """Reserve before a request, settle after it."""

    async def reserve(self, route: str) -> Lease:
        """Wait until a request on `route` (a path template) fits every limit, and hold its share.

        The route, not its group, is passed: the budget owns the route→group map learned from
        responses, so resolving it inside reserve saves a round trip and cannot race the map.
        """
        ...

    async def settle(self, lease: Lease, observation: Observation) -> None:
        """Return the lease and record what the response reported."""
        ...

    async def snapshot(self) -> BudgetSnapshot:
        """The budget as last reported, for `killreport status`."""
        ...
