"""The follower against the simulator's R2Z2 feed over HTTP, on one fake clock shared with it: every
published kill reaches the store once, republished ones with their new zkb, stale 404s are waited out
without asking again within 6 s, and the feed itself never sees more requests in a second than the cap."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from killreport.agent import user_agent
from killreport.r2z2 import Follower, MemoryPace, R2z2Client, aiohttp_transport
from killreport.r2z2.transport import FeedRequest, FeedResponse, Transport
from killreport.sim.feed import FIRST_SEQUENCE
from killreport.sim.testing import running_sim
from tests.r2z2_store import MemoryKillmailStore
from tests.sim.test_daily_downtime import FakeClock

NOON = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC).timestamp()
CAP = 5


@dataclass
class Recording:
    """A transport that notes every request's path, status and (fake) time before passing the answer on."""

    inner: Transport
    clock: FakeClock
    seen: list[tuple[str, int, float]]

    async def __call__(self, request: FeedRequest) -> FeedResponse:
        response = await self.inner(request)
        self.seen.append((request.url.rsplit("/", 1)[1], response.status, self.clock()))
        return response


def fake_sleep(clock: FakeClock) -> Callable[[float], Awaitable[None]]:
    """A sleep that moves the shared fake clock on at once."""
    async def sleep(seconds: float) -> None:
        clock.now += max(seconds, 0.0)
        await asyncio.sleep(0)
    return sleep


async def run_for(follower: Follower, clock: FakeClock, seconds: float) -> None:
    end = clock.now + seconds
    await follower.run(lambda: clock.now >= end)


async def test_every_kill_is_stored_once_under_the_cap_through_stale_404s_and_republication() -> None:
    clock, store, seen = FakeClock(NOON), MemoryKillmailStore(), list[tuple[str, int, float]]()
    options = {"r2z2_stale_share": 0.3, "r2z2_stale_s": 10, "kill_republish_share": 0.2, "r2z2_per_s": CAP}
    async with running_sim(alliances=5, clock=clock, **options) as sim, aiohttp_transport() as transport:
        client = R2z2Client(Recording(transport, clock, seen), base_url=sim.r2z2_url,
                            user_agent=user_agent("tests@example.com"))
        follower = Follower(client, store, MemoryPace(CAP, clock), max_rps=CAP, clock=clock,
                            sleep=fake_sleep(clock))
        rng, published = random.Random(7), dict[str, float]()
        for _ in range(25):
            for kill in await sim.control.publish_kills(rng.choice([1, 2, 3, 8, 20])):
                published[str(kill["sequence_id"])] = clock.now
            await run_for(follower, clock, rng.choice([0.5, 2, 7]))
        await run_for(follower, clock, 90)  # long enough for every stale file to turn up
        truth = await sim.control.kills()
        stats = await sim.control.stats()
    kills = truth["kills"]
    assert len(kills) > 150 and store.saves == Counter(k["killmail_id"] for k in kills)
    assert set(store.saves.values()) == {1}, "every kill handed over exactly once"
    assert {k: z.model_dump(mode="json", by_alias=True, exclude_none=True) for k, z in store.zkb.items()} == {
        k["killmail_id"]: k["zkb"] for k in kills}, "republished kills carry their new zkb"
    assert store.refreshed and not store.recorded and not store.rejected
    assert store.cursor == truth["head"] + 1 > FIRST_SEQUENCE + 150
    assert stats["r2z2"]["by_status"].get("429", 0) == 0 and stats["r2z2"]["requests"] == len(seen)
    assert stats["r2z2"]["max_per_s"] <= CAP and stats["r2z2"]["asked_again_after_404"]["within_6s"] == 0
    assert min(_asked_again_after_404(seen)) >= 6.0
    stale = {name for name, status, at in seen if status == 404 and at >= published.get(name[:-5], at + 1)}
    assert len(stale) > 5, "404s for files already published (stale) were met and waited out"


def _asked_again_after_404(seen: list[tuple[str, int, float]]) -> list[float]:
    """For every file asked again after a 404: the seconds between the 404 and the next ask."""
    last_404: dict[str, float] = {}
    gaps = []
    for name, status, at in seen:
        if name != "sequence.json" and name in last_404:
            gaps.append(at - last_404.pop(name))
        if status == 404:
            last_404[name] = at
    return gaps
