"""The budget's decisions as pure functions; MemoryBudget runs them, store/sql/esi_*.sql mirror them.

`decide` answers "may a request on this route go now?" and `apply_settle` folds a response's
report into the state. Downtime is part of both: from `Rules.downtime_lead_s` before the daily
downtime, and from an answer saying ESI cannot reach the game server, only /status goes out until
a /status answer shows ESI back (src/killreport/downtime.py asks it). Times are float seconds on
one clock (the database's, for PgBudget).
Every number the rules use is a field of `Rules` (or `Limits`); the PL/pgSQL mirror takes them all
as arguments, and tests/integration/test_budget_agreement.py checks the two agree step by step.

Route caps: ESI has limits it does not announce (the history routes are reported to 429 past a few
hundred requests a minute per IP, with no headers, perhaps counting both routes together). A cap
is a named group of routes sharing one rate (`CapGroup`): their requests together are spaced at
least 1/rate seconds apart, cluster-wide. A 429 without rate-limit headers (no bucket, no
Retry-After) on one of them, whose request was granted after the group's last cut, cuts the
group's rate by `Rules.cap_cut` for `cap_recover_s` (down to `cap_min_factor`) and pauses the group
for `cap_pause_s`, instead of pausing every route. One whose request was granted before the last
cut says nothing new (it was in flight when the cut was made) and is only counted: without that
rule a burst of in-flight 429s would drive the rate to its floor. The pause is because the limits
reported count a rolling minute: past one, everything is refused until the minute rolls, so going on
at once at half the rate would only collect more 429s.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Final

from killreport.domain.budget import DOWNTIME, BucketState, BudgetSnapshot, RouteCapState
from killreport.domain.observation import Observation


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
    # Downtime (docs: esi-reference.md "Daily downtime"). While ESI is down only /status goes out.
    status_route: str = "/status"  # the one route that tells whether ESI is back
    downtime_at_s: float = 39600.0  # the daily downtime starts 11:00 UTC (seconds into the day)...
    downtime_every_s: float = 86400.0  # ...every day
    downtime_lead_s: float = 30.0  # stop this long before it: an answer sent at 10:59:59 would be a 503
    # A daily downtime with no /status showing a new start_time ends this long after 11:00 anyway:
    # a fresh budget knows no start_time, and a skipped downtime would otherwise pause for a day.
    # Should ESI still be down then, the first answer says so and marks it down again.
    downtime_max_s: float = 1800.0
    status_poll_s: float = 3.0  # /status at most this often, fleet-wide (and never before its Expires)
    # While down but /status may not be asked yet (its last answer is still cached, so asking would
    # circumvent the cache), one request of any route probes instead, at most this often after the
    # last "unavailable" answer: a blip then costs a second, a real downtime one error per probe.
    downtime_probe_s: float = 1.0
    # Nobody asked /status for this long after ESI went down (no watcher runs: a CLI command, an
    # embedded client): a lone probe every so often instead, so a downtime never deadlocks it.
    downtime_unwatched_s: float = 10.0
    watch_s: float = 2.0  # each process reads the shared state this often to see whether ESI is down
    # A cut halves a cap group's rate for this long (the hidden limits reported are per minute: ten
    # minutes at half the rate lets one pass fully before the cap is trusted again).
    cap_recover_s: float = 600.0
    cap_cut: float = 0.5  # each cut leaves a cap group this share of what it had
    cap_min_factor: float = 1 / 64  # however many cuts, a cap group keeps this share of its rate
    # A cut pauses its group this long: the hidden limits reported count a rolling minute, and past
    # one everything is refused until it rolls.
    cap_pause_s: float = 60.0

    def __post_init__(self) -> None:
        """Refuse a spend log that could not even hold the spend being recorded."""
        if self.spend_log < 1:
            raise ValueError("spend_log must be at least 1")
        if self.downtime_every_s <= 0:
            raise ValueError("downtime_every_s must be positive")
        if not 0 < self.cap_min_factor <= 1 or not 0 < self.cap_cut <= 1:
            raise ValueError("cap_min_factor and cap_cut must be in (0, 1]")
        if not 0 <= self.cap_pause_s < math.inf:
            raise ValueError("cap_pause_s must be a finite number of seconds, at least 0")


RULES: Final = Rules()
# For a simulator, or an ESI without the daily window (ESI_DAILY_DOWNTIME=false, tests on the real clock).
WITHOUT_DOWNTIME: Final = Rules(downtime_lead_s=0.0, downtime_max_s=0.0)


@dataclass(frozen=True, slots=True)
class CapGroup:
    """Routes that share one rate (requests a second, every process together): ESI_ROUTE_CAPS' groups."""

    per_s: float
    routes: frozenset[str]


@dataclass(frozen=True, slots=True)
class Limits:
    """The cluster's configured limits (settings); the rules' own constants are `Rules`."""

    max_inflight: int = 32
    error_floor: int = 10
    lease_ttl_s: float = 20.0
    route_caps: Mapping[str, CapGroup] = field(default_factory=dict)  # group name -> its rate and routes
    _by_route: Mapping[str, tuple[str, float]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Refuse a cap that is not a positive rate, a group without routes, a route in two groups."""
        by_route: dict[str, tuple[str, float]] = {}
        for name, group in self.route_caps.items():
            if not group.per_s > 0 or math.isinf(group.per_s):
                raise ValueError(f"route cap {name!r}: a cap must be a positive, finite number of "
                                 "requests a second")
            if not group.routes:
                raise ValueError(f"route cap {name!r} names no route")
            for route in group.routes:
                if route in by_route:
                    raise ValueError(f"route {route!r} is in two route caps: {by_route[route][0]!r} "
                                     f"and {name!r}")
                by_route[route] = (name, group.per_s)
        object.__setattr__(self, "_by_route", by_route)

    def cap_of(self, route: str) -> tuple[str, float] | None:
        """The (group, requests a second) capping `route`, None if none does."""
        return self._by_route.get(route)


@dataclass(frozen=True, slots=True)
class LeaseRec:
    """A reservation in flight."""

    id: int
    route: str
    group: str | None
    probe: bool
    expires_at: float
    down_probe: bool = False  # granted while ESI was down, to learn whether it is back
    granted_at: float = 0.0  # a 429 on a capped route cuts its cap only if granted after the last cut


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
class RouteCap:
    """A cap group's state: when its next request may go, its rate's share after cuts, the last cut."""

    group: str
    next_at: float = 0.0  # after a cut: its pause's end, at the earliest
    factor: float = 1.0  # of the configured rate, while now < reduced_until
    reduced_until: float = 0.0
    hits: int = 0  # headerless 429s seen on the group's routes, whether they cut or not
    cut_at: float = 0.0  # the last cut (0: never)


def cap_factor(rc: RouteCap, now: float) -> float:
    """The share of its rate a group has now: cut while a headerless 429 is recent."""
    return rc.factor if now < rc.reduced_until else 1.0


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
    unavailable_at: float | None = None  # when ESI last said it cannot reach the game server, until back
    up_since: float = 0.0  # the latest start_time of a /status showing the cluster open to all
    status_next: float = 0.0  # no /status before this: the last one's Expires, the fleet's spacing
    status_up: bool = False  # the last /status answer showed the cluster open to all
    caps: Mapping[str, RouteCap] = field(default_factory=dict)  # cap groups that were asked, by name


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


def daily_start(now: float, rules: Rules = RULES) -> float:
    """The start of the daily downtime `now` is in or leads up to: the latest one at most the lead ahead."""
    days = math.floor((now + rules.downtime_lead_s - rules.downtime_at_s) / rules.downtime_every_s)
    return days * rules.downtime_every_s + rules.downtime_at_s


def daily_down(up_since: float, now: float, rules: Rules = RULES) -> bool:
    """Whether the daily downtime holds: from its lead until /status shows a start_time after it."""
    start = daily_start(now, rules)
    return now < start + rules.downtime_max_s and up_since <= start


def esi_down(unavailable_at: float | None, up_since: float, now: float, rules: Rules = RULES) -> bool:
    """Whether ESI counts as down: it said so and was not seen back since, or the daily downtime holds."""
    return unavailable_at is not None or daily_down(up_since, now, rules)


def _status_verdict(state: State, now: float, rules: Rules) -> Wait | None:
    """/status, down or not: never before the last answer's Expires (or the spacing), one at a time."""
    if now < state.status_next:
        return Wait(state.status_next - now)
    if any(lease.route == rules.status_route for lease in state.leases):
        return Wait(rules.poll_s)
    return None


def _down_verdict(state: State, now: float, rules: Rules) -> tuple[bool, Wait | None]:
    """(down probe?, wait?) for any other route: while ESI is down only /status may tell it is back.

    Unless /status cannot tell: its last answer said "up" and may not be asked again yet (ESI would
    answer from its cache, and asking would circumvent it), or nobody has asked it for a while (no
    watcher runs). Then one probe of this route at a time, spaced after the last "unavailable".
    """
    if daily_down(state.up_since, now, rules):
        return False, Wait(rules.poll_s)
    if state.unavailable_at is None:
        return False, None
    if any(lease.down_probe for lease in state.leases):
        return False, Wait(rules.poll_s)
    if state.status_up and now < state.status_next:
        due = state.unavailable_at + rules.downtime_probe_s
    else:
        due = max(state.unavailable_at, state.status_next) + rules.downtime_unwatched_s
    return (True, None) if now >= due else (False, Wait(due - now))


def _gate(state: State, now: float, route: str, limits: Limits,
          rules: Rules) -> tuple[State, bool, Wait | None]:
    """(state, down probe?, wait?) before the error limit: pauses, in-flight cap, downtime, bucket."""
    group = state.routes.get(route)
    if now < state.paused_until:
        return state, False, Wait(state.paused_until - now)
    if len(state.leases) >= limits.max_inflight:
        return state, False, Wait(rules.poll_s)
    if route == rules.status_route:
        down_probe, verdict = False, _status_verdict(state, now, rules)
    else:
        down_probe, verdict = _down_verdict(state, now, rules)
    capped = limits.cap_of(route)
    cap = state.caps.get(capped[0]) if capped is not None else None
    if verdict is None and cap is not None and now < cap.next_at:
        verdict = Wait(cap.next_at - now)
    if verdict is None and group is not None:
        state, verdict = _bucket_verdict(state, now, group, rules)
    return state, down_probe, verdict


def decide(state: State, now: float, route: str, limits: Limits,
           rules: Rules = RULES) -> tuple[State, Grant | Wait]:
    """Grant a lease for one request on `route`, or say how long to wait."""
    if any(lease.expires_at < now for lease in state.leases):  # rare: a holder died, its TTL ran out
        state = replace(state, leases=tuple(lease for lease in state.leases if lease.expires_at >= now))
    state, down_probe, verdict = _gate(state, now, route, limits, rules)
    probe = False
    if verdict is None:
        probe, verdict = _error_verdict(state, now, limits, rules)
    if verdict is not None:
        return replace(state, last_wait_at=now), Wait(max(verdict.seconds, rules.min_wait_s))
    lease = LeaseRec(state.next_id, route, state.routes.get(route), probe, now + limits.lease_ttl_s,
                     down_probe, now)
    state = replace(state, leases=(*state.leases, lease), next_id=state.next_id + 1)
    capped = limits.cap_of(route)
    if capped is not None:
        state = _spaced(state, now, *capped)
    return state, Grant(lease)


def _spaced(state: State, now: float, group: str, per_s: float) -> State:
    """A capped group's request was granted: the next one goes 1/(its rate now) seconds later."""
    rc = state.caps.get(group) or RouteCap(group)
    factor = cap_factor(rc, now)
    return replace(state, caps={**state.caps, group: replace(rc, next_at=now + 1 / (per_s * factor),
                                                               factor=factor)})


def hidden_limit(obs: Observation) -> bool:
    """A 429 that names no bucket and no Retry-After: a limit ESI does not announce."""
    return obs.status == 429 and obs.tokens is None and obs.retry_after_s is None


def _hidden_hit(state: State, now: float, mine: LeaseRec | None, cap: tuple[str, float],
                rules: Rules) -> State:
    """A headerless 429 on a capped group: counted; a cut and a pause if its request went after the last cut.

    An unknown lease (settled already, or reaped after its TTL) has no grant time to compare: it cuts
    nothing (the next request of the group that is refused will)."""
    group, per_s = cap
    rc = state.caps.get(group) or RouteCap(group)
    if mine is None or mine.granted_at <= rc.cut_at:
        return replace(state, caps={**state.caps, group: replace(rc, hits=rc.hits + 1)})
    factor = max(cap_factor(rc, now) * rules.cap_cut, rules.cap_min_factor)
    # The last grant spaced from a share at least this one, at or before now: this is never sooner.
    cut = RouteCap(group, next_at=now + max(rules.cap_pause_s, 1 / (per_s * factor)), factor=factor,
                   reduced_until=now + rules.cap_recover_s, hits=rc.hits + 1, cut_at=now)
    return replace(state, caps={**state.caps, group: cut})


def _fold_error_report(state: State, now: float, obs: Observation, rules: Rules) -> State:
    """Newer window replaces; same window keeps the minimum; an unreported error costs one."""
    if obs.error_remain is not None and obs.error_reset_s is not None:
        end = now + obs.error_reset_s
        if state.error_remain is None or end > state.window_end + rules.same_window_s:
            return replace(state, error_remain=obs.error_remain, window_end=end)
        if end >= state.window_end - rules.same_window_s:
            if obs.error_remain >= state.error_remain:
                return state  # most answers: nothing new (a State is copied only when it changes)
            return replace(state, error_remain=obs.error_remain)
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


def _fold_downtime(state: State, now: float, route: str, obs: Observation, mine: LeaseRec | None,
                   rules: Rules) -> tuple[State, bool]:
    """An "unavailable" answer marks ESI down; /status showing it open to all, or a probe's answer, clears it.

    True when that brought ESI back: waiters are woken, and since what ESI will report next is unknown
    (its error window has moved on, and a /status answer may have come from its cache) the first
    request is a lone probe again, as on a fresh budget.
    """
    was_down = esi_down(state.unavailable_at, state.up_since, now, rules)
    if obs.unavailable:
        state = replace(state, unavailable_at=now)
    if route == rules.status_route and obs.status is not None:
        fresh = obs.fresh_s if obs.fresh_s is not None else 0.0
        state = replace(state, status_next=now + max(rules.status_poll_s, fresh),
                        status_up=obs.up_since is not None)
        if obs.up_since is not None:
            state = replace(state, unavailable_at=None, up_since=max(state.up_since, obs.up_since))
    elif mine is not None and mine.down_probe and obs.status is not None and not obs.is_error:
        state = replace(state, unavailable_at=None)
    if was_down and not esi_down(state.unavailable_at, state.up_since, now, rules):
        return replace(state, error_remain=None), True
    return state, False


def apply_settle(state: State, now: float, lease_id: int, route: str, obs: Observation,
                 rules: Rules = RULES, cap: tuple[str, float] | None = None) -> tuple[State, bool]:
    """Return the lease and fold in what the response reported; True when waiters should be woken.

    `cap`: the route's cap group and its rate (Limits.cap_of), None if it has none."""
    mine = [lease for lease in state.leases if lease.id == lease_id]
    state = replace(state, leases=tuple(lease for lease in state.leases if lease.id != lease_id))
    state, back = _fold_downtime(state, now, route, obs, mine[0] if mine else None, rules)
    state = _fold_error_report(state, now, obs, rules)
    wake = back or now - state.last_wait_at < rules.waiters_recent_s
    if obs.status == 420:
        reset = float(obs.error_reset_s) if obs.error_reset_s is not None else rules.pause_420_s
        state = replace(state, error_remain=0, window_end=now + reset)
        state = _pause(state, now + reset, "error limit (420)")
        wake = True
    hidden = cap is not None and hidden_limit(obs)
    if cap is not None and hidden:
        state = _hidden_hit(state, now, mine[0] if mine else None, cap, rules)
    group = obs.tokens.group if obs.tokens else (mine[0].group if mine else state.routes.get(route))
    if group is not None:
        state = _fold_bucket(state, now, route, group, obs, rules)
    elif obs.status == 429 and not hidden:
        retry = obs.retry_after_s if obs.retry_after_s is not None else rules.pause_429_s
        state = _pause(state, now + retry, "429 without a group")
    return state, wake or obs.status == 429


def _at(seconds: float) -> dt.datetime | None:
    """An epoch-seconds instant as a datetime; None for 'never set'."""
    if seconds <= 0:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def cap_pause_end(cut_at: float, now: float, rules: Rules = RULES) -> dt.datetime | None:
    """When the pause of a cap group's last cut (0: never) ends, while it lasts; None once over."""
    until = cut_at + rules.cap_pause_s if cut_at > 0 else 0.0
    return _at(until) if until > now else None


def snapshot_of(state: State, now: float, rules: Rules = RULES, *, leases: bool = True) -> BudgetSnapshot:
    """A State in the shape `killreport status` shows; without `leases`, none counts as in flight."""
    down = esi_down(state.unavailable_at, state.up_since, now, rules)
    buckets = [
        BucketState(group=b.group, limit=b.limit, window_s=int(b.window_s), remaining=b.remaining,
                    reported_at=None, paused_until=_at(b.paused_until))
        for b in sorted(state.buckets.values(), key=lambda b: b.group)
    ]
    return BudgetSnapshot(
        error_limit_remaining=state.error_remain, error_limit_reset_at=_at(state.window_end),
        paused_until=_at(state.paused_until),
        pause_reason=DOWNTIME if down else state.pause_reason,
        in_flight=sum(1 for lease in state.leases if lease.expires_at >= now) if leases else 0,
        buckets=buckets, route_groups=dict(state.routes), downtime=down,
        route_caps=[RouteCapState(c.group, cap_factor(c, now), _at(c.reduced_until), c.hits,
                                  cap_pause_end(c.cut_at, now, rules))
                    for c in sorted(state.caps.values(), key=lambda c: c.group)],
    )
