"""Requests are counted by route template and status, flushed to the shared log, and read back."""

from __future__ import annotations

import contextlib

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from killreport.esi.counting import CountingTransport
from killreport.esi.errors import TransportError
from killreport.esi.types import EsiRequest, EsiResponse
from killreport.store import request_counts
from killreport.worker.stats import flush_once
from tests.stores import as_store


class Answers:
    """A transport answering from a script: a status, or None for no answer."""

    def __init__(self, *statuses: int | None) -> None:
        self._statuses = list(statuses)

    async def __call__(self, request: EsiRequest) -> EsiResponse:
        status = self._statuses.pop(0)
        if status is None:
            raise TransportError("timed out", path=request.url)
        return EsiResponse(status, {}, b"[]")


async def _send(counter: CountingTransport, *paths: str) -> None:
    for path in paths:
        with contextlib.suppress(TransportError):
            await counter(EsiRequest("GET", f"http://esi.test{path}"))


async def _totals(engine: AsyncEngine) -> dict[int, int]:
    async with engine.connect() as conn:
        return await request_counts.totals(conn)


async def _recent(engine: AsyncEngine, seconds: float) -> dict[tuple[str, int], int]:
    async with engine.connect() as conn:
        return await request_counts.recent(conn, seconds)


async def test_counts_by_route_and_status_add_up_across_flushes(engine: AsyncEngine) -> None:
    counter = CountingTransport(Answers(200, 304, 200, None, 404))
    await _send(counter, "/alliances/99000001", "/alliances/99000002", "/alliances",
                "/characters/90000001")
    await flush_once(as_store(engine), counter)
    await _send(counter, "/characters/90000002")
    await flush_once(as_store(engine), counter)
    assert await _totals(engine) == {200: 2, 304: 1, 0: 1, 404: 1}
    assert await _recent(engine, 3600) == {
        ("/alliances/{id}", 200): 1, ("/alliances/{id}", 304): 1, ("/alliances", 200): 1,
        ("/characters/{id}", 0): 1, ("/characters/{id}", 404): 1}
    assert counter.take() == {}


async def test_counts_survive_a_failed_flush(engine: AsyncEngine) -> None:
    counter = CountingTransport(Answers(200))
    await _send(counter, "/alliances")
    broken = create_async_engine(engine.url.set(database="kr_no_such_database"))
    await flush_once(as_store(broken), counter)  # the database is not there: the counts are kept
    await broken.dispose()
    assert await _totals(engine) == {}
    await flush_once(as_store(engine), counter)
    assert await _totals(engine) == {200: 1}
