"""The follower's edge over a scripted feed (a one-method transport) and a fake clock: where it starts,
how refusals pause it, and what reaches the store for rejected packages, unusable files and holes."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

from killreport.agent import user_agent
from killreport.r2z2 import FeedRequest, FeedResponse, Follower, MemoryPace, Policy, R2z2Client, Unreachable
from tests.r2z2_store import MemoryKillmailStore
from tests.sim.test_daily_downtime import FakeClock
from tests.unit.test_r2z2_client import KILLMAIL, PACKAGE

FIRST = 1_000_000
Answer = tuple[int, Any] | tuple[int, Any, dict[str, str]] | Exception


def package(number: int, **extra: Any) -> dict[str, Any]:
    killmail_id = 130_000_000 + number
    return {**PACKAGE, "killmail_id": killmail_id, "esi": {**KILLMAIL, "killmail_id": killmail_id},
            "sequence_id": number, **extra}


class ScriptedFeed:
    """Answers each path from a script (a list is played in order, its last answer kept), else 404."""

    def __init__(self, clock: FakeClock, script: dict[str, list[Answer]]) -> None:
        self.clock, self.script = clock, script
        self.asked: list[tuple[str, float]] = []

    async def __call__(self, request: FeedRequest) -> FeedResponse:
        name = request.url.rsplit("/", 1)[1].removesuffix(".json")
        self.asked.append((name, self.clock()))
        answers = self.script.get(name, [(404, {"error": "not found"})])
        item = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(item, Exception):
            raise item
        body = item[1] if isinstance(item[1], bytes) else json.dumps(item[1]).encode()
        return FeedResponse(item[0], item[2] if len(item) > 2 else {}, body)


def follower(clock: FakeClock, feed: ScriptedFeed, store: MemoryKillmailStore,
             policy: Policy | None = None) -> Follower:
    async def sleep(seconds: float) -> None:
        clock.now += max(seconds, 0.0)

    client = R2z2Client(feed, base_url="http://feed.test", user_agent=user_agent("t@example.com"))
    return Follower(client, store, MemoryPace(10, clock), max_rps=10, clock=clock, sleep=sleep, policy=policy)


def until(clock: FakeClock, seconds: float) -> Callable[[], bool]:
    end = clock.now + seconds
    return lambda: clock.now >= end


async def test_a_first_start_begins_at_the_head_and_a_later_one_at_the_stored_cursor() -> None:
    clock = FakeClock(0.0)
    feed = ScriptedFeed(clock, {"sequence": [(200, {"sequence": FIRST + 5})],
                                str(FIRST + 5): [(200, package(FIRST + 5))]})
    store = MemoryKillmailStore()
    await follower(clock, feed, store).run(until(clock, 1))
    assert store.cursor == FIRST + 6 and list(store.saves) == [130_000_000 + FIRST + 5]
    resumed, start = ScriptedFeed(clock, {str(FIRST + 6): [(200, package(FIRST + 6))]}), clock.now
    await follower(clock, resumed, store).run(until(clock, 1))
    assert resumed.asked[0] == (str(FIRST + 6), start) and store.cursor == FIRST + 7
    assert ("sequence", start) in resumed.asked  # its 404 is logged, not fatal


async def test_a_429_waits_its_retry_after_and_a_403_a_minute_doubling_with_each_refusal_in_a_row() -> None:
    clock = FakeClock(0.0)
    feed = ScriptedFeed(clock, {"sequence": [(429, {}, {"retry-after": "7"}), (403, {}), (403, {}),
                                             (200, {"sequence": FIRST})]})
    store = MemoryKillmailStore()
    await follower(clock, feed, store).run(until(clock, 400))
    times = [at for name, at in feed.asked if name == "sequence"]
    assert times[:4] == [0.0, 7.0, 127.0, 367.0] and store.cursor is None  # nothing to save yet


async def test_server_errors_and_no_answer_pause_briefly_and_growing() -> None:
    clock = FakeClock(0.0)
    feed = ScriptedFeed(clock, {"sequence": [(503, {}), Unreachable("refused"), (200, {"sequence": FIRST})]})
    await follower(clock, feed, MemoryKillmailStore()).run(until(clock, 30))
    assert [at for name, at in feed.asked if name == "sequence"][:3] == [0.0, 6.0, 18.0]


async def test_a_rejected_package_is_kept_aside_and_an_unreadable_file_asked_again_later() -> None:
    clock = FakeClock(0.0)
    broken = package(FIRST + 1, esi={**KILLMAIL, "killmail_id": 130_000_000 + FIRST + 1, "victim": {}})
    feed = ScriptedFeed(clock, {"sequence": [(200, {"sequence": FIRST + 2})],
                                str(FIRST): [(200, b"{not json"), (200, package(FIRST))],
                                str(FIRST + 1): [(200, broken)], str(FIRST + 2): [(200, package(FIRST + 2))]})
    store = MemoryKillmailStore(cursor=FIRST)
    await follower(clock, feed, store).run(until(clock, 10))
    assert [r.sequence_id for r in store.rejected] == [FIRST + 1] and "victim" in store.rejected[0].reason
    assert [at for name, at in feed.asked if name == str(FIRST)] == [0.0, 6.0]
    assert store.cursor == FIRST + 3 and len(store.saves) == 2


async def test_a_number_that_never_comes_becomes_a_recorded_hole() -> None:
    clock = FakeClock(0.0)
    feed = ScriptedFeed(clock, {"sequence": [(200, {"sequence": FIRST + 1})],
                                str(FIRST + 1): [(200, package(FIRST + 1))]})
    store = MemoryKillmailStore(cursor=FIRST)
    await follower(clock, feed, store, Policy(hole_after_s=30)).run(until(clock, 100))
    assert store.recorded == [FIRST] and store.cursor == FIRST + 2
    asks = [at for name, at in feed.asked if name == str(FIRST)]
    assert len(asks) >= 3 and min(b - a for a, b in itertools.pairwise(asks)) >= 6.0


async def test_a_first_start_without_a_readable_head_pauses_and_tries_again() -> None:
    clock = FakeClock(0.0)
    feed = ScriptedFeed(clock, {"sequence": [(404, {}), (200, b"{}"), (200, {"sequence": FIRST})]})
    store = MemoryKillmailStore()
    await follower(clock, feed, store).run(until(clock, 20))
    assert [at for name, at in feed.asked if name == "sequence"][:3] == [0.0, 6.0, 18.0]
    assert (str(FIRST), 18.0) in feed.asked


async def test_the_head_read_and_the_last_error_are_noted_and_the_error_cleared_by_the_next_answer() -> None:
    clock = FakeClock(0.0)
    feed = ScriptedFeed(clock, {"sequence": [(503, {}), (200, {"sequence": FIRST + 3})]})
    store = MemoryKillmailStore(cursor=FIRST)
    await follower(clock, feed, store).run(until(clock, 8))
    # A start clears what an earlier run left on record; the 503 is noted, then cleared by the head.
    assert store.errors[0] is None and "503" in str(store.errors[1]) and store.errors[2:] == [None]
    assert store.heads == [FIRST + 3]


async def test_recorded_holes_are_asked_again_now_and_then_and_filled_when_they_answer() -> None:
    clock = FakeClock(0.0)
    feed = ScriptedFeed(clock, {"sequence": [(200, {"sequence": FIRST + 10})],
                                str(FIRST + 2): [(404, {}), (200, package(FIRST + 2))]})
    store = MemoryKillmailStore(cursor=FIRST + 10)
    store.recorded = [FIRST + 1, FIRST + 2]
    await follower(clock, feed, store, Policy(holes_every_s=100)).run(until(clock, 150))
    asks = {n: [at for name, at in feed.asked if name == str(n)] for n in (FIRST + 1, FIRST + 2)}
    assert [int(at // 100) for at in asks[FIRST + 1]] == [0, 1] and len(asks[FIRST + 2]) == 2
    assert store.filled == [FIRST + 2] and list(store.saves) == [130_000_000 + FIRST + 2]
    assert store.cursor == FIRST + 10  # a hole filled late never moves the cursor


async def test_a_first_start_from_a_given_number_does_not_read_the_head_first() -> None:
    clock = FakeClock(0.0)
    feed = ScriptedFeed(clock, {str(FIRST): [(200, package(FIRST))]})
    client = R2z2Client(feed, base_url="http://feed.test", user_agent=user_agent("t@example.com"))

    async def sleep(seconds: float) -> None:
        clock.now += max(seconds, 0.0)

    store = MemoryKillmailStore()
    await Follower(client, store, MemoryPace(10, clock), max_rps=10, clock=clock, sleep=sleep,
                   start_at=FIRST).run(until(clock, 1))
    assert feed.asked[0] == (str(FIRST), 0.0) and store.cursor == FIRST + 1


async def test_a_pause_another_process_took_holds_this_follower_too_and_a_stop_sends_nothing_more() -> None:
    clock = FakeClock(0.0)
    feed = ScriptedFeed(clock, {"sequence": [(200, {"sequence": FIRST})]})
    shared = MemoryPace(10, clock)
    await shared.refused(30.0, 60.0)  # a back-fill was told to wait 30 s
    store = MemoryKillmailStore(cursor=FIRST)
    await follower_on(clock, feed, store, shared).run(until(clock, 40))
    assert min(at for _, at in feed.asked) == 30.0
    stopped = ScriptedFeed(clock, {})
    await shared.refused(30.0, 60.0)
    stopping = follower_on(clock, stopped, store, shared)
    await stopping.run(lambda: clock.now >= 45.0 + 5)  # the stop comes while it waits for the pause
    assert stopped.asked == [] and clock.now >= 70.0  # it waited out the pause, then sent nothing


async def test_two_followers_on_one_shared_pace_stay_under_the_cap_together() -> None:
    clock = FakeClock(0.0)
    feed = ScriptedFeed(clock, {"sequence": [(200, {"sequence": FIRST + 500})],
                                **{str(n): [(200, package(n))] for n in range(FIRST, FIRST + 500)}})
    shared = MemoryPace(10, clock)
    one = follower_on(clock, feed, MemoryKillmailStore(cursor=FIRST), shared)
    two = follower_on(clock, feed, MemoryKillmailStore(cursor=FIRST + 250), shared)
    for _ in range(200):
        await one.step()
        await two.step()
    times = sorted(at for _, at in feed.asked)
    assert len(times) >= 300
    assert max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times)) <= 10


def follower_on(clock: FakeClock, feed: ScriptedFeed, store: MemoryKillmailStore,
                shared: MemoryPace) -> Follower:
    async def sleep(seconds: float) -> None:
        clock.now += max(seconds, 0.0)

    client = R2z2Client(feed, base_url="http://feed.test", user_agent=user_agent("t@example.com"))
    return Follower(client, store, shared, max_rps=10, clock=clock, sleep=sleep)
