"""The pure budget rules under random interleavings of reserves, settles and time passing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from killreport.domain.budget_rules import Grant, Limits, Rules, State, Wait, apply_settle, decide, token_cost
from killreport.domain.observation import NO_ANSWER, Observation, TokenReport

ROUTES = ["/a/{id}", "/b/{id}", "/status"]


def report(status: int, remain: int | None, reset: int | None) -> Observation:
    return Observation(status=status, is_error=status >= 400, error_remain=remain, error_reset_s=reset)


OBSERVATIONS = st.one_of(
    st.builds(report, st.sampled_from([200, 304, 404, 420, 500, 503]), st.integers(0, 100) | st.none(),
              st.integers(0, 60) | st.none()),
    st.just(NO_ANSWER),
    st.builds(lambda status, rem, retry: Observation(
        status=status, is_error=status >= 400, retry_after_s=retry,
        tokens=TokenReport("status", 150, 900, rem)),
        st.sampled_from([200, 304, 404, 429, 500]), st.integers(0, 150), st.floats(0, 30) | st.none()),
    st.builds(lambda retry: Observation(status=429, is_error=True, retry_after_s=retry),
              st.floats(0, 30) | st.none()),
)
STEPS = st.lists(st.tuples(st.sampled_from(["reserve", "settle", "tick"]), st.integers(0, 10), OBSERVATIONS,
                           st.floats(0, 5)), max_size=80)


@settings(max_examples=300, deadline=None)
@given(STEPS, st.integers(1, 8), st.integers(0, 20))
def test_invariants_hold_under_any_interleaving(steps: list[Any], max_inflight: int, floor: int) -> None:
    limits = Limits(max_inflight=max_inflight, error_floor=floor, lease_ttl_s=30.0)
    state, now = State(), 1000.0
    for op, pick, obs, dt_s in steps:
        if op == "tick":
            now += dt_s
        elif op == "settle" and state.leases:
            lease = state.leases[pick % len(state.leases)]
            state, _ = apply_settle(state, now, lease.id, lease.route, obs)
        else:
            before = state
            state, verdict = decide(state, now, ROUTES[pick % len(ROUTES)], limits)
            if now < before.paused_until:
                assert isinstance(verdict, Wait), "paused means wait"
            if isinstance(verdict, Grant):
                assert len(state.leases) <= limits.max_inflight
                remain = state.error_remain
                if remain is not None and now < state.window_end + 1.0:
                    assert remain - len(state.leases) > limits.error_floor
                else:
                    assert sum(lease.probe for lease in state.leases) == 1, "more than one probe"
            else:
                assert verdict.seconds > 0
        assert len(state.leases) <= limits.max_inflight


def test_first_request_is_a_lone_probe_then_the_report_opens_the_gate() -> None:
    limits = Limits(max_inflight=32, error_floor=10)
    state, first = decide(State(), 0.0, "/x", limits)
    assert isinstance(first, Grant) and first.lease.probe
    state, second = decide(state, 0.1, "/x", limits)
    assert isinstance(second, Wait)
    state, _ = apply_settle(state, 0.2, first.lease.id, "/x", report(200, 15, 60))
    grants = 0
    while isinstance(decide(state, 0.3, "/x", limits)[1], Grant):
        state, _ = decide(state, 0.3, "/x", limits)
        grants += 1
    assert grants == 4  # 15 - 4 in flight = 11 > 10; a fifth would leave 10


def test_same_window_keeps_the_minimum_newer_window_replaces_stale_is_ignored() -> None:
    state = replace(State(), error_remain=50, window_end=60.0)
    state, _ = apply_settle(state, 10.0, 0, "/x", report(200, 70, 50))  # same window, higher: ignored
    assert state.error_remain == 50
    state, _ = apply_settle(state, 10.0, 0, "/x", report(200, 40, 50))
    assert state.error_remain == 40
    state, _ = apply_settle(state, 61.0, 0, "/x", report(200, 99, 59))  # next window
    assert (state.error_remain, state.window_end) == (99, 120.0)
    state, _ = apply_settle(state, 62.0, 0, "/x", report(200, 3, 0))  # straggler from the old window
    assert state.error_remain == 99


def test_an_error_without_a_report_costs_one_and_420_pauses_until_reset() -> None:
    state = replace(State(), error_remain=50, window_end=60.0)
    state, _ = apply_settle(state, 1.0, 0, "/x", NO_ANSWER)
    assert state.error_remain == 49
    state, wake = apply_settle(state, 2.0, 0, "/x", report(420, 0, 7))
    assert wake and state.paused_until == 9.0
    _, verdict = decide(state, 5.0, "/x", Limits())
    assert isinstance(verdict, Wait) and verdict.seconds == 4.0


def test_a_bare_429_pauses_everything_a_grouped_one_only_its_group() -> None:
    state = replace(State(), error_remain=100, window_end=600.0)
    state, _ = apply_settle(state, 1.0, 0, "/x", Observation(status=429, is_error=True))
    assert state.paused_until == 11.0
    state = replace(state, paused_until=0.0)
    grouped = Observation(status=429, is_error=True, retry_after_s=5.0,
                          tokens=TokenReport("status", 600, 60, 0))
    state, _ = apply_settle(state, 1.0, 0, "/status", grouped)
    assert state.routes == {"/status": "status"} and state.paused_until == 0.0
    assert isinstance(decide(state, 2.0, "/status", Limits())[1], Wait)
    assert isinstance(decide(state, 2.0, "/x", Limits())[1], Grant)
    assert isinstance(decide(state, 6.5, "/status", Limits())[1], Grant)  # probe after the pause


def test_exhausted_group_waits_for_our_oldest_spend_to_age_out() -> None:
    ok = Observation(status=200, is_error=False, tokens=TokenReport("g", 10, 100, 8))
    state = replace(State(), error_remain=100, window_end=1e9)
    state, _ = apply_settle(state, 10.0, 0, "/g", ok)
    state, _ = apply_settle(state, 20.0, 0, "/g", replace(ok, tokens=TokenReport("g", 10, 100, 3)))
    state, verdict = decide(state, 30.0, "/g", Limits())
    assert isinstance(verdict, Wait) and verdict.seconds == 80.0  # 10 + 100 - 30
    state, verdict = decide(state, 111.0, "/g", Limits())
    assert isinstance(verdict, Grant)  # the probe
    assert isinstance(decide(state, 111.0, "/g", Limits())[1], Wait)  # only one


def test_crashed_leases_expire() -> None:
    limits = Limits(max_inflight=1, lease_ttl_s=5.0)
    state, first = decide(State(), 0.0, "/x", limits)
    assert isinstance(first, Grant)
    assert isinstance(decide(state, 4.0, "/x", limits)[1], Wait)
    assert isinstance(decide(state, 5.5, "/x", limits)[1], Grant)


def test_the_numbers_are_the_rules_fields() -> None:
    """Another Rules changes every decision that uses it: no number is written into the rules."""
    rules = Rules(worst_cost=3, cost_2xx=1, cost_3xx=0, cost_5xx=2, poll_s=0.5, min_wait_s=0.2,
                  same_window_s=0.0, pause_420_s=7.0, pause_429_s=3.0, bucket_window_s=30.0, spend_log=2,
                  waiters_recent_s=0.5)
    assert [token_cost(s, rules) for s in (200, 304, 404, 503, None)] == [1, 0, 3, 2, 3]
    state, _ = apply_settle(State(), 10.0, 0, "/x", Observation(status=420, is_error=True), rules)
    assert state.paused_until == 17.0
    state, _ = apply_settle(State(), 10.0, 0, "/x", Observation(status=429, is_error=True), rules)
    assert state.paused_until == 13.0
    grouped = Observation(status=200, is_error=False, tokens=TokenReport("g"))
    for now in (1.0, 2.0, 3.0):
        state, _ = apply_settle(state, now, 0, "/g", grouped, rules)
    assert state.buckets["g"].spends == (2.0, 3.0) and state.buckets["g"].window_s == 30.0
    state = replace(State(), error_remain=20, window_end=100.0)
    _, verdict = decide(state, 99.95, "/x", Limits(max_inflight=32, error_floor=19), rules)
    assert verdict == Wait(0.2)  # the window ends in 0.05 s (no same-window margin); never under 0.2
    _, verdict = decide(state, 100.0, "/x", Limits(), rules)
    assert isinstance(verdict, Grant) and verdict.lease.probe


def test_a_spend_log_must_hold_at_least_the_spend_being_recorded() -> None:
    with pytest.raises(ValueError, match="spend_log"):
        Rules(spend_log=0)
