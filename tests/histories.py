"""The copy's histories against the simulator's truth (`GET /_sim/histories`), read through the store's
answers: every stored character's employment and every stored corporation's alliance membership,
point-in-time answers at random (entity, time) pairs, and every alliance's joined/left feed in a
window. The expected answers are domain/history.py's rules over the truth's records."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select

from killreport.domain import history
from killreport.domain.models import AllianceHistory, CorporationHistory
from killreport.sim.testing import RunningSim, running_sim
from killreport.store import tables as t
from killreport.store.interface import Store
from tests.cluster import cli
from tests.truth import until_equal

Stays = dict[int, list[history.Interval]]

# Caches a thousand times shorter than ESI's; characters' and their histories' shorter still (the
# end-to-end tests wait on them): a character period is 34.6 s, a corporation history's 17.3 s.
SCALE = 0.001
ALLIANCE_S = 3600 * SCALE
CHARACTER_S = 86400 * 0.0004
# Every kind of mutation the simulator makes (docs/simulator.md).
MUTATIONS = ["hop", "ceo", "members", "rename", "found_alliance", "disband_alliance", "close_corporation",
             "move_character", "biomass_character", "executor"]
HISTORY_ROUTES = ("GET /characters/{character_id}/corporationhistory",
                  "GET /corporations/{corporation_id}/alliancehistory")


# The budget's default cap group for both history routes (config.py, ESI_ROUTE_CAPS), and how long a
# cut pauses it (Rules.cap_pause_s).
HISTORY_GROUP = "history"
CAP_PAUSE_S = 60.0
# A universe whose first sync fetches about 300 histories, both routes busy at once when the workers
# have slots enough for both kinds of job to wait on the budget (BUSY_SLOTS; with 24, corporations'
# waited behind characters'): at 4 a second each (the old default) the embedded run of 2026-12-07 met
# the simulator's 300 a minute limit, counting both routes together, about 50 s in (164 character
# and 137 corporation histories in 42 s); at 4 a second for both it cannot.
BUSY_ALLIANCES = 40
BUSY_SLOTS = "96"
# History requests in flight at once on the group, at most: they go at least 1/4 s apart (the
# group's rate) and the simulator answers in 5-10 ms, so one; three allows for a loaded machine.
IN_FLIGHT = 3


@asynccontextmanager
async def simulated(alliances: int, history_per_min: int, seed: int) -> AsyncIterator[RunningSim]:
    """A simulator with those caches and the hidden history limit at `history_per_min`."""
    scales = (("character", 0.0004), ("corporation_history", 0.0002))
    async with running_sim(alliances=alliances, cache_scale=SCALE, seed=seed, route_cache_scales=scales,
                           history_per_min=history_per_min, latency_ms=5, jitter_ms=5) as sim:
        yield sim


def history_requests(stats: Mapping[str, Any]) -> int:
    """History requests the simulator answered, any status."""
    return sum(n for route in HISTORY_ROUTES for n in stats["by_route"].get(route, {}).values())


def statuses(stats: Mapping[str, Any]) -> set[str]:
    """Every status the simulator answered with."""
    return {status for by_status in stats["by_route"].values() for status in by_status}


async def truth_stays(sim: RunningSim) -> tuple[Stays, Stays]:
    """The truth's intervals: characters' employment, corporations' membership, by id."""
    every = await sim.control.histories()
    characters = {int(i): history.employment(CorporationHistory.validate_python(r))
                  for i, r in every["characters"].items()}
    corporations = {int(i): history.membership(AllianceHistory.validate_python(r))
                    for i, r in every["corporations"].items()}
    return characters, corporations


async def stored_ids(store: Store) -> tuple[list[int], list[int]]:
    """The characters (not tombstoned: a deleted one's history is never fetched again) and the
    corporations the copy holds."""
    c = t.characters.c
    async with store.connect() as conn:
        living = select(c.id).where(c.id.not_in(select(t.character_tombstones.c.id))).order_by(c.id)
        characters = [int(i) for i in (await conn.execute(living)).scalars()]
        corporations = [int(i) for i in (await conn.execute(
            select(t.corporations.c.id).order_by(t.corporations.c.id))).scalars()]
    return characters, corporations


def _as_rows(stays: list[history.Interval], holder: str) -> list[dict[str, Any]]:
    return [{holder: s.holder, "start": s.start, "end": s.end, "record_id": s.record_id}
            for s in reversed(stays)]


async def history_problems(store: Store, sim: RunningSim) -> list[str]:
    """Every stored history that differs from the truth (empty: equal)."""
    characters, corporations = await truth_stays(sim)
    stored_characters, stored_corporations = await stored_ids(store)
    problems = []
    async with store.connect() as conn:
        for i in stored_characters:
            got = [dict(r) for r in await store.history.character_history(conn, i)]
            if got != _as_rows(characters.get(i, []), "corporation_id"):
                problems.append(f"character {i}: stored {got[:3]}, truth {characters.get(i, [])[-3:]}")
        for i in stored_corporations:
            got = [dict(r) for r in await store.history.corporation_history(conn, i)]
            if got != _as_rows(corporations.get(i, []), "alliance_id"):
                problems.append(f"corporation {i}: stored {got[:3]}, truth {corporations.get(i, [])[-3:]}")
    return problems


async def until_histories_equal(store: Store, sim: RunningSim, within_s: float, poll_s: float = 1.0) -> float:
    """Seconds until every stored history equals the truth; after `within_s`, fail with the differences."""
    started = time.monotonic()
    problems: list[str] = []
    while time.monotonic() - started < within_s:
        problems = await history_problems(store, sim)
        if not problems:
            return time.monotonic() - started
        await asyncio.sleep(poll_s)
    raise AssertionError(f"{len(problems)} histories differ after {within_s:.0f} s: {problems[:5]}")


def _holder_at(stays: list[history.Interval], when: dt.datetime) -> int | None:
    found = history.at(stays, when)
    return None if found is None else found.holder


async def check_answers(store: Store, sim: RunningSim, pairs: int, seed: int) -> int:
    """`pairs` random (entity, time) answers and every alliance's feed in random windows, against the
    truth's rules; returns how many answers were compared."""
    characters, corporations = await truth_stays(sim)
    living, held = await stored_ids(store)
    held_stays = {c: corporations.get(c, []) for c in held}
    starts = [s.start for ss in (*characters.values(), *corporations.values()) for s in ss]
    first, last = min(starts) - dt.timedelta(days=30), dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    rng, compared = random.Random(seed), 0

    def moment() -> dt.datetime:
        return first + (last - first) * rng.random()

    alliances = sorted({s.holder for ss in held_stays.values() for s in ss if s.holder is not None})
    async with store.connect() as conn:
        for _ in range(pairs):
            when, who = moment(), rng.choice(living)
            job = history.at(characters.get(who, []), when)
            expected = None if job is None else {"corporation_id": job.holder, "alliance_id": _holder_at(
                held_stays.get(job.holder or 0, []), when)}
            assert await store.history.where_at(conn, who, when) == expected, (who, when)
            alliance = rng.choice(alliances)
            assert await store.history.alliance_members_at(conn, alliance, when) == sorted(
                c for c, ss in held_stays.items() if _holder_at(ss, when) == alliance), (alliance, when)
            compared += 2
        for alliance in alliances:
            since, until = sorted((moment(), moment()))
            feed = await store.history.joined_left(conn, "alliance", alliance, since=since, until=until)
            assert sorted((r["member_id"], r["event"], r["at"]) for r in feed) == _feed(
                held_stays, alliance, since, until), (alliance, since, until)
            compared += 1
    return compared


def _feed(stays: Mapping[int, list[history.Interval]], alliance: int, since: dt.datetime,
          until: dt.datetime) -> list[tuple[int, str, dt.datetime | None]]:
    joined = [(c, "joined", s.start) for c, ss in stays.items() for s in history.joined(ss, since, until)
              if s.holder == alliance]
    left = [(c, "left", s.end) for c, ss in stays.items() for s in history.left(ss, since, until)
            if s.holder == alliance]
    return sorted(joined + left)


async def until_cut(env: Mapping[str, str], within_s: float) -> dict[str, Any]:
    """The history cap group as `killreport status` shows it once cut (after the simulator refused one)."""
    shown: list[dict[str, Any]] = []
    for _ in range(int(within_s)):
        status = await cli(env, "status", "--json")
        assert status.code == 0, status.err
        shown = json.loads(status.out)["budget"]["route_caps"]
        cut = [c for c in shown if c["group"] == HISTORY_GROUP and c["factor"] < 1]
        if cut:
            return dict(cut[0])
        await asyncio.sleep(1.0)
    raise AssertionError(f"no cut cap shown within {within_s:.0f} s: {shown}")


async def shown_hits(env: Mapping[str, str]) -> int:
    """The headerless 429s `killreport status` counts on the history cap group."""
    status = await cli(env, "status", "--json")
    assert status.code == 0, status.err
    shown = json.loads(status.out)["budget"]["route_caps"]
    return sum(c["hits"] for c in shown if c["group"] == HISTORY_GROUP)


def hits_bound(elapsed_s: float, in_flight: int) -> int:
    """The most headerless 429s the budget lets happen in `elapsed_s`: a cut pauses the group for
    CAP_PAUSE_S, so at most 1 + elapsed / pause cuts; each is made by one 429 and followed by at most
    the requests in flight on the group then (each granted before the cut, so none cuts again)."""
    return int(1 + elapsed_s // CAP_PAUSE_S) * (1 + in_flight)


async def found_and_completed(env: Mapping[str, str], store: Store, sim: RunningSim, started: float) -> None:
    """With the hidden limit low, a running copy (`env`, `store`) ends equal to the truth, histories
    included; the budget found the limit, status showing the cut group and counting every hit, and
    the hits stayed within hits_bound of the time since `started` (time.monotonic)."""
    await until_equal(store.engine, sim, within_s=120)
    cut = await until_cut(env, within_s=120)
    await until_histories_equal(store, sim, within_s=480)
    elapsed = time.monotonic() - started
    stats = await sim.control.stats()
    shown = await shown_hits(env)
    hits = stats["hidden_limit"]["total"]
    assert 0 < hits <= hits_bound(elapsed, IN_FLIGHT), (hits, elapsed, stats["hidden_limit"])
    assert shown == hits, "status counts every headerless 429, whether it cut or not"
    assert cut["factor"] < 1 and cut["hits"] >= 1, cut
    assert "420" not in statuses(stats), stats["by_route"]
    assert stats["cache_violations"]["total"] == 0, stats["cache_violations"]
