"""`killreport history ID [--at WHEN]` on a SQLite file: a character's, a corporation's and an
alliance's history and point-in-time answers, as JSON and as a table; bad input and unknown ids."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from killreport.store import migrate
from killreport.store.facts import CacheFacts
from tests.cluster import NO_BROKER, cli_here, env_for
from tests.store.conftest import open_store
from tests.store.test_history_contract import day, employment, membership
from tests.store.test_jobs_contract import HOUR, alliance, character, corporation, facts


async def _copy(path: Path) -> str:
    """A file holding character 1 (98000010 → 98000020), corporation 98000010 (99000001 → none) and
    alliance 99000001."""
    url = f"sqlite:///{path}"
    await asyncio.to_thread(migrate.upgrade, url)
    async with open_store(url) as store:
        h: CacheFacts = facts(HOUR, '"h"')
        async with store.autocommit() as conn:
            await store.jobs.store(conn, 1, character(corporation_id=98000020), facts(HOUR))
            await store.jobs.store(conn, 98000010, corporation(alliance_id=None), facts(HOUR))
            await store.jobs.store(conn, 99000001, alliance(), facts(HOUR))
        async with store.begin() as conn:
            await store.jobs.store_history(conn, "character", 1, employment((0, 98000010), (10, 98000020)), h)
            await store.jobs.store_history(conn, "character", 2, employment((2, 98000010)), h)
            await store.jobs.store_history(conn, "corporation", 98000010,
                                           membership((0, 99000001), (8, None)), h)
    return url


async def test_history_answers_for_each_kind(tmp_path: Path) -> None:
    env = env_for(await _copy(tmp_path / "copy.db"), NO_BROKER, "http://127.0.0.1:9")

    async def ask(*args: str) -> dict[str, object]:
        done = await cli_here(env, "history", *args, "--json")
        assert done.code == 0, done.err
        answer: dict[str, object] = json.loads(done.out)
        return answer

    assert (await ask("1"))["rows"] == [
        {"corporation_id": 98000020, "start": day(10).isoformat(), "end": None},
        {"corporation_id": 98000010, "start": day(0).isoformat(), "end": day(10).isoformat()}]
    assert (await ask("1", "--at", day(5).date().isoformat()))["rows"] == [
        {"corporation_id": 98000010, "alliance_id": 99000001}]
    assert (await ask("1", "--at", "2019-06-01T00:00:00+02:00"))["rows"] == [], "before any record"
    assert (await ask("98000010", "--at", day(9).isoformat()))["rows"] == [
        {"alliance_id": None}, {"character_id": 1}, {"character_id": 2}]
    feed = await ask("99000001")
    assert feed["kind"] == "alliance" and feed["rows"] == [
        {"corporation_id": 98000010, "event": "joined", "at": day(0).isoformat()},
        {"corporation_id": 98000010, "event": "left", "at": day(8).isoformat()}]
    assert (await ask("99000001", "--at", day(3).isoformat()))["rows"] == [{"corporation_id": 98000010}]
    table = await cli_here(env, "history", "1")
    assert table.code == 0 and "98000020" in table.out and "character 1" in table.out, table.out


async def test_bad_input_and_unknown_ids_say_so(tmp_path: Path) -> None:
    env = env_for(await _copy(tmp_path / "copy.db"), NO_BROKER, "http://127.0.0.1:9")
    for args, says in [(("abc",), "not a numeric id"), (("-5",), "ids are positive"),
                       (("1", "--at", "May 3rd"), "not an ISO 8601 date or time"),
                       (("1", "--at", "2026-02-30"), "not an ISO 8601 date or time")]:
        done = await cli_here(env, "history", *args)
        assert done.code == 2 and says in done.err, (args, done.err)
    unknown = await cli_here(env, "history", "12345")
    assert unknown.code == 1 and "holds no character, corporation or alliance 12345" in unknown.err
