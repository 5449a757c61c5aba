"""Downtime in the pure rules: the daily window, "unavailable" answers, /status bringing ESI back,
and the probe when /status may not be asked (the watcher that asks is test_budget_watcher.py).

The answers are read by the real parser (esi/classify.py), which these tests also pin down.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from killreport.domain.budget_rules import (
    RULES,
    Grant,
    Limits,
    Rules,
    State,
    Wait,
    apply_settle,
    daily_down,
    daily_start,
    decide,
    esi_down,
)
from killreport.domain.observation import Observation
from killreport.esi.classify import observe, says_unavailable, up_since

ELEVEN = dt.datetime(2026, 11, 30, 11, 0, tzinfo=dt.UTC).timestamp()
LIMITS = Limits(max_inflight=8, error_floor=5, lease_ttl_s=20.0)
UNAVAILABLE = b'{"error": "The datasource tranquility is temporarily unavailable", "status": 503}'
KNOWN = replace(State(), error_remain=100, window_end=1e12)  # an error window that lets requests go


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_answer(start: float, vip: bool | None = False, fresh: float | None = None) -> Observation:
    """A /status 200 as the parser reads it (Expires `fresh` seconds after Date, when given)."""
    body: dict[str, Any] = {"players": 1, "server_version": "1", "start_time": iso(start)}
    if vip is not None:
        body["vip"] = vip
    headers = {}
    if fresh is not None:
        date = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
        headers = {"date": format_datetime(date, usegmt=True),
                   "expires": format_datetime(date + dt.timedelta(seconds=fresh), usegmt=True)}
    return observe(200, headers, json.dumps(body).encode())


def grant(state: State, now: float, route: str = "/x", rules: Rules = RULES) -> tuple[State, Grant]:
    state, verdict = decide(state, now, route, LIMITS, rules)
    assert isinstance(verdict, Grant), f"{route} at {now}: {verdict}"
    return state, verdict


def waits(state: State, now: float, route: str = "/x", rules: Rules = RULES) -> float:
    _, verdict = decide(state, now, route, LIMITS, rules)
    assert isinstance(verdict, Wait), f"{route} at {now} was granted"
    return verdict.seconds


# --- what an answer says -------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "text"), [
    (503, "The datasource tranquility is temporarily unavailable"),
    (504, "Timeout contacting tranquility"),
    (502, "The datasource tranquility is temporarily unavailable"),
    (503, "the datasource singularity is temporarily unavailable."),
    (504, "  TIMEOUT CONTACTING tranquility "),
])
def test_esi_unavailable_is_read_from_its_two_sentences(status: int, text: str) -> None:
    body = json.dumps({"error": text, "status": status}).encode()
    assert says_unavailable(status, body) and observe(status, {}, body).unavailable


@pytest.mark.parametrize(("status", "body"), [
    (500, b'{"error": "The datasource tranquility is temporarily unavailable"}'),  # not a gateway status
    (503, b'{"error": "Bad gateway"}'),
    (502, b'{"error": "Bad gateway"}'),
    (502, b"<html><head><title>502 Bad Gateway</title></head></html>"),
    (503, b"The datasource tranquility is temporarily unavailable"),  # not ESI's JSON
    (503, b'{"error": "The datasource tranquility is temporarily unavailable for alliance 1"}'),
    (504, b'{"error": "Timeout contacting the character service"}'),
    (504, b'{"error": ["Timeout contacting tranquility"]}'),
    (503, b'{"error": "The datasource tranquility is temporarily unavailable", "x": "' + b"y" * 2000 + b'"}'),
    (200, b'{"error": "Timeout contacting tranquility"}'),
    (404, b'{"error": "Timeout contacting tranquility"}'),
])
def test_nothing_else_says_esi_is_unavailable(status: int, body: bytes) -> None:
    assert not says_unavailable(status, body)


def test_a_status_answer_shows_the_cluster_up_only_when_open_to_all() -> None:
    start = ELEVEN + 420
    assert status_answer(start).up_since == start
    assert status_answer(start, vip=None).up_since == start  # vip is optional: absent means false
    assert status_answer(start, vip=True).up_since is None
    assert up_since({"start_time": iso(start), "vip": "false"}) is None
    assert up_since({"start_time": iso(start), "vip": 0}) is None
    assert up_since({"start_time": "2026-11-30T11:07:00", "vip": False}) == start  # naive: UTC
    assert up_since({"start_time": "soon"}) is None and up_since({"vip": False}) is None
    assert up_since({"start_time": 1_800_000_000}) is None


def test_only_a_status_like_200_is_read_for_start_time_and_freshness() -> None:
    body = json.dumps({"players": 1, "server_version": "1", "start_time": iso(ELEVEN)}).encode()
    headers = {"date": "Mon, 30 Nov 2026 12:00:00 GMT", "expires": "Mon, 30 Nov 2026 12:00:30 GMT"}
    read = observe(200, headers, body)
    assert (read.up_since, read.fresh_s) == (ELEVEN, 30.0)
    assert observe(200, {"expires": headers["expires"]}, body).fresh_s is None  # no Date: no ESI clock
    for other in (observe(502, headers, body), observe(200, headers, b"[1, 2]"),
                  observe(200, headers, body + b" " * 2000), observe(200, headers)):
        assert (other.up_since, other.fresh_s) == (None, None)


# --- the daily downtime --------------------------------------------------------------------------

def test_the_daily_start_is_eleven_utc_from_its_lead_on() -> None:
    assert daily_start(ELEVEN - 30.0) == ELEVEN
    assert daily_start(ELEVEN - 30.001) == ELEVEN - 86400
    assert daily_start(ELEVEN + 86369.999) == ELEVEN and daily_start(ELEVEN + 86370) == ELEVEN + 86400
    shifted = Rules(downtime_at_s=3600.0, downtime_lead_s=60.0)
    assert daily_start(ELEVEN, shifted) == ELEVEN - 10 * 3600
    assert daily_start(ELEVEN - 10 * 3600 - 60, shifted) == ELEVEN - 10 * 3600


def test_every_route_but_status_stops_30_s_before_eleven() -> None:
    state = KNOWN
    state, _ = grant(state, ELEVEN - 30.001)
    assert waits(state, ELEVEN - 30.0) == RULES.poll_s
    assert waits(state, ELEVEN + 600) == RULES.poll_s
    state, _ = grant(state, ELEVEN - 30.0, "/status")
    assert esi_down(state.unavailable_at, state.up_since, ELEVEN - 30.0)


def test_the_daily_downtime_ends_with_a_status_started_after_eleven_and_not_vip() -> None:
    state = KNOWN
    for start, vip, back in [(ELEVEN - 86400 + 300, False, False),  # yesterday's cluster: not yet down
                             (ELEVEN, False, False),  # not after eleven
                             (ELEVEN + 420, True, False),  # restarted, staff only
                             (ELEVEN + 420, False, True)]:
        now = ELEVEN + 600 + start % 7
        state, lease = grant(replace(state, status_next=0.0), now, "/status")
        state, wake = apply_settle(state, now, lease.lease.id, "/status", status_answer(start, vip))
        assert wake == back and daily_down(state.up_since, now) != back
    state, first = grant(state, ELEVEN + 700)
    assert first.lease.probe, "back from a downtime, the first request is a lone probe"
    assert waits(state, ELEVEN + 700) == RULES.poll_s


def test_without_a_status_the_daily_downtime_gives_up_after_its_longest() -> None:
    assert waits(KNOWN, ELEVEN + RULES.downtime_max_s - 0.001) == RULES.poll_s
    grant(KNOWN, ELEVEN + RULES.downtime_max_s)
    grant(KNOWN, ELEVEN - 3600)  # a fresh budget outside the window sends at once


# --- an unscheduled downtime ---------------------------------------------------------------------

def test_one_unavailable_answer_stops_everything_but_status_at_once() -> None:
    now = ELEVEN + 5 * 3600
    state, a = grant(KNOWN, now)
    state, b = grant(state, now)
    state, _ = apply_settle(state, now + 0.1, a.lease.id, "/x", observe(503, {}, UNAVAILABLE))
    assert state.unavailable_at == now + 0.1
    assert waits(state, now + 0.2) == pytest.approx(RULES.downtime_unwatched_s - 0.1)  # unless unwatched
    state, _ = apply_settle(state, now + 0.3, b.lease.id, "/x", observe(503, {}, UNAVAILABLE))
    state, probe = grant(state, now + 0.4, "/status")
    assert waits(state, now + 0.4, "/status") == RULES.poll_s, "two /status at once"
    state, _ = apply_settle(state, now + 0.5, probe.lease.id, "/status",
                            observe(502, {}, b'{"error": "Bad gateway"}'))
    assert waits(state, now + 0.6, "/status") == pytest.approx(RULES.status_poll_s - 0.1)
    state, probe = grant(state, now + 3.5, "/status")
    state, wake = apply_settle(state, now + 3.6, probe.lease.id, "/status", status_answer(now + 2.0))
    assert wake and state.unavailable_at is None and state.error_remain is None
    state, first = grant(state, now + 3.7)
    assert first.lease.probe


def test_status_is_never_asked_before_its_expires() -> None:
    now = ELEVEN + 5 * 3600
    state, lease = grant(KNOWN, now, "/status")
    state, _ = apply_settle(state, now, lease.lease.id, "/status", status_answer(now, vip=True, fresh=30))
    assert waits(state, now + 29.5, "/status") == pytest.approx(0.5)
    grant(state, now + 30, "/status")


def test_while_status_is_cached_one_spaced_probe_tells_whether_esi_is_back() -> None:
    now = ELEVEN + 5 * 3600
    state = replace(KNOWN, status_next=now + 30, status_up=True)  # "up" a moment ago, still cached
    state, a = grant(state, now)
    state, _ = apply_settle(state, now, a.lease.id, "/x", observe(503, {}, UNAVAILABLE))
    assert waits(state, now + 0.5) == pytest.approx(RULES.downtime_probe_s - 0.5)
    state, probe = grant(state, now + RULES.downtime_probe_s)
    assert probe.lease.down_probe and waits(state, now + 1.5) == RULES.poll_s
    state, _ = apply_settle(state, now + 1.5, probe.lease.id, "/x", observe(503, {}, UNAVAILABLE))
    assert waits(state, now + 2.0) == pytest.approx(RULES.downtime_probe_s - 0.5), "spaced after it"
    state, probe = grant(state, now + 2.5)
    state, wake = apply_settle(state, now + 2.6, probe.lease.id, "/x", observe(200, {}, b"{}"))
    assert wake and state.unavailable_at is None
    state, first = grant(state, now + 2.7)
    assert first.lease.probe and not first.lease.down_probe  # back: the error window is unknown again


def test_an_ordinary_answer_after_the_mark_does_not_end_a_downtime() -> None:
    """A request in flight when ESI went down may still be answered: that says nothing of now."""
    now = ELEVEN + 5 * 3600
    state, a = grant(KNOWN, now)
    state, b = grant(state, now)
    state, _ = apply_settle(state, now + 0.1, a.lease.id, "/x", observe(503, {}, UNAVAILABLE))
    state, wake = apply_settle(state, now + 0.2, b.lease.id, "/x", observe(200, {}, b"{}"))
    assert not wake and state.unavailable_at == now + 0.1


# Steps after a downtime begins: every route answers 503 "unavailable", /status 502 (as the simulator
# does), and a watcher asks /status whenever the budget lets it (src/killreport/downtime.py).
LATER = st.lists(st.tuples(st.sampled_from(["reserve", "settle", "tick"]), st.integers(0, 20),
                           st.floats(0, 5)), max_size=60)
BAD_GATEWAY = b'{"error": "Bad gateway"}'


def watched(state: State, now: float, limits: Limits) -> State:
    """The watcher: /status if granted, answered at once with a 502."""
    state, verdict = decide(state, now, "/status", limits)
    if isinstance(verdict, Grant):
        state, _ = apply_settle(state, now, verdict.lease.id, "/status", observe(502, {}, BAD_GATEWAY))
    return state


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 8), st.integers(0, 8), LATER)
def test_while_status_is_asked_a_downtime_costs_only_the_requests_in_flight_when_it_began(
        inflight: int, in_flight_at_start: int, steps: list[Any]) -> None:
    limits = Limits(max_inflight=inflight, error_floor=0, lease_ttl_s=20.0)
    now, state = ELEVEN + 5 * 3600, KNOWN
    for _ in range(min(in_flight_at_start, inflight)):
        state, _ = decide(state, now, "/x", limits)
    sent_after, down = 0, False
    for op, pick, step in steps:
        if op == "tick":
            now += step
        elif op == "settle" and (held := [lease for lease in state.leases if lease.route == "/x"]):
            lease = held[pick % len(held)]
            state, _ = apply_settle(state, now, lease.id, "/x", observe(503, {}, UNAVAILABLE))
            down = True
        elif op == "reserve":
            state, verdict = decide(state, now, "/x", limits)
            sent_after += int(isinstance(verdict, Grant) and down)
        state = watched(state, now, limits) if down else state
    assert sent_after == 0, "a request other than /status went out after ESI said it was down"


def test_without_a_watcher_a_lone_probe_every_so_often_keeps_a_downtime_from_deadlocking() -> None:
    now = ELEVEN + 5 * 3600
    state, a = grant(KNOWN, now)
    state, _ = apply_settle(state, now, a.lease.id, "/x", observe(503, {}, UNAVAILABLE))
    assert waits(state, now + 9.9) == pytest.approx(RULES.downtime_unwatched_s - 9.9)
    state, probe = grant(state, now + RULES.downtime_unwatched_s)
    assert probe.lease.down_probe and waits(state, now + 11) == RULES.poll_s, "one probe at a time"
    later = now + RULES.downtime_unwatched_s + 0.5
    state, _ = apply_settle(state, later, probe.lease.id, "/x", observe(503, {}, UNAVAILABLE))
    assert waits(state, later + 1) == pytest.approx(RULES.downtime_unwatched_s - 1), "spaced after it"
    state, probe = grant(state, later + RULES.downtime_unwatched_s)
    state, wake = apply_settle(state, later + 10.6, probe.lease.id, "/x", observe(304, {}, b""))
    assert wake and state.unavailable_at is None
