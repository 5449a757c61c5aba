"""The back-fill's paced requests to R2Z2 over a fake transport and an in-memory FeedPace: every request
takes a turn, a refusal or trouble pauses the shared pace and is asked again, an unusable answer is
raised at once, and the tries in a row are bounded."""

from __future__ import annotations

import pytest

from killreport.agent import user_agent
from killreport.domain import feed_pace
from killreport.domain.feed_pace import THROTTLED_FIRST_S, TROUBLE_FIRST_S
from killreport.r2z2 import MalformedBody, R2z2Client, RateLimited, ServerError, Unreachable
from killreport.r2z2.errors import NotFound, UnexpectedStatus
from killreport.r2z2.pace import pause_rule
from killreport.r2z2.paced import PacedFeed
from tests.feed_pace import MemoryPace
from tests.unit.test_r2z2_client import answers


def paced(*responses: object, attempts: int = 4) -> tuple[PacedFeed, MemoryPace, list[float], list[str]]:
    clock, slept, told = [1000.0], list[float](), list[str]()
    transport, _ = answers(*responses)  # type: ignore[arg-type]

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    shared = MemoryPace(2, clock)
    feed = PacedFeed(R2z2Client(transport, base_url="http://feed.test", user_agent=user_agent("a@b.c")),
                     shared, sleep=sleep, attempts=attempts, trouble_first_s=0.5,
                     on_pause=lambda exc, s: told.append(f"{exc.status} {s:g}"))
    return feed, shared, slept, told


async def test_a_429_pauses_for_its_retry_after_then_asks_again() -> None:
    feed, shared, slept, told = paced((429, {}, {"retry-after": "7"}), (200, {"20261206": 3}))
    assert await feed.totals() == {"20261206": 3}
    assert shared.refusals == [(7.0, THROTTLED_FIRST_S)] and told == ["429 7"] and shared.calms == 1
    assert slept == [7.0]  # the second turn waits out the pause


async def test_requests_wait_their_turn_under_the_cap() -> None:
    feed, _, slept, _ = paced(*[(200, {})] * 3)
    for _ in range(3):
        await feed.day("20261206")
    assert slept == [pytest.approx(feed_pace.WINDOW_S)]  # two a second: the third waits a window


async def test_trouble_pauses_grow_and_the_tries_in_a_row_are_bounded() -> None:
    feed, shared, slept, told = paced((503, {}), Unreachable("refused"), (502, {}), attempts=3)
    with pytest.raises(ServerError):
        await feed.raw_day("20261206")
    assert shared.refusals == [(None, 0.5)] * 3 and told == ["503 0.5", "None 1"]
    assert slept == [0.5, 1.0] and shared.calms == 0


async def test_a_feed_never_reached_is_reported_at_once_and_one_that_answered_is_waited_for() -> None:
    feed, shared, slept, _ = paced(Unreachable("refused"))
    with pytest.raises(Unreachable):
        await feed.totals()
    assert shared.refusals == [] and slept == []
    feed, shared, _, _ = paced((200, {}), Unreachable("refused"), (200, {}))
    await feed.totals()
    assert await feed.day("20261206") == {} and shared.refusals == [(None, 0.5)]


@pytest.mark.parametrize("response", [(200, b"not json"), (418, {})])
async def test_an_unusable_answer_is_raised_at_once_without_a_pause(response: tuple[int, object]) -> None:
    feed, shared, _, told = paced(response)
    with pytest.raises((MalformedBody, UnexpectedStatus)):
        await feed.totals()
    assert shared.refusals == [] and told == [] and shared.calms == 0


def test_the_pause_rule_names_refusals_and_trouble_only() -> None:
    assert pause_rule(RateLimited("x", retry_after_s=3.0)) == (3.0, THROTTLED_FIRST_S)
    assert pause_rule(ServerError("x")) == (None, TROUBLE_FIRST_S)
    assert pause_rule(Unreachable("x"), trouble_first_s=1.0) == (None, 1.0)
    assert pause_rule(MalformedBody("x")) is None and pause_rule(NotFound("x")) is None


def test_at_least_one_try() -> None:
    transport, _ = answers()
    with pytest.raises(ValueError, match="attempts"):
        PacedFeed(R2z2Client(transport, user_agent="x"), MemoryPace(1, [0.0]), sleep=_never, attempts=0)


async def _never(seconds: float) -> None:
    raise AssertionError("no sleep expected")
