"""Route caps in the budget's pure rules: a capped route is spaced 1/cap apart; a 429 on it without
rate-limit headers halves its cap for a while (again on each one, down to a floor) and pauses nothing
else; any other 429 keeps its old meaning. The PL/pgSQL agrees step by step
(tests/integration/test_budget_agreement.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from killreport.config import Settings
from killreport.domain.budget_rules import (
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

HISTORY = "/characters/{id}/corporationhistory"
LIMITS = Limits(route_caps={HISTORY: 4.0})
T0 = 1_700_000_000.0
REPORT = {"x-esi-error-limit-remain": "100", "x-esi-error-limit-reset": "60"}
HIDDEN = observe(429, REPORT)  # the error limit's headers, but no bucket and no Retry-After


def _grant(state: State, now: float, route: str = HISTORY) -> tuple[State, int]:
    state, verdict = decide(state, now, route, LIMITS, NO_DOWNTIME)
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


def test_a_capped_route_is_spaced_and_other_routes_are_not() -> None:
    state, _ = _grant(_warm(), T0)
    assert _wait(state, T0 + 0.1) == pytest.approx(0.15)
    state, _ = _grant(state, T0 + 0.25)
    for n in range(5):  # an uncapped route goes at once, however often
        state, _ = _grant(state, T0 + 0.25, f"/x/{n}")


def test_a_429_without_headers_halves_the_cap_then_again_and_recovers() -> None:
    state, lease = _grant(_warm(), T0)
    state, wake = apply_settle(state, T0 + 0.1, lease, HISTORY, HIDDEN, NO_DOWNTIME, 4.0)
    assert wake and state.paused_until < T0, "no pause for anyone else"
    assert _wait(state, T0 + 0.1) == pytest.approx(0.5)  # 2 a second now
    state, lease = _grant(state, T0 + 0.6)
    assert _wait(state, T0 + 0.6) == pytest.approx(0.5)
    state, _ = apply_settle(state, T0 + 0.7, lease, HISTORY, HIDDEN, NO_DOWNTIME, 4.0)
    assert state.caps[HISTORY].factor == 0.25 and state.caps[HISTORY].hits == 2
    later = T0 + 0.7 + NO_DOWNTIME.cap_recover_s
    state, _ = _grant(state, later)
    assert _wait(state, later) == pytest.approx(0.25), "the whole cap once the while is over"


def test_the_cap_never_falls_below_its_floor() -> None:
    rules, state = Rules(cap_min_factor=0.25, downtime_lead_s=0.0, downtime_max_s=0.0), _warm()
    for n in range(6):
        state, _ = apply_settle(state, T0 + n, 0, HISTORY, HIDDEN, rules, 4.0)
    assert state.caps[HISTORY].factor == 0.25 and state.caps[HISTORY].hits == 6


BUCKET = {"x-ratelimit-group": "g", "x-ratelimit-remaining": "0", "x-ratelimit-limit": "150/15m"}


@pytest.mark.parametrize("headers", [{"retry-after": "5"}, BUCKET])
def test_a_429_that_says_why_is_not_a_hidden_limit(headers: dict[str, str]) -> None:
    answer = observe(429, {**REPORT, **headers})
    assert not hidden_limit(answer)
    state, _ = apply_settle(_warm(), T0, 0, HISTORY, answer, NO_DOWNTIME, 4.0)
    assert HISTORY not in state.caps


def test_a_429_without_headers_on_an_uncapped_route_still_pauses_everything() -> None:
    state, _ = apply_settle(_warm(), T0, 0, "/x", HIDDEN, NO_DOWNTIME, None)
    assert state.paused_until == T0 + NO_DOWNTIME.pause_429_s
    assert hidden_limit(HIDDEN) and not hidden_limit(Observation(status=200, is_error=False))


def test_status_shows_a_halved_cap_and_its_hits() -> None:
    state, _ = apply_settle(_warm(), T0, 0, HISTORY, HIDDEN, NO_DOWNTIME, 4.0)
    [shown] = snapshot_of(state, T0 + 1, NO_DOWNTIME).route_caps
    assert (shown.route, shown.factor, shown.hits) == (HISTORY, 0.5, 1)
    assert shown.reduced_until is not None
    [later] = snapshot_of(state, T0 + NO_DOWNTIME.cap_recover_s + 1, NO_DOWNTIME).route_caps
    assert later.factor == 1.0


def test_a_cap_must_be_a_positive_rate() -> None:
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="cap"):
            Limits(route_caps={HISTORY: bad})


@pytest.mark.parametrize("caps", [{HISTORY: 0}, {HISTORY: -2}, {"characters/{id}": 1}])
def test_the_setting_refuses_caps_that_cannot_work(caps: dict[str, float]) -> None:
    with pytest.raises(ValidationError, match="esi_route_caps"):
        Settings(esi_route_caps=caps, _env_file=None)
    # The defaults name the routes as the client sends them (config sits below domain, so it cannot
    # import the templates; this holds the two together).
    assert set(Settings(_env_file=None).esi_route_caps) == {CORPORATION_HISTORY, ALLIANCE_HISTORY}
