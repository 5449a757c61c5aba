"""The scheduler's due selection's plans on both dialects: each tier starts from an index, none reads
a table whole.

Each test EXPLAINs the very statement store/schedule.py runs every tick (PostgreSQL's EXPLAIN,
SQLite's EXPLAIN QUERY PLAN), bound with the default policy's rhythm, on a database holding tens of
thousands of characters and corporations in steady state (tests/store/schedule_volume.py) after
ANALYZE: with a handful of rows a planner reads tables whole whatever the indexes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.config import Settings
from killreport.domain.schedule import Rhythm
from killreport.ids import Kind
from killreport.scheduler.context import rhythm
from killreport.store import dialects
from killreport.store import schedule as s
from tests.store.conftest import DIALECTS
from tests.store.plans import connected, plan, uses, volumes, whole_reads
from tests.store.schedule_volume import fill

_DEFAULTS = Settings(_env_file=None)
RHYTHMS: dict[Kind, Rhythm] = {kind: rhythm(_DEFAULTS, kind) for kind in ("character", "corporation")}
# The index each tier starts from: a kind's every row past its longest age, its wanted histories,
# and each shorter tier's own.
TIER_INDEXES: dict[Kind, tuple[str, ...]] = {
    "character": ("characters_last_check", "characters_detail_due", "characters_history_due"),
    "corporation": ("corporations_last_check", "corporations_member_check", "corporations_seen_on_kill",
                    "corporations_history_due"),
}


ENTITIES = ("characters", "corporations")


def assert_tiers_indexed(lines: list[str], conn: AsyncConnection, *indexes: str, members_whole: bool = False,
                         ) -> None:
    """Characters and corporations are never read whole (tests/store/plans.py's whole_reads), and
    each of `indexes` is read.

    The pending set, recent failures and tombstones are probed per due row or, where the planner
    finds that cheaper at this size (a few hundred rows; a due row estimated alone), read whole:
    they hold what is in flight and what failed, not the copy. With `members_whole` the alliance
    members' partial index may be read whole: it holds only them (the active count, every 30 s)."""
    shown = "\n".join(lines)
    whole = [line for line in whole_reads(lines, conn)
             if any(f" {table}" in line for table in ENTITIES)
             and not (members_whole and "corporations_member_check" in line)]
    assert whole == [], shown
    for index in indexes:
        assert uses(lines, conn, index), (index, shown)


@pytest.fixture(scope="module")
def volume_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A PostgreSQL database and a SQLite file holding the same copy, analysed (kept for the module)."""
    yield from volumes(tmp_path_factory, "due_plans", fill)


@pytest.fixture(params=DIALECTS)
async def conn(request: pytest.FixtureRequest, volume_urls: dict[str, str]) -> AsyncIterator[AsyncConnection]:
    """A connection to the copy, on each dialect."""
    async with connected(volume_urls[request.param]) as opened:
        yield opened


@pytest.mark.parametrize("kind", list(RHYTHMS))
async def test_the_due_count_reads_each_tier_from_its_index(conn: AsyncConnection, kind: Kind) -> None:
    statement = s.due_count_statement(kind, dialects.of(conn))
    assert_tiers_indexed(await plan(conn, statement, RHYTHMS[kind].params()), conn, *TIER_INDEXES[kind])


@pytest.mark.parametrize("kind", list(RHYTHMS))
async def test_the_due_ids_read_each_tier_from_its_index(conn: AsyncConnection, kind: Kind) -> None:
    statement = s.due_statement(kind, dialects.of(conn))
    params = {**RHYTHMS[kind].params(), "limit": 100}
    assert_tiers_indexed(await plan(conn, statement, params), conn, *TIER_INDEXES[kind])


async def test_the_active_corporations_are_counted_from_their_indexes(conn: AsyncConnection) -> None:
    lines = await plan(conn, s.active_statement(dialects.of(conn)), RHYTHMS["corporation"].params())
    assert_tiers_indexed(lines, conn, "corporations_member_check", "corporations_seen_on_kill",
                         members_whole=True)
