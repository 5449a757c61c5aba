"""The history routes end to end: `killreport run` fetches the histories of a simulated universe into a
SQLite file, then `killreport web` answers them; every answer equals the simulator's truth.

Characters' and corporations' histories, members at random moments, and every alliance's and some
corporations' joined/left feed over random windows, compared through JSON as a client reads it
(times as the API writes them: ISO 8601 UTC to the second).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from typing import Any

import aiohttp
import pytest

from killreport.domain import history
from killreport.web.links import json_time
from tests.cluster import command, embedded_env, web_process
from tests.embedded.test_histories_e2e import _env, _store
from tests.histories import MUTATIONS, simulated, stored_ids, truth_stays, until_histories_equal
from tests.truth import until_equal

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
Stays = Mapping[int, list[history.Interval]]
FEEDS_SPAN = dt.timedelta(days=300)  # within the routes' 366 days


def _seconds(when: dt.datetime) -> dt.datetime:
    return when.replace(microsecond=0)


def _stays_as_json(stays: list[history.Interval]) -> list[tuple[int | None, str, str | None]]:
    return [(s.holder, json_time(s.start), None if s.end is None else json_time(s.end))
            for s in reversed(stays)]


async def _get(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as resp:
        assert resp.status == 200, (url, await resp.text())
        return await resp.json()


async def _histories(session: aiohttp.ClientSession, base: str, characters: Stays, corporations: Stays,
                     held: tuple[list[int], list[int]]) -> int:
    """Every stored character's and corporation's history route against the truth."""
    for i in held[0]:
        body = await _get(session, f"{base}api/characters/{i}/history")
        got = [(r["corporation"]["id"], r["start"], r["end"]) for r in body["items"]]
        assert got == _stays_as_json(characters.get(i, [])), i
    for i in held[1]:
        body = await _get(session, f"{base}api/corporations/{i}/history")
        got = [(r["alliance"] and r["alliance"]["id"], r["start"], r["end"]) for r in body["items"]]
        assert got == _stays_as_json(corporations.get(i, [])), i
    return len(held[0]) + len(held[1])


def _feed(stays: Stays, holder: int, since: dt.datetime, until: dt.datetime) -> list[tuple[int, str, str]]:
    """The truth's joined/left events in [since, until), oldest first, as the API writes them."""
    events = [(s.start, member, "joined") for member, ss in stays.items() for s in ss
              if s.holder == holder and since <= s.start < until]
    events += [(s.end, member, "left") for member, ss in stays.items() for s in ss
               if s.holder == holder and s.end is not None and since <= s.end < until]
    return [(member, event, json_time(at)) for at, member, event in sorted(events)]


async def _moments(session: aiohttp.ClientSession, base: str, corporations: Stays, rng: random.Random,
                   span: tuple[dt.datetime, dt.datetime], times: int) -> int:
    """Members of random alliances at random moments, and every alliance's feed in a random window."""
    alliances = sorted({s.holder for ss in corporations.values() for s in ss if s.holder is not None})
    first, last = span
    for _ in range(times):
        at, alliance = _seconds(first + (last - first) * rng.random()), rng.choice(alliances)
        body = await _get(session, f"{base}api/alliances/{alliance}/members?at={json_time(at)}")
        truth = sorted(c for c, ss in corporations.items()
                       if (stay := history.at(ss, at)) is not None and stay.holder == alliance)
        assert [i["id"] for i in body["items"]] == truth, (alliance, at)
    for alliance in alliances:
        until = _seconds(first + FEEDS_SPAN + (last - first - FEEDS_SPAN) * rng.random())
        since = until - FEEDS_SPAN
        body = await _get(session, f"{base}api/alliances/{alliance}/joined-left?since={json_time(since)}"
                                   f"&until={json_time(until)}")
        got = [(i["member"]["id"], i["event"], i["at"]) for i in body["items"]]
        assert got == _feed(corporations, alliance, since, until), (alliance, since, until)
    return times + len(alliances)


async def test_the_history_routes_answer_as_the_simulators_truth(db_url: str) -> None:
    async with simulated(alliances=4, history_per_min=0, seed=31) as sim, _store(db_url) as store:
        async with command(_env(db_url, sim.base_url), "run"):
            await until_equal(store.engine, sim, within_s=120)
            await sim.control.mutate(6, kinds=MUTATIONS)
            await until_equal(store.engine, sim, within_s=150)
            await until_histories_equal(store, sim, within_s=150)
        characters, corporations = await truth_stays(sim)
        held = await stored_ids(store)
        env = embedded_env(db_url, sim.base_url)
    held_corporations = {c: corporations.get(c, []) for c in held[1]}
    starts = [s.start for ss in held_corporations.values() for s in ss]
    span = (max(min(starts), dt.datetime(2003, 5, 6, tzinfo=dt.UTC)), _seconds(dt.datetime.now(dt.UTC)))
    async with web_process(env) as base, aiohttp.ClientSession() as session:
        compared = await _histories(session, base, characters, corporations, held)
        compared += await _moments(session, base, held_corporations, random.Random(31), span, 200)
    assert len(held[0]) >= 20 and len(held[1]) >= 10 and compared >= len(held[0]) + len(held[1]) + 200
    assert any(len(ss) > 1 for ss in held_corporations.values()), "some corporation moved"
