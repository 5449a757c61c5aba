"""The budget's decisions as pure functions; MemoryBudget runs them, store/sql/esi_*.sql mirror them.

`decide` answers "may a request on this route go now?" and `apply_settle` folds a response's
report into the state. Times are float seconds on one clock (the database's, for PgBudget).
Every number the rules use is a field of `Rules` (or `Limits`); the PL/pgSQL mirror takes them all
as arguments, and tests/integration/test_budget_agreement.py checks the two agree step by step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Final

from killreport.esi.classify import Observation


@dataclass(frozen=True, slots=True)
class Rules:
    """The constants of the rules: the one place each number lives, for Python and SQL alike.

    Kept apart from `Limits` on purpose: Limits are what an operator configures (ESI_MAX_INFLIGHT,
    ESI_ERROR_FLOOR, the request timeout); Rules model how ESI behaves and how we hedge against it,
    and change only with the code. The Python rules read these fields and PgBudget passes every one
    of them to esi_reserve/esi_settle, so the PL/pgSQL holds no number of its own. Where a value is
    computed from them (a response's token cost) Python computes it and SQL receives the result.
    """

    worst_cost: int = 5  # tokens a 4xx (or no answer) costs: reserved before sending on a grouped route
    cost_2xx: int = 2
    cost_3xx: int = 1
    cost_5xx: int = 0
    poll_s: float = 1.0  # waiters re-ask at least this often even without a NOTIFY
    min_wait_s: float = 0.01  # never tell a waiter "0": it would spin on the budget row's lock
    same_window_s: float = 1.0  # reset times computed on arrival jitter by this much
    pause_420_s: float = 60.0  # a 420 without a reset header: wait out a whole window
    pause_429_s: float = 10.0  # a 429 without Retry-After
    bucket_window_s: float = 900.0  # a token bucket's window until its group reports one
    spend_log: int = 16  # our own spends remembered per bucket, to know when tokens come back
    waiters_recent_s: float = 2.0  # settle notifies only if someone waited this recently

    def __post_init__(self) -> None:
        """Refuse a spend log that could not even hold the spend being recorded."""
        if self.spend_log < 1:
            raise ValueError("spend_log must be at least 1")


RULES: Final = Rules()


@dataclass(frozen=True, slots=True)
class Limits:
    """The cluster's configured limits (settings); the rules' own constants are `Rules`."""

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
    window_s: float  # Rules.bucket_window_s until the group reports its own
    limit: int | None = None
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


def token_cost(status: int | None, rules: Rules = RULES) -> int:
    """Tokens a response costs (2xx, 3xx, 4xx, 5xx by `rules`); no answer is assumed the worst."""
    if status is None or 400 <= status < 500:
        return rules.worst_cost
    if status >= 500:
        return rules.cost_5xx
    return rules.cost_3xx if status >= 300 else rules.cost_2xx


def _bucket_verdict(state: State, now: float, group: str, rules: Rules) -> tuple[State, Wait | None]:
    """Whether a grouped route's bucket can take a worst-case request; may start a bucket pause."""
    bucket = state.buckets.get(group)
    held = sum(1 for lease in state.leases if lease.group == group)
    if bucket is not None and now < bucket.paused_until:
        return state, Wait(bucket.paused_until - now)
    if bucket is None or bucket.remaining is None:
        return state, (Wait(rules.poll_s) if held else None)  # one probe until the group reports
    if bucket.remaining - rules.worst_cost * held >= rules.worst_cost:
        return state, None
    if held:
        return state, Wait(rules.poll_s)  # answers in flight will report fresher numbers
    live = [s for s in bucket.spends if s > now - bucket.window_s]
    until = min(min(live) + bucket.window_s if live else now, now + bucket.window_s)
    if until <= now:
        return state, None
    paused = replace(bucket, paused_until=until, remaining=None)
    return replace(state, buckets={**state.buckets, group: paused}), Wait(until - now)


def _error_verdict(state: State, now: float, limits: Limits, rules: Rules) -> tuple[bool, Wait | None]:
    """(probe?, wait?) under the error limit: one probe while unknown, else stay above the floor."""
    inflight = len(state.leases)
    # A whole-second reset may end our idea of the window up to a second early; keep the old
    # numbers a second longer rather than probe into a window that is still spent.
    window_over = state.window_end + rules.same_window_s
    if state.error_remain is None or now >= window_over:
        return True, (Wait(rules.poll_s) if any(lease.probe for lease in state.leases) else None)
    if state.error_remain - (inflight + 1) <= limits.error_floor:
        return False, Wait(window_over - now if inflight == 0 else rules.poll_s)
    return False, None


def decide(state: State, now: float, route: str, limits: Limits,
           rules: Rules = RULES) -> tuple[State, Grant | Wait]:
    """Grant a lease for one request on `route`, or say how long to wait."""
    state = replace(state, leases=tuple(lease for lease in state.leases if lease.expires_at >= now))
    verdict: Wait | None = None
    probe = False
    group = state.routes.get(route)
    if now < state.paused_until:
        verdict = Wait(state.paused_until - now)
    elif len(state.leases) >= limits.max_inflight:
        verdict = Wait(rules.poll_s)
    elif group is not None:
        state, verdict = _bucket_verdict(state, now, group, rules)
    if verdict is None:
        probe, verdict = _error_verdict(state, now, limits, rules)
    if verdict is not None:
        return replace(state, last_wait_at=now), Wait(max(verdict.seconds, rules.min_wait_s))
    lease = LeaseRec(state.next_id, route, group, probe, now + limits.lease_ttl_s)
    return replace(state, leases=(*state.leases, lease), next_id=state.next_id + 1), Grant(lease)


def _fold_error_report(state: State, now: float, obs: Observation, rules: Rules) -> State:
    """Newer window replaces; same window keeps the minimum; an unreported error costs one."""
    if obs.error_remain is not None and obs.error_reset_s is not None:
        end = now + obs.error_reset_s
        if state.error_remain is None or end > state.window_end + rules.same_window_s:
            return replace(state, error_remain=obs.error_remain, window_end=end)
        if end >= state.window_end - rules.same_window_s:
            return replace(state, error_remain=min(state.error_remain, obs.error_remain))
        return state  # a straggler from an older window
    if obs.is_error and state.error_remain is not None and now < state.window_end:
        return replace(state, error_remain=max(state.error_remain - 1, 0))
    return state


def _fold_bucket(state: State, now: float, route: str, group: str, obs: Observation,
                 rules: Rules) -> State:
    """Record the route's group, the reported tokens (or our cost), our spend, and a 429's pause."""
    bucket = state.buckets.get(group) or Bucket(group, window_s=rules.bucket_window_s)
    cost = token_cost(obs.status, rules)
    report = obs.tokens
    if report is not None:
        window = float(report.window_s) if report.window_s else bucket.window_s
        bucket = replace(bucket, limit=report.limit or bucket.limit, window_s=window,
                         remaining=report.remaining)
    elif bucket.remaining is not None:
        bucket = replace(bucket, remaining=max(bucket.remaining - cost, 0))
    if cost > 0:
        live = sorted(s for s in bucket.spends if s > now - bucket.window_s)
        bucket = replace(bucket, spends=(*live[max(len(live) - rules.spend_log + 1, 0):], now))
    if obs.status == 429:
        retry = obs.retry_after_s if obs.retry_after_s is not None else rules.pause_429_s
        bucket = replace(bucket, paused_until=max(bucket.paused_until, now + retry), remaining=None)
    routes = {**state.routes, route: group} if report is not None else state.routes
    return replace(state, buckets={**state.buckets, group: bucket}, routes=routes)


def _pause(state: State, until: float, reason: str) -> State:
    """Pause every route until `until` (never shortening a longer pause)."""
    return replace(state, paused_until=max(state.paused_until, until), pause_reason=reason)


def apply_settle(state: State, now: float, lease_id: int, route: str, obs: Observation,
                 rules: Rules = RULES) -> tuple[State, bool]:
    """Return the lease and fold in what the response reported; True when waiters should be woken."""
    mine = [lease for lease in state.leases if lease.id == lease_id]
    state = replace(state, leases=tuple(lease for lease in state.leases if lease.id != lease_id))
    state = _fold_error_report(state, now, obs, rules)
    wake = now - state.last_wait_at < rules.waiters_recent_s
    if obs.status == 420:
        reset = float(obs.error_reset_s) if obs.error_reset_s is not None else rules.pause_420_s
        state = replace(state, error_remain=0, window_end=now + reset)
        state = _pause(state, now + reset, "error limit (420)")
        wake = True
    group = obs.tokens.group if obs.tokens else (mine[0].group if mine else state.routes.get(route))
    if group is not None:
        state = _fold_bucket(state, now, route, group, obs, rules)
    elif obs.status == 429:
        retry = obs.retry_after_s if obs.retry_after_s is not None else rules.pause_429_s
        state = _pause(state, now + retry, "429 without a group")
    return state, wake or obs.status == 429
