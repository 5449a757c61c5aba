"""The budget's decisions as pure functions; MemoryBudget runs them, migration 0002's SQL mirrors them.

`decide` answers "may a request on this route go now?" and `apply_settle` folds a response's
report into the state. Times are float seconds on one clock (the database's, for PgBudget).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Final

from killreport.esi.classify import Observation

WORST_COST: Final = 5  # tokens a 4xx costs: reserved before sending on a grouped route
POLL_S: Final = 1.0  # waiters re-ask at least this often even without a NOTIFY
MIN_WAIT_S: Final = 0.01
SAME_WINDOW_S: Final = 1.0  # reset times computed on arrival jitter by this much
PAUSE_420_S: Final = 60.0  # a 420 without a reset header: wait out a whole window
PAUSE_429_S: Final = 10.0
BUCKET_WINDOW_S: Final = 900.0
SPEND_LOG: Final = 16
WAITERS_RECENT_S: Final = 2.0


@dataclass(frozen=True, slots=True)
class Limits:
    """The cluster's configured limits."""

    max_inflight: int = 32
    error_floor: int = 10
    lease_ttl_s: float = 20.0


@dataclass(frozen=True, slots=True)
class LeaseRec:
    """A reservation in flight."""

    id: int
    route: str
    group: str | None
    probe: bool
    expires_at: float


@dataclass(frozen=True, slots=True)
class Bucket:
    """A token-bucket group as last reported, with our own recent spends."""

    group: str
    limit: int | None = None
    window_s: float = BUCKET_WINDOW_S
    remaining: int | None = None
    paused_until: float = 0.0
    spends: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class State:
    """Everything the budget knows."""

    error_remain: int | None = None
    window_end: float = 0.0
    paused_until: float = 0.0
    pause_reason: str | None = None
    last_wait_at: float = -1e18
    leases: tuple[LeaseRec, ...] = ()
    buckets: Mapping[str, Bucket] = field(default_factory=dict)
    routes: Mapping[str, str] = field(default_factory=dict)
    next_id: int = 1


@dataclass(frozen=True, slots=True)
class Grant:
    """Send now under this lease."""

    lease: LeaseRec


@dataclass(frozen=True, slots=True)
class Wait:
    """Ask again after at most `seconds` (or when woken)."""

    seconds: float


def token_cost(status: int | None) -> int:
    """Tokens a response costs: 2xx=2, 3xx=1, 4xx=5, 5xx=0; no answer is assumed the worst."""
    if status is None or 400 <= status < 500:
        return WORST_COST
    if status >= 500:
        return 0
    return 1 if status >= 300 else 2


def _bucket_verdict(state: State, now: float, group: str) -> tuple[State, Wait | None]:
    """Whether a grouped route's bucket can take a worst-case request; may start a bucket pause."""
    bucket = state.buckets.get(group)
    held = sum(1 for lease in state.leases if lease.group == group)
    if bucket is not None and now < bucket.paused_until:
        return state, Wait(bucket.paused_until - now)
    if bucket is None or bucket.remaining is None:
        return state, (Wait(POLL_S) if held else None)  # one probe until the group reports
    if bucket.remaining - WORST_COST * held >= WORST_COST:
        return state, None
    if held:
        return state, Wait(POLL_S)  # answers in flight will report fresher numbers
    live = [s for s in bucket.spends if s > now - bucket.window_s]
    until = min(min(live) + bucket.window_s if live else now, now + bucket.window_s)
    if until <= now:
        return state, None
    paused = replace(bucket, paused_until=until, remaining=None)
    return replace(state, buckets={**state.buckets, group: paused}), Wait(until - now)


def _error_verdict(state: State, now: float, limits: Limits) -> tuple[bool, Wait | None]:
    """(probe?, wait?) under the error limit: one probe while unknown, else stay above the floor."""
    inflight = len(state.leases)
    # A whole-second reset may end our idea of the window up to a second early; keep the old
    # numbers a second longer rather than probe into a window that is still spent.
    window_over = state.window_end + SAME_WINDOW_S
    if state.error_remain is None or now >= window_over:
        return True, (Wait(POLL_S) if any(lease.probe for lease in state.leases) else None)
    if state.error_remain - (inflight + 1) <= limits.error_floor:
        return False, Wait(window_over - now if inflight == 0 else POLL_S)
    return False, None


def decide(state: State, now: float, route: str, limits: Limits) -> tuple[State, Grant | Wait]:
    """Grant a lease for one request on `route`, or say how long to wait."""
    state = replace(state, leases=tuple(lease for lease in state.leases if lease.expires_at >= now))
    verdict: Wait | None = None
    probe = False
    group = state.routes.get(route)
    if now < state.paused_until:
        verdict = Wait(state.paused_until - now)
    elif len(state.leases) >= limits.max_inflight:
        verdict = Wait(POLL_S)
    elif group is not None:
        state, verdict = _bucket_verdict(state, now, group)
    if verdict is None:
        probe, verdict = _error_verdict(state, now, limits)
    if verdict is not None:
        return replace(state, last_wait_at=now), Wait(max(verdict.seconds, MIN_WAIT_S))
    lease = LeaseRec(state.next_id, route, group, probe, now + limits.lease_ttl_s)
    return replace(state, leases=(*state.leases, lease), next_id=state.next_id + 1), Grant(lease)


def _fold_error_report(state: State, now: float, obs: Observation) -> State:
    """Newer window replaces; same window keeps the minimum; an unreported error costs one."""
    if obs.error_remain is not None and obs.error_reset_s is not None:
        end = now + obs.error_reset_s
        if state.error_remain is None or end > state.window_end + SAME_WINDOW_S:
            return replace(state, error_remain=obs.error_remain, window_end=end)
        if end >= state.window_end - SAME_WINDOW_S:
            return replace(state, error_remain=min(state.error_remain, obs.error_remain))
        return state  # a straggler from an older window
    if obs.is_error and state.error_remain is not None and now < state.window_end:
        return replace(state, error_remain=max(state.error_remain - 1, 0))
    return state


def _fold_bucket(state: State, now: float, route: str, group: str, obs: Observation) -> State:
    """Record the route's group, the reported tokens (or our cost), our spend, and a 429's pause."""
    bucket = state.buckets.get(group) or Bucket(group)
    cost = token_cost(obs.status)
    report = obs.tokens
    if report is not None:
        window = float(report.window_s) if report.window_s else bucket.window_s
        bucket = replace(bucket, limit=report.limit or bucket.limit, window_s=window,
                         remaining=report.remaining)
    elif bucket.remaining is not None:
        bucket = replace(bucket, remaining=max(bucket.remaining - cost, 0))
    if cost > 0:
        live = sorted(s for s in bucket.spends if s > now - bucket.window_s)
        bucket = replace(bucket, spends=(*live[-(SPEND_LOG - 1):], now))
    if obs.status == 429:
        retry = obs.retry_after_s if obs.retry_after_s is not None else PAUSE_429_S
        bucket = replace(bucket, paused_until=max(bucket.paused_until, now + retry), remaining=None)
    routes = {**state.routes, route: group} if report is not None else state.routes
    return replace(state, buckets={**state.buckets, group: bucket}, routes=routes)


def _pause(state: State, until: float, reason: str) -> State:
    return replace(state, paused_until=max(state.paused_until, until), pause_reason=reason)


def apply_settle(state: State, now: float, lease_id: int, route: str, obs: Observation) -> tuple[State, bool]:
    """Return the lease and fold in what the response reported; True when waiters should be woken."""
    mine = [lease for lease in state.leases if lease.id == lease_id]
    state = replace(state, leases=tuple(lease for lease in state.leases if lease.id != lease_id))
    state = _fold_error_report(state, now, obs)
    wake = now - state.last_wait_at < WAITERS_RECENT_S
    if obs.status == 420:
        reset = float(obs.error_reset_s) if obs.error_reset_s is not None else PAUSE_420_S
        state = replace(state, error_remain=0, window_end=now + reset)
        state = _pause(state, now + reset, "error limit (420)")
        wake = True
    group = obs.tokens.group if obs.tokens else (mine[0].group if mine else state.routes.get(route))
    if group is not None:
        state = _fold_bucket(state, now, route, group, obs)
    elif obs.status == 429:
        retry = obs.retry_after_s if obs.retry_after_s is not None else PAUSE_429_S
        state = _pause(state, now + retry, "429 without a group")
    return state, wake or obs.status == 429
