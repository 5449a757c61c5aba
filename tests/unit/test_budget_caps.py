"""Route caps in the budget's pure rules: a cap group's routes together are spaced 1/rate apart; a 429
on one without rate-limit headers, if its request was granted after the group's last cut, cuts the
group's rate for a while (again on each such one, down to a floor) and pauses the group; one granted
before the last cut (in flight when it was made) is only counted. Nothing else is paused, and any
other 429 keeps its old meaning. The PL/pgSQL agrees step by step
(tests/integration/test_budget_agreement.py)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from pydantic import ValidationError

from killreport.config import Settings
from killreport.domain.budget_rules import (
    CapGroup,
    Grant,
    Limits,
    Rules,
    State,
    Wait,
    apply_settle,
    decide,
    hidden_limit,
    snapshot_of,
)
from killreport.domain.observation import Observation
from killreport.domain.routes import ALLIANCE_HISTORY, CORPORATION_HISTORY
from killreport.esi.classify import observe
from tests.rules import NO_DOWNTIME

HISTORY = CORPORATION_HISTORY
CAP = ("history", 4.0)
LIMITS = Limits(route_caps={"history": CapGroup(4.0, frozenset({CORPORATION_HISTORY, ALLIANCE_HISTORY}))})
PAUSE = NO_DOWNTIME.cap_pause_s
T0 = 1_700_000_000.0
REPORT = {"x-esi-error-limit-remain": "100", "x-esi-error-limit-reset": "60"}
HIDDEN = observe(429, REPORT)  # the error limit's headers, but no bucket and no Retry-After


def _grant(state: State, now: float, route: str = HISTORY, rules: Rules = NO_DOWNTIME) -> tuple[State, int]:
    state, verdict = decide(state, now, route, LIMITS, rules)
    assert isinstance(verdict, Grant), verdict
    return state, verdict.lease.id


def _wait(state: State, now: float, route: str = HISTORY) -> float:
    _, verdict = decide(state, now, route, LIMITS, NO_DOWNTIME)
    assert isinstance(verdict, Wait), verdict
    return verdict.seconds


def _warm(now: float = T0) -> State:
    """A budget that has an error-limit report (no probe rule in the way)."""
    state, lease = _grant(State(), now, "/x")
    return apply_settle(state, now, lease, "/x", observe(200, REPORT), NO_DOWNTIME)[0]


def _refused(state: State, now: float, lease: int, rules: Rules = NO_DOWNTIME) -> State:
    state, wake = apply_settle(state, now, lease, HISTORY, HIDDEN, rules, CAP)
    assert wake
    return state


def test_a_capped_group_is_spaced_across_its_routes_and_other_routes_are_not() -> None:
    state, _ = _grant(_warm(), T0)
    assert _wait(state, T0 + 0.1) == pytest.approx(0.15)
    assert _wait(state, T0 + 0.1, ALLIANCE_HISTORY) == pytest.approx(0.15), "one rate for both routes"
    state, _ = _grant(state, T0 + 0.25, ALLIANCE_HISTORY)
    assert _wait(state, T0 + 0.3) == pytest.approx(0.2)
    for n in range(5):  # an uncapped route goes at once, however often
        state, _ = _grant(state, T0 + 0.3, f"/x/{n}")


def test_a_429_without_headers_cuts_the_group_and_pauses_it_then_again_and_recovers() -> None:
    state, lease = _grant(_warm(), T0)
    state = _refused(state, T0 + 0.1, lease)
    assert state.paused_until < T0, "no pause for anyone else"
    assert _wait(state, T0 + 0.1) == pytest.approx(PAUSE), "nothing on the group during the pause"
    assert _wait(state, T0 + 0.1, ALLIANCE_HISTORY) == pytest.approx(PAUSE)
    after = T0 + 0.1 + PAUSE
    state, lease = _grant(state, after, ALLIANCE_HISTORY)
    assert _wait(state, after) == pytest.approx(0.5), "2 a second after the first cut"
    state = _refused(state, after + 0.1, lease)
    cap = state.caps["history"]
    assert (cap.factor, cap.hits, cap.cut_at) == (0.25, 2, after + 0.1)
    later = after + 0.1 + NO_DOWNTIME.cap_recover_s
    state, _ = _grant(state, later)
    assert _wait(state, later) == pytest.approx(0.25), "the whole rate once the while is over"


def test_429s_of_requests_sent_before_the_cut_are_counted_and_cut_nothing() -> None:
    rules = Rules(cap_pause_s=0.0, downtime_lead_s=0.0, downtime_max_s=0.0)
    state, first = _grant(_warm(), T0, rules=rules)
    state, second = _grant(state, T0 + 0.25, ALLIANCE_HISTORY, rules)
    state, third = _grant(state, T0 + 0.5, rules=rules)
    state = _refused(state, T0 + 0.6, first, rules)
    cut = state.caps["history"]
    for lease in (second, third):  # in flight when the cut was made
        state = _refused(state, T0 + 0.7, lease, rules)
    assert state.caps["history"] == replace(cut, hits=3), "counted, nothing else changed"
    state, fourth = _grant(state, cut.next_at, rules=rules)
    state = _refused(state, cut.next_at + 0.1, fourth, rules)
    assert (state.caps["history"].factor, state.caps["history"].hits) == (0.25, 4), "sent after: cuts"


def test_a_429_of_a_lease_no_longer_known_cuts_nothing() -> None:
    state = _refused(_warm(), T0, 12345)
    cap = state.caps["history"]
    assert (cap.factor, cap.hits, cap.cut_at, cap.next_at) == (1.0, 1, 0.0, 0.0)
    state, _ = _grant(state, T0)


def test_the_cap_never_falls_below_its_floor() -> None:
    rules = Rules(cap_min_factor=0.25, cap_pause_s=0.0, downtime_lead_s=0.0, downtime_max_s=0.0)
    state, now = _warm(), T0
    for _ in range(6):
        state, lease = _grant(state, now, rules=rules)
        state = _refused(state, now + 0.01, lease, rules)
        now = state.caps["history"].next_at
    assert state.caps["history"].factor == 0.25 and state.caps["history"].hits == 6


BUCKET = {"x-ratelimit-group": "g", "x-ratelimit-remaining": "0", "x-ratelimit-limit": "150/15m"}


@pytest.mark.parametrize("headers", [{"retry-after": "5"}, BUCKET])
def test_a_429_that_says_why_is_not_a_hidden_limit(headers: dict[str, str]) -> None:
    answer = observe(429, {**REPORT, **headers})
    assert not hidden_limit(answer)
    state, _ = apply_settle(_warm(), T0, 0, HISTORY, answer, NO_DOWNTIME, CAP)
    assert "history" not in state.caps


def test_a_429_without_headers_on_an_uncapped_route_still_pauses_everything() -> None:
    state, _ = apply_settle(_warm(), T0, 0, "/x", HIDDEN, NO_DOWNTIME, None)
    assert state.paused_until == T0 + NO_DOWNTIME.pause_429_s
    assert hidden_limit(HIDDEN) and not hidden_limit(Observation(status=200, is_error=False))


def test_status_names_the_group_and_shows_its_cut_pause_and_hits() -> None:
    state, lease = _grant(_warm(), T0)
    state = _refused(state, T0, lease)
    [shown] = snapshot_of(state, T0 + 1, NO_DOWNTIME).route_caps
    assert (shown.group, shown.factor, shown.hits) == ("history", 0.5, 1)
    assert shown.reduced_until is not None and shown.paused_until is not None
    assert shown.paused_until.timestamp() == pytest.approx(T0 + PAUSE)
    [paused_over] = snapshot_of(state, T0 + PAUSE + 1, NO_DOWNTIME).route_caps
    assert paused_over.paused_until is None and paused_over.factor == 0.5
    [later] = snapshot_of(state, T0 + NO_DOWNTIME.cap_recover_s + 1, NO_DOWNTIME).route_caps
    assert later.factor == 1.0


@pytest.mark.parametrize(("groups", "match"), [
    ({"h": CapGroup(0.0, frozenset({HISTORY}))}, "positive"),
    ({"h": CapGroup(-1.0, frozenset({HISTORY}))}, "positive"),
    ({"h": CapGroup(float("inf"), frozenset({HISTORY}))}, "positive"),
    ({"h": CapGroup(1.0, frozenset())}, "names no route"),
    ({"h": CapGroup(1.0, frozenset({HISTORY})), "g": CapGroup(2.0, frozenset({HISTORY}))}, "two route caps"),
])
def test_limits_refuse_caps_that_cannot_work(groups: dict[str, CapGroup], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Limits(route_caps=groups)


@pytest.mark.parametrize("pause", [-1.0, float("inf")])
def test_the_rules_refuse_a_pause_that_cannot_work(pause: float) -> None:
    with pytest.raises(ValueError, match="cap_pause_s"):
        Rules(cap_pause_s=pause)


def _group(per_s: object = 4, routes: object = (HISTORY,), **more: object) -> dict[str, object]:
    return {"per_s": per_s, "routes": list(routes) if isinstance(routes, tuple) else routes, **more}


@pytest.mark.parametrize(("caps", "says"), [
    ({"h": _group(per_s=0)}, "positive"), ({"h": _group(per_s=-2)}, "positive"),
    ({"h": _group(per_s=1e309)}, "positive"), ({"h": _group(routes=())}, "names no route"),
    ({"h": _group(routes=("characters/{id}",))}, "path template"), ({" ": _group()}, "needs a name"),
    ({"h": _group(), "g": _group(per_s=1)}, "two groups"), ({"h": _group(every=1)}, "Extra inputs"),
    ({"h": {"per_s": 4}}, "Field required"), ({HISTORY: 4.0}, "now a named group"),
])
def test_the_setting_refuses_caps_that_cannot_work(caps: dict[str, object], says: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESI_ROUTE_CAPS", json.dumps(caps))
    with pytest.raises(ValidationError, match="esi_route_caps") as refused:
        Settings(_env_file=None)
    assert says in str(refused.value)


def test_the_default_is_one_group_for_both_history_routes() -> None:
    # The routes as the client sends them (config sits below domain, so it cannot import the
    # templates; this holds the two together): 4 a second for both together, 240 a minute.
    caps = {name: group.model_dump() for name, group in Settings(_env_file=None).esi_route_caps.items()}
    assert caps == {"history": {"per_s": 4.0, "routes": [CORPORATION_HISTORY, ALLIANCE_HISTORY]}}
