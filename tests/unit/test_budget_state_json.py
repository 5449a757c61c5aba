"""The runner writes domain.budget_rules.State as JSON for the next one: every State comes back equal."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from killreport.domain.budget_rules import (
    RULES,
    Bucket,
    CapGroup,
    Grant,
    LeaseRec,
    Limits,
    RouteCap,
    State,
    apply_settle,
    decide,
)
from killreport.esi.classify import observe
from killreport.store.sqlite.budget import state_from_json, state_to_json

times = st.floats(allow_nan=False)  # NaN is never a time the rules make (and NaN != NaN)
counts = st.none() | st.integers()
names = st.text(max_size=20)

leases = st.builds(LeaseRec, id=st.integers(), route=names, group=st.none() | names, probe=st.booleans(),
                   expires_at=times, down_probe=st.booleans(), granted_at=times)
buckets = st.builds(Bucket, group=names, window_s=times, limit=counts, remaining=counts, paused_until=times,
                    spends=st.lists(times, max_size=20).map(tuple))
caps = st.builds(RouteCap, group=names, next_at=times, factor=times, reduced_until=times, hits=st.integers(),
                 cut_at=times)
states = st.builds(
    State, error_remain=counts, window_end=times, paused_until=times, pause_reason=st.none() | names,
    last_wait_at=times, leases=st.lists(leases, max_size=5).map(tuple),
    buckets=st.dictionaries(names, buckets, max_size=4), routes=st.dictionaries(names, names, max_size=5),
    next_id=st.integers(), unavailable_at=st.none() | times, up_since=times, status_next=times,
    status_up=st.booleans(), caps=st.dictionaries(names, caps, max_size=3))


@given(states)
def test_every_state_round_trips(state: State) -> None:
    text = state_to_json(state)
    assert text.isascii()  # SQLite stores it as is: a lone surrogate in a route cannot break the write
    assert state_from_json(text) == state


@given(st.lists(st.tuples(st.sampled_from(["/x", "/status", "/a/{id}"]),
                          st.sampled_from([200, 304, 404, 420, 429, 503]),
                          st.floats(0, 100)), max_size=30))
def test_states_the_rules_reach_round_trip(steps: list[tuple[str, int, float]]) -> None:
    state, now = State(), 1_700_000_000.0
    headers = {"x-esi-error-limit-remain": "90", "x-esi-error-limit-reset": "30",
               "x-ratelimit-group": "g", "x-ratelimit-limit": "150/15m", "x-ratelimit-remaining": "140"}
    limits = Limits(route_caps={"a": CapGroup(2.0, frozenset({"/a/{id}"}))})
    for route, status, later in steps:
        now += later
        state, verdict = decide(state, now, route, limits, RULES)
        if isinstance(verdict, Grant):
            answer = observe(status, {} if route == "/a/{id}" else headers)  # a capped route's: no headers
            state, _ = apply_settle(state, now, verdict.lease.id, route, answer, RULES,
                                    limits.cap_of(route))
        assert state_from_json(state_to_json(state)) == state


def test_a_field_an_older_version_did_not_write_reads_as_fresh() -> None:
    raw = json.loads(state_to_json(State(error_remain=7, status_up=True)))
    del raw["status_up"], raw["leases"], raw["caps"]
    assert state_from_json(json.dumps(raw)) == State(error_remain=7)


def test_leases_an_older_version_wrote_as_lists_are_read() -> None:
    lease = LeaseRec(id=3, route="/x", group=None, probe=True, expires_at=12.5, down_probe=False)
    raw = json.loads(state_to_json(State(leases=(lease,))))
    raw["leases"] = [[3, "/x", None, True, 12.5, False]]
    assert state_from_json(json.dumps(raw)).leases == (lease,)


def test_caps_an_older_version_kept_per_route_start_afresh() -> None:
    raw = json.loads(state_to_json(State(caps={"h": RouteCap("h", hits=2, cut_at=5.0)})))
    raw["caps"]["/a/{id}"] = {"route": "/a/{id}", "next_at": 1.0, "factor": 0.5, "reduced_until": 9.0,
                              "hits": 3}
    assert state_from_json(json.dumps(raw)).caps == {"h": RouteCap("h", hits=2, cut_at=5.0)}
