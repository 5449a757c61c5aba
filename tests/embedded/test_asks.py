"""A command on a file a runner holds asks the runner for the alliance list (sync/asked.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.domain.cache import Fetched
from killreport.esi.errors import TransientError
from killreport.runner_lock import RunnerLock
from killreport.store.interface import Store
from killreport.store.sqlite.store import sqlite_store
from killreport.sync.asked import RunnerSilent, answer_once, from_runner, serve
from tests.embedded.sqlite_files import db_file, db_url, engine, migrated_template

__all__ = ["db_file", "db_url", "engine", "migrated_template"]

pytestmark = pytest.mark.timeout(60)


class Esi:
    """GET /alliances as the runner's client answers it, counted."""

    def __init__(self, ids: list[int], *, fails: bool = False) -> None:
        self.ids, self.fails, self.sent = ids, fails, 0

    async def alliance_ids(self) -> Fetched[list[int]]:
        self.sent += 1
        if self.fails:
            raise TransientError("503 from ESI", status=503, path="/alliances/")
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        return Fetched(self.ids, expires, '"e1"', None)


@pytest.fixture
def store(engine: AsyncEngine, db_url: str) -> Store:
    return sqlite_store(engine, db_url)


async def test_the_runner_fetches_once_and_a_fresh_list_is_not_asked_for_again(
        store: Store, db_file: Path) -> None:
    esi = Esi([99000002, 99000001])
    with RunnerLock.acquire(db_file, "killreport run"):
        serving = asyncio.create_task(serve(store, esi, poll_s=0.05))
        try:
            assert await from_runner(store, db_file) == [99000001, 99000002]
            assert await from_runner(store, db_file) == [99000001, 99000002]  # fresh: no ask
        finally:
            serving.cancel()
    assert esi.sent == 1
    assert not await answer_once(store, esi)  # nothing left open


async def test_a_failed_fetch_is_one_line(store: Store, db_file: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:  # the retries' pauses (1, 2, 4... s) cut short
        await real_sleep(min(seconds, 0.01))

    monkeypatch.setattr(asyncio, "sleep", sleep)
    esi = Esi([], fails=True)
    with RunnerLock.acquire(db_file, "killreport run"):
        serving = asyncio.create_task(serve(store, esi, poll_s=0.05))
        try:
            with pytest.raises(RunnerSilent, match="could not fetch the alliance list"):
                await from_runner(store, db_file)
        finally:
            serving.cancel()
    assert esi.sent == 6


async def test_a_runner_that_never_takes_the_ask_up_is_named(store: Store, db_file: Path) -> None:
    with RunnerLock.acquire(db_file, "killreport run"), \
            pytest.raises(RunnerSilent, match="did not take up the ask"):
        await from_runner(store, db_file, take_within_s=0.3, poll_s=0.05)


async def test_a_runner_that_stops_before_it_answers_is_named(store: Store, db_file: Path) -> None:
    lock = RunnerLock.acquire(db_file, "killreport run")
    asyncio.get_running_loop().call_later(0.2, lock.release)
    with pytest.raises(RunnerSilent, match="stopped before it fetched"):
        await from_runner(store, db_file, take_within_s=30, poll_s=0.05)
