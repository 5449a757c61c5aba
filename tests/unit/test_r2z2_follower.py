"""The follower's edge over a scripted feed (a one-method transport) and a fake clock: where it starts,
how refusals pause it, and what reaches the store for rejected packages, unusable files and holes."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

from killreport.agent import user_agent
from killreport.r2z2 import FeedRequest, FeedResponse, Follower, Policy, R2z2Client, Unreachable
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
    return Follower(client, store, max_rps=10, clock=clock, sleep=sleep, policy=policy)


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
    assert store.holes == [FIRST] and store.cursor == FIRST + 2
    asks = [at for name, at in feed.asked if name == str(FIRST)]
    assert len(asks) >= 3 and min(b - a for a, b in itertools.pairwise(asks)) >= 6.0


async def test_a_first_start_without_a_readable_head_pauses_and_tries_again() -> None:
    clock = FakeClock(0.0)
    feed = ScriptedFeed(clock, {"sequence": [(404, {}), (200, b"{}"), (200, {"sequence": FIRST})]})
    store = MemoryKillmailStore()
    await follower(clock, feed, store).run(until(clock, 20))
    assert [at for name, at in feed.asked if name == "sequence"][:3] == [0.0, 6.0, 18.0]
    assert (str(FIRST), 18.0) in feed.asked
