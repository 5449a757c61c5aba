"""The budget's SQL: the esi_reserve/esi_settle calls with their arguments, and the status read.

The functions themselves are store/sql/esi_reserve.sql and esi_settle.sql. Every constant the
rules use is passed from rules.Limits and rules.Rules; `now` is for tests only (None: the database
clock, the only clock production uses).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import asyncpg

from killreport.domain.budget import DOWNTIME, BucketState, BudgetSnapshot, RouteCapState
from killreport.domain.budget_rules import Limits, Rules, cap_pause_end, esi_down, hidden_limit, token_cost
from killreport.domain.observation import Observation

# Named notation: the argument lists are long, and a name cannot be passed to the wrong slot.
RESERVE: Final = (
    "SELECT o_lease, o_group, o_probe, o_wait FROM esi_reserve(p_route => $1, p_max => $2,"
    " p_floor => $3, p_ttl => $4, p_worst => $5, p_poll => $6, p_min_wait => $7,"
    " p_same_window => $8, p_status_route => $9, p_daily_at => $10, p_daily_every => $11,"
    " p_daily_lead => $12, p_daily_max => $13, p_probe_every => $14, p_unwatched => $15,"
    " p_cap_group => $16, p_cap => $17, p_now => $18)")
SETTLE: Final = (
    "SELECT esi_settle(p_lease => $1, p_route => $2, p_status => $3, p_is_error => $4,"
    " p_remain => $5, p_reset => $6, p_group => $7, p_limit => $8, p_window => $9, p_bremain => $10,"
    " p_retry => $11, p_cost => $12, p_same_window => $13, p_pause_420 => $14, p_pause_429 => $15,"
    " p_bucket_window => $16, p_spend_log => $17, p_waiters_recent => $18, p_unavailable => $19,"
    " p_up_since => $20, p_fresh => $21, p_status_route => $22, p_status_poll => $23,"
    " p_daily_at => $24, p_daily_every => $25, p_daily_lead => $26, p_daily_max => $27,"
    " p_cap_group => $28, p_cap => $29, p_hidden => $30, p_cap_recover => $31, p_cap_min_factor => $32,"
    " p_cap_cut => $33, p_cap_pause => $34, p_now => $35)")


def _daily(rules: Rules) -> tuple[float, float, float, float]:
    """The daily downtime's arguments, in the order both functions take them."""
    return rules.downtime_at_s, rules.downtime_every_s, rules.downtime_lead_s, rules.downtime_max_s


def reserve_args(route: str, limits: Limits, rules: Rules, now: float | None = None) -> tuple[Any, ...]:
    """The RESERVE arguments for one request on `route`."""
    return (route, limits.max_inflight, limits.error_floor, limits.lease_ttl_s, rules.worst_cost,
            rules.poll_s, rules.min_wait_s, rules.same_window_s, rules.status_route, *_daily(rules),
            rules.downtime_probe_s, rules.downtime_unwatched_s, *_cap(limits.cap_of(route)), now)


def _cap(cap: tuple[str, float] | None) -> tuple[str | None, float | None]:
    """A cap group's name and rate as the functions take them: both NULL for a route without one."""
    return cap if cap is not None else (None, None)


def settle_args(lease_id: int, route: str, obs: Observation, rules: Rules, now: float | None = None,
                cap: tuple[str, float] | None = None) -> tuple[Any, ...]:
    """The SETTLE arguments for one observation (the token cost and whether it is a hidden limit's
    429 computed here, by the rules); `cap` is the route's group and rate (Limits.cap_of), None if
    it has none."""
    tokens = obs.tokens
    return (lease_id, route, obs.status, obs.is_error, obs.error_remain,
            float(obs.error_reset_s) if obs.error_reset_s is not None else None,
            tokens.group if tokens else None, tokens.limit if tokens else None,
            float(tokens.window_s) if tokens and tokens.window_s else None,
            tokens.remaining if tokens else None, obs.retry_after_s,
            token_cost(obs.status, rules), rules.same_window_s, rules.pause_420_s, rules.pause_429_s,
            rules.bucket_window_s, rules.spend_log, rules.waiters_recent_s, obs.unavailable, obs.up_since,
            obs.fresh_s, rules.status_route, rules.status_poll_s, *_daily(rules), *_cap(cap),
            hidden_limit(obs), rules.cap_recover_s, rules.cap_min_factor, rules.cap_cut, rules.cap_pause_s,
            now)


def _at(seconds: float | None) -> dt.datetime | None:
    """An epoch-seconds instant as a datetime; None for 'never set'."""
    if seconds is None or seconds <= 0:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


async def read_snapshot(conn: asyncpg.Connection, rules: Rules, now: float | None = None) -> BudgetSnapshot:
    """Read the budget tables (in-flight counts only unexpired leases; down by the database's clock
    unless `now` is given)."""
    b = await conn.fetchrow(
        "SELECT *, (SELECT count(*) FROM esi_leases WHERE expires_at >= n.now) AS in_flight"
        " FROM esi_budget, (SELECT extract(epoch FROM clock_timestamp())::double precision AS now) n"
        " WHERE id = 1")
    assert b is not None
    down = esi_down(b["unavailable_at"], b["up_since"], b["now"] if now is None else now, rules)
    buckets = [BucketState(group=r["grp"], limit=r["token_limit"], window_s=int(r["window_s"]),
                           remaining=r["remaining"], reported_at=_at(r["reported_at"]),
                           paused_until=_at(r["paused_until"]))
               for r in await conn.fetch("SELECT * FROM esi_buckets ORDER BY grp")]
    groups = {r["route"]: r["grp"] for r in await conn.fetch("SELECT * FROM esi_route_groups")}
    at = b["now"] if now is None else now
    caps = [RouteCapState(r["grp"], r["factor"] if at < r["reduced_until"] else 1.0, _at(r["reduced_until"]),
                          r["hits"], cap_pause_end(r["cut_at"], at, rules))
            for r in await conn.fetch("SELECT * FROM esi_cap_groups ORDER BY grp")]
    return BudgetSnapshot(error_limit_remaining=b["error_remain"],
                          error_limit_reset_at=_at(b["error_window_end"]),
                          paused_until=_at(b["paused_until"]),
                          pause_reason=DOWNTIME if down else b["pause_reason"],
                          in_flight=b["in_flight"], buckets=buckets, route_groups=groups, downtime=down,
                          route_caps=caps)
