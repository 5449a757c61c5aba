"""The back-fill against the simulator over HTTP, on PostgreSQL and on SQLite: a day back-filled equals
the simulator's truth for that day (ids, hashes, bodies), from the raw file and without it (bodies from
ESI under the killmail token bucket, zero 429s), a totals.json that disagrees is reported and redone,
and R2Z2's faults (404, 5xx, 429, malformed files) and ESI's 422 each end the way the docs say.

The simulator's clock runs a day behind, so the day its kills fall on is over for the back-fill (R2Z2
publishes a day's files once it has ended); `r2z2_today` has the simulator serve that day.
Faults come from a front between the back-fill and the simulator's feed (`Front`), which answers
chosen paths itself or edits what the feed said.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from killreport.agent import user_agent
from killreport.backfill.run import Backfill, Options
from killreport.backfill.shared_pace import StoredPace
from killreport.budget.memory import MemoryBudget
from killreport.domain.budget_rules import WITHOUT_DOWNTIME, Limits
from killreport.domain.killmail import Kill, Killmail
from killreport.esi.client import EsiClient
from killreport.esi.errors import ServerError as EsiServerError
from killreport.esi.transport import aiohttp_transport as esi_transport
from killreport.queue.broker import QUEUE_NAMES
from killreport.queue.messages import decode
from killreport.r2z2 import R2z2Client, ServerError, aiohttp_transport
from killreport.r2z2.errors import MalformedBody
from killreport.r2z2.paced import PacedFeed
from killreport.sim.feed import day_of
from killreport.sim.testing import RunningSim, running_sim
from killreport.store import migrate
from killreport.store import tables as t
from killreport.store.interface import Store
from killreport.store.killmail_rows import killmail_row, participant_rows
from tests.cluster import migrated
from tests.misbehaving_http import serving
from tests.store.conftest import open_store

_KILLMAIL_COLUMNS = ("killmail_id", "hash", "killmail_time", "solar_system_id", "moon_id", "war_id",
                     "victim_ship_type_id", "victim_damage_taken", "position_x", "position_y", "position_z",
                     "items", "attacker_count", "source")


def a_day_ago() -> Callable[[], float]:
    """A clock a day behind, held near noon so that no kill of the test falls on another day."""
    noon = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
    started = time.time()
    return lambda: noon.timestamp() + (time.time() - started)


@pytest.fixture(params=["postgresql", "sqlite"])
def dialect_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each dialect (PostgreSQL's made for the test)."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("fresh_pg_url"))
    return f"sqlite:///{tmp_path / 'killreport.db'}"


@pytest.fixture
async def store(dialect_url: str) -> AsyncIterator[Store]:
    """The migrated store on it."""
    if dialect_url.startswith("postgresql"):
        await migrated(dialect_url)
    else:
        await asyncio.to_thread(migrate.upgrade, dialect_url)
    async with open_store(dialect_url) as made:
        yield made


@dataclass
class RecordingQueue:
    """A JobQueue that keeps what is published (the broker is not what these tests are about)."""

    published: dict[str, list[int]] = field(default_factory=dict)

    async def publish(self, queue: str, bodies: Any) -> None:
        self.published.setdefault(queue, []).extend(decode(b).id for b in bodies)

    async def publish_retry(self, queue: str, body: bytes, attempt: int) -> None:
        raise AssertionError("the back-fill never retries a job")

    async def publish_dead(self, letter: Any) -> None:
        raise AssertionError("the back-fill never dead-letters a job")

    def consume(self, queues: Any, prefetch: int) -> Any:
        raise AssertionError("the back-fill consumes nothing")


@dataclass
class Front:
    """Between the back-fill and the feed: `answers[path]` are played first (status, body, headers),
    then `edits[path]` rewrites what the feed said; every other request passes through."""

    upstream: str
    answers: dict[str, list[tuple[int, bytes, dict[str, str]]]] = field(default_factory=dict)
    edits: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    seen: list[tuple[str, int]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path.removeprefix("/r2z2")
        if self.answers.get(path):
            status, body, headers = self.answers[path].pop(0)
            self.seen.append((path, status))
            return web.Response(status=status, body=body, headers=headers)
        async with aiohttp.ClientSession() as session, session.get(
                self.upstream + path, headers={"User-Agent": request.headers.get("User-Agent", "")}) as got:
            status, body = got.status, await got.read()
        if status == 200 and path in self.edits:
            body = json.dumps(self.edits[path](json.loads(body))).encode()
        self.seen.append((path, status))
        return web.Response(status=status, body=body, content_type="application/json")


@asynccontextmanager
async def fronted(sim: RunningSim) -> AsyncIterator[tuple[Front, str]]:
    front = Front(sim.r2z2_url)
    async with serving([("/{tail:.*}", front.handle)]) as url:
        yield front, url + "/r2z2"


@asynccontextmanager
async def backfill(store: Store, sim: RunningSim, r2z2_url: str, *, esi: bool = True, attempts: int = 3,
                   batch: int = 7) -> AsyncIterator[tuple[Backfill, RecordingQueue, list[tuple[str, int]]]]:
    """A Backfill on the store, the feed at `r2z2_url` and the simulator's ESI (a memory budget);
    what progress heard as (status, stored)."""
    queue, heard = RecordingQueue(), list[tuple[str, int]]()
    async with aiohttp_transport() as feed_transport, esi_transport(8, 4 * 2**20) as transport:
        client = R2z2Client(feed_transport, base_url=r2z2_url, user_agent=user_agent("tests@example.com"))
        feed = PacedFeed(client, StoredPace(store, 10), sleep=asyncio.sleep, attempts=attempts,
                         trouble_first_s=0.05)
        budget = MemoryBudget(Limits(max_inflight=8), rules=WITHOUT_DOWNTIME)
        killmails = EsiClient(transport, budget, base_url=sim.base_url,
                              user_agent=user_agent("tests@example.com"), compatibility_date="2026-08-18",
                              timeout_s=10, max_body_bytes=4 * 2**20)
        yield (Backfill(store, feed, killmails if esi else None, queue,
                        progress=lambda r: heard.append((r.status, r.stored)),
                        options=Options(batch=batch, esi_retry_s=0.05)), queue, heard)


async def truth_of(sim: RunningSim, day: str) -> dict[int, dict[str, Any]]:
    """The simulator's published kills whose killmail_time falls on `day`, by id: hash and ESI body."""
    kills = (await sim.control.kills())["kills"]
    return {k["killmail_id"]: k for k in kills if day_of(_seconds(k["esi"]["killmail_time"])) == day}


def _seconds(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def stored(store: Store) -> dict[int, tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each stored kill's row (the body's columns) and its participants, by id."""
    async with store.connect() as conn:
        kills = (await conn.execute(select(t.killmails))).mappings().all()
        people = (await conn.execute(select(t.killmail_participants).order_by(
            t.killmail_participants.c.killmail_id, t.killmail_participants.c.position))).mappings().all()
    out: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]] = {
        k["killmail_id"]: ({c: k[c] for c in _KILLMAIL_COLUMNS}, []) for k in kills}
    for p in people:
        out[p["killmail_id"]][1].append(dict(p))
    return out


def expected(truth: dict[int, dict[str, Any]], sources: dict[int, str]) -> dict[int, Any]:
    """What the store must hold for the truth's kills: the same rows the store makes of a body."""
    out = {}
    for killmail_id, found in truth.items():
        kill = Kill(killmail_id=killmail_id, hash=found["hash"], zkb=None,
                    source=sources[killmail_id],  # type: ignore[arg-type]
                    esi=Killmail.model_validate_json(json.dumps(found["esi"])))
        row = killmail_row(kill)
        out[killmail_id] = ({c: row[c] for c in _KILLMAIL_COLUMNS}, participant_rows(kill))
    return out


async def same_as_truth(store: Store, truth: dict[int, dict[str, Any]],
                        source: str | dict[int, str]) -> None:
    sources = source if isinstance(source, dict) else dict.fromkeys(truth, source)
    held, want = await stored(store), expected(truth, sources)
    assert sorted(held) == sorted(want)
    for killmail_id, (row, people) in want.items():
        got_row, got_people = held[killmail_id]
        assert got_row == row, killmail_id
        assert [{k: p[k] for k in q} for p, q in zip(got_people, people, strict=True)] == people


async def test_a_day_from_its_raw_file_equals_the_truth_and_a_second_run_asks_nothing(store: Store) -> None:
    async with running_sim(alliances=5, clock=a_day_ago(), r2z2_today=True, kill_late_share=0) as sim:
        await sim.control.publish_kills(30, late=False)
        day = day_of(sim.sim.clock())
        async with backfill(store, sim, sim.r2z2_url) as (work, queue, heard):
            [report] = await work.run([day])
            again = await work.run([day])
            redone = await work.run([day], redo=True)
        truth = await truth_of(sim, day)
        stats = await sim.control.stats()
    assert (report.status, report.listed, report.expected, report.from_raw, report.from_esi) == (
        "complete", 30, 30, 30, 0)
    await same_as_truth(store, truth, "history")
    assert [r.status for r in again] == ["skipped"]
    assert (redone[0].status, redone[0].held, redone[0].from_raw) == ("complete", 30, 0)
    assert not [r for r in stats["by_route"] if "killmails" in r], "no ESI request: the raw file had them all"
    named = {p["character_id"] for _, people in (await stored(store)).values() for p in people} - {None}
    async with store.connect() as conn:
        pending = set(await store.jobs.unpublished(conn, "character", sorted(named), limit=10**6))
    assert pending == set() and set(queue.published[QUEUE_NAMES["character"]]) <= named
    assert heard[:6] == [("pending", n) for n in (7, 14, 21, 28, 30)] + [("complete", 30)]
    async with store.connect() as conn:
        [row] = await store.killmails.backfill_days(conn)
    assert (row.day, row.listed, row.stored, row.expected, row.complete) == (day, 30, 30, 30, True)


async def test_without_a_raw_file_the_bodies_come_from_esi_under_its_bucket_with_zero_429s(
        store: Store) -> None:
    # 24 kills cost 48 tokens: more than one window holds
    tight = "killmail:/killmails/{killmail_id}/{killmail_hash}=40/4s"
    async with running_sim(alliances=5, clock=a_day_ago(), r2z2_today=True, kill_late_share=0,
                           buckets=(tight,)) as sim, fronted(sim) as (front, url):
        await sim.control.publish_kills(24, late=False)
        day = day_of(sim.sim.clock())
        front.answers[f"/history/raw/{day}.json"] = [(404, b'{"error": "not found"}', {})]
        async with backfill(store, sim, url) as (work, _, _):
            [report] = await work.run([day])
        truth = await truth_of(sim, day)
        stats = await sim.control.stats()
    assert (report.status, report.from_raw, report.from_esi, report.failed) == ("complete", 0, 24, {})
    await same_as_truth(store, truth, "esi")
    answered = stats["by_route"]
    killmail_routes = {r: c for r, c in answered.items() if "killmails" in r}
    assert sum(c.get("200", 0) for c in killmail_routes.values()) == 24
    assert not any("429" in c for c in killmail_routes.values()) and stats["limit_violations"]["total"] == 0
    assert stats["cache_violations"]["total"] == 0


async def test_a_refused_raw_body_and_a_wrong_hash_are_reported_per_kill(store: Store) -> None:
    async with running_sim(alliances=5, clock=a_day_ago(), r2z2_today=True, kill_late_share=0) as sim, \
            fronted(sim) as (front, url):
        kills = await sim.control.publish_kills(6, late=False)
        day = day_of(sim.sim.clock())
        broken, wrong = kills[1]["killmail_id"], kills[2]["killmail_id"]
        front.edits[f"/history/raw/{day}.json"] = lambda raw: {**raw, str(broken): {"victim": "?"},
                                                              str(wrong): {"x": 1}}
        front.edits[f"/history/{day}.json"] = lambda hashes: {**hashes, str(wrong): "0" * 40}
        async with backfill(store, sim, url) as (work, _, _):
            [report] = await work.run([day])
        truth = await truth_of(sim, day)
    assert report.status == "incomplete" and report.from_raw == 4 and report.from_esi == 1
    assert set(report.raw_rejected) == {broken, wrong} and "schema mismatch" in report.raw_rejected[broken]
    assert list(report.failed) == [wrong] and "Invalid killmail_id" in report.failed[wrong]
    del truth[wrong]
    await same_as_truth(store, truth, {k: "esi" if k == broken else "history" for k in truth})


async def test_a_day_whose_count_differs_from_totals_is_reported_and_redone(store: Store) -> None:
    async with running_sim(alliances=5, clock=a_day_ago(), r2z2_today=True, kill_late_share=0) as sim, \
            fronted(sim) as (front, url):
        await sim.control.publish_kills(5, late=False)
        day = day_of(sim.sim.clock())
        front.edits["/history/totals.json"] = lambda totals: {**totals, day: totals[day] + 3}
        async with backfill(store, sim, url) as (work, _, _):
            [first] = await work.run([day])
            assert (first.status, first.listed, first.expected) == ("differs", 5, 8)
            [skipped] = await work.run([day])
            assert (skipped.status, skipped.listed, skipped.expected) == ("skipped incomplete", 5, 8)
            del front.edits["/history/totals.json"]
            await sim.control.publish_kills(2, late=False)  # the day's late kills arrive
            [again] = await work.run([day], redo=True)
        truth = await truth_of(sim, day)
    assert (again.status, again.listed, again.held, again.from_raw) == ("complete", 7, 5, 2)
    await same_as_truth(store, truth, "history")


async def test_r2z2_refusals_and_trouble_pause_and_are_asked_again(store: Store) -> None:
    async with running_sim(alliances=5, clock=a_day_ago(), r2z2_today=True, kill_late_share=0) as sim, \
            fronted(sim) as (front, url):
        await sim.control.publish_kills(3, late=False)
        day = day_of(sim.sim.clock())
        front.answers[f"/history/{day}.json"] = [(429, b"{}", {"Retry-After": "1"}), (503, b"", {})]
        front.answers[f"/history/raw/{day}.json"] = [(502, b"<html>", {})]
        async with backfill(store, sim, url) as (work, _, _):
            began = time.monotonic()
            [report] = await work.run([day])
            waited = time.monotonic() - began
        truth = await truth_of(sim, day)
    assert report.status == "complete" and waited >= 1.0
    assert [s for _, s in front.seen] == [200, 429, 503, 200, 502, 200]  # totals first
    await same_as_truth(store, truth, "history")
    async with store.connect() as conn:
        assert (await store.killmails.pace(conn)).refusals == 0  # the last answer calmed the pace


@pytest.mark.parametrize(("answer", "error"), [
    ((503, b"", {}), ServerError), ((200, b'{"1": "' + b"ab" * 20 + b'"', {}), MalformedBody),
    ((200, b'{"1": "not a hash"}', {}), MalformedBody)])
async def test_a_day_file_r2z2_keeps_failing_or_a_malformed_one_stops_the_run_and_stores_nothing(
        store: Store, answer: tuple[int, bytes, dict[str, str]], error: type[Exception]) -> None:
    async with running_sim(alliances=5, clock=a_day_ago(), r2z2_today=True, kill_late_share=0) as sim, \
            fronted(sim) as (front, url):
        await sim.control.publish_kills(3, late=False)
        day = day_of(sim.sim.clock())
        front.answers[f"/history/{day}.json"] = [answer] * 3
        async with backfill(store, sim, url, attempts=3) as (work, _, _):
            with pytest.raises(error):
                await work.run([day])
            del front.answers[f"/history/{day}.json"]
            [report] = await work.run([day])  # the day was never finished: the next run does it
        truth = await truth_of(sim, day)
    assert report.status == "complete"
    await same_as_truth(store, truth, "history")


async def test_a_day_without_a_list_and_a_day_not_over(store: Store) -> None:
    async with running_sim(alliances=5, clock=a_day_ago(), r2z2_today=True, kill_late_share=0) as sim:
        await sim.control.publish_kills(2, late=False)
        day = day_of(sim.sim.clock())
        earlier = day_of(sim.sim.clock() - 86400)  # no kill that day: R2Z2 has no file (404) nor a total
        today = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
        async with backfill(store, sim, sim.r2z2_url) as (work, _, _):
            reports = await work.run([earlier, day, today])
    assert [(r.day, r.status, r.listed) for r in reports] == [
        (earlier, "no list", 0), (day, "complete", 2), (today, "not over", 0)]
    async with store.connect() as conn:
        assert [row.day for row in await store.killmails.backfill_days(conn)] == [day]  # earlier: not done


async def test_without_esi_the_kills_needing_it_wait_and_the_day_stays_unfinished(store: Store) -> None:
    async with running_sim(alliances=5, clock=a_day_ago(), r2z2_today=True, kill_late_share=0) as sim, \
            fronted(sim) as (front, url):
        await sim.control.publish_kills(4, late=False)
        day = day_of(sim.sim.clock())
        front.answers[f"/history/raw/{day}.json"] = [(404, b"{}", {})] * 3
        async with backfill(store, sim, url, esi=False) as (work, _, _):
            [report] = await work.run([day])
            [later] = await work.run([day])  # not skipped: the day is unfinished
            assert await stored(store) == {}
        async with backfill(store, sim, url) as (work, _, _):
            [done] = await work.run([day])
        truth = await truth_of(sim, day)
    assert (report.status, report.waiting, later.status) == ("needs esi", 4, "needs esi")
    assert (done.status, done.from_esi) == ("complete", 4)
    await same_as_truth(store, truth, "esi")


async def test_esi_failing_a_kill_every_try_stops_the_run_and_the_next_run_resumes(store: Store) -> None:
    async with running_sim(alliances=5, clock=a_day_ago(), r2z2_today=True, kill_late_share=0) as sim, \
            fronted(sim) as (front, url):
        kills = await sim.control.publish_kills(10, late=False)
        day = day_of(sim.sim.clock())
        front.answers[f"/history/raw/{day}.json"] = [(404, b"{}", {})] * 2
        sick = kills[8]
        await sim.control.override(f"/killmails/{sick['killmail_id']}/{sick['hash']}/", status=500)
        async with backfill(store, sim, url, batch=7) as (work, _, _):
            with pytest.raises(EsiServerError):
                await work.run([day])
            assert len(await stored(store)) == 9, "every kill ESI answered was saved"
            await sim.control.clear_overrides()
            [report] = await work.run([day])
        truth = await truth_of(sim, day)
        stats = await sim.control.stats()
    assert (report.status, report.held, report.from_esi) == ("complete", 9, 1)
    await same_as_truth(store, truth, "esi")
    [answers] = [c for r, c in stats["by_route"].items() if "killmails" in r]
    assert answers == {"200": 10, "500": 3}, "each kill asked until it was answered, once"
    assert stats["limit_violations"]["total"] == 0 and stats["cache_violations"]["total"] == 0
