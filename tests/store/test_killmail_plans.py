"""The killmail reads' plans on both dialects: each statement starts from an index, none reads a table whole.

Each test EXPLAINs the very statement store/killmail_reads.py runs (PostgreSQL's EXPLAIN, SQLite's
EXPLAIN QUERY PLAN), bound with the values it runs with (tests/store/plans.py, which the other
hot reads' plan tests share), on a database holding thousands of kills
(tests/store/killmail_volume.py) after ANALYZE: with a handful of rows a planner reads tables whole
whatever the indexes, so the plans are read where choosing matters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.ids import Kind
from killreport.store import dialects
from killreport.store import killmail_reads as reads
from tests.store.conftest import DIALECTS
from tests.store.killmail_volume import ALLIANCES, CORPORATIONS, FIRST_ID, KILLS, PILOTS, fill
from tests.store.plans import assert_indexed, connected, explain, plan, volumes

WHO: dict[Kind, tuple[int, str]] = {
    "character": (PILOTS[7], "killmail_participants_character_id"),
    "corporation": (CORPORATIONS[7], "killmail_participants_corporation_id"),
    "alliance": (ALLIANCES[1], "killmail_participants_alliance_id"),
}
MIDDLE = FIRST_ID + KILLS // 2
PAGE_IDS = [FIRST_ID + 5, FIRST_ID + 77, FIRST_ID + 2000]


@pytest.fixture(scope="module")
def volume_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A PostgreSQL database and a SQLite file holding the same many kills, analysed (kept for the module)."""
    yield from volumes(tmp_path_factory, "plans", fill)


@pytest.fixture(params=DIALECTS)
async def conn(request: pytest.FixtureRequest, volume_urls: dict[str, str]) -> AsyncIterator[AsyncConnection]:
    """A connection to the many kills, on each dialect."""
    async with connected(volume_urls[request.param]) as opened:
        yield opened


async def test_a_kill_is_read_by_its_key(conn: AsyncConnection) -> None:
    idioms = dialects.of(conn)
    assert_indexed(await plan(conn, reads.kill_statement(MIDDLE)), conn, "killmails_pkey")
    participants = await plan(conn, reads.participants_statement(idioms), {"ids": idioms.id_list([MIDDLE])})
    assert_indexed(participants, conn, "killmail_participants_pkey")


async def test_the_export_reads_the_key_from_after(conn: AsyncConnection) -> None:
    assert_indexed(await plan(conn, reads.export_statement(MIDDLE, 100)), conn, "killmails_pkey")


@pytest.mark.parametrize("kind", list(WHO))
@pytest.mark.parametrize("victim", [False, True], ids=["attacker", "victim"])
async def test_the_filtered_export_reads_the_entity_index(conn: AsyncConnection, kind: Kind,
                                                          victim: bool) -> None:
    entity_id, index = WHO[kind]
    lines = await plan(conn, reads.export_ids_statement(FIRST_ID, 100, kind, entity_id, victim))
    assert_indexed(lines, conn, index)


async def test_the_filtered_export_reads_its_kills_and_participants_by_key(conn: AsyncConnection) -> None:
    idioms = dialects.of(conn)
    bound = {"ids": idioms.id_list(PAGE_IDS)}
    assert_indexed(await plan(conn, reads.listed_statement(idioms), bound), conn, "killmails_pkey")
    assert_indexed(await plan(conn, reads.participants_statement(idioms), bound), conn,
                   "killmail_participants_pkey")


@pytest.mark.parametrize("kind", list(WHO))
@pytest.mark.parametrize("losses", [False, True], ids=["kills", "losses"])
@pytest.mark.parametrize("before", [None, MIDDLE], ids=["newest", "older"])
async def test_kills_and_losses_read_the_entity_index_then_keys(conn: AsyncConnection, kind: Kind,
                                                                 losses: bool, before: int | None) -> None:
    entity_id, index = WHO[kind]
    page = reads.involving_ids(kind, entity_id, losses=losses, before=before, limit=50)
    lines = await plan(conn, reads.summary_statement(page))
    assert_indexed(lines, conn, index, "killmails_pkey", "killmail_participants_pkey")


async def test_recent_kills_read_the_key_backward_and_stop_at_the_limit(conn: AsyncConnection) -> None:
    page = reads.recent_ids(50)
    if conn.dialect.name == "postgresql":
        lines = await plan(conn, reads.summary_statement(page))
        assert_indexed(lines, conn, "killmails_pkey", "killmail_participants_pkey")
        assert any("Index Only Scan Backward using killmails_pkey" in line for line in lines), lines
        return
    # SQLite names the walk of a rowid table's own b-tree SCAN even when ORDER BY rowid DESC LIMIT
    # stops it after the page: its plan shows no sort of the page, and its program starts at the
    # last row (Last), steps backward (Prev) and counts the limit down (DecrJumpZero).
    walk = await plan(conn, select(page))
    assert "SCAN killmails" in walk and not any("TEMP B-TREE" in line for line in walk), walk
    opcodes = [str(row[1]) for row in await explain(conn, "EXPLAIN", select(page))]
    assert {"Last", "Prev", "DecrJumpZero"} <= set(opcodes) and "Next" not in opcodes, opcodes
    rest = await plan(conn, reads.summary_statement(page))
    assert_indexed([line for line in rest if line != "SCAN killmails"], conn, "killmails_pkey",
                   "killmail_participants_pkey")
