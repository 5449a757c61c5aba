"""Search's plans on both dialects: every part of its statements starts from an index made for it.

Each test EXPLAINs the very statements store/lookup.py runs (`search_statements`: exact matches and
names' starts, then any part), bound with the text typed, over thousands of alliances, corporations
and characters (tests/store/search_volume.py) after ANALYZE. On PostgreSQL sequential scans are
priced out (enable_seqscan off): at this size reading a table of a few thousand rows whole is
cheaper and the planner would rightly choose it, so a `Seq Scan` left in the plan means that no
index can serve that part, at any size. SQLite's planner has no such choice to make: an FTS5 match
always starts from its index.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.store import dialects, lookup
from tests.store.conftest import DIALECTS
from tests.store.plans import connected, plan, volumes
from tests.store.search_volume import fill

ENTITY_TABLES = ("alliances", "corporations", "characters")
# Texts as typed: one and two characters (names' starts and exact tickers only), a rare one, a name's
# start that is also inside other names, a common trigram, one with a space, LIKE's wildcards.
SHORT = ["k", "Ka"]
LONG = ["ZXQ", "Zentor", "tor", "ro k", "a%_b"]


@pytest.fixture(scope="module")
def volume_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A PostgreSQL database and a SQLite file holding the same many names, analysed (kept for the module)."""
    yield from volumes(tmp_path_factory, "search_plans", fill)


@pytest.fixture(params=DIALECTS)
async def conn(request: pytest.FixtureRequest, volume_urls: dict[str, str]) -> AsyncIterator[AsyncConnection]:
    """A connection to the many names, on each dialect (PostgreSQL's with sequential scans priced out)."""
    async with connected(volume_urls[request.param], off=("seqscan",)) as opened:
        yield opened


async def _plan(conn: AsyncConnection, text_: str) -> list[str]:
    statements = lookup.search_statements(dialects.of(conn), text_)
    assert len(statements) == (1 if len(text_) < lookup.SUBSTRING_MIN else 2)
    values = lookup.search_values(text_, offset=40, limit=20)
    return [line for statement in statements for line in await plan(conn, statement, values)]


def _whole_reads(lines: list[str], conn: AsyncConnection) -> list[str]:
    """The plan's lines that read an entity table whole."""
    if conn.dialect.name == "postgresql":
        return [line for line in lines if re.search(rf"Seq Scan on ({'|'.join(ENTITY_TABLES)})\b", line)]
    return [line for line in lines if re.match(rf"SCAN ({'|'.join(ENTITY_TABLES)})( |$)", line)]


@pytest.mark.parametrize("text_", SHORT + LONG)
async def test_no_part_reads_an_entity_table_whole(conn: AsyncConnection, text_: str) -> None:
    lines = await _plan(conn, text_)
    assert _whole_reads(lines, conn) == [], "\n".join(lines)
    for index in ("alliances_ticker_lower", "corporations_ticker_lower", "characters_name_lower"):
        assert index in "\n".join(lines), "\n".join(lines)


@pytest.mark.parametrize("text_", SHORT)
async def test_a_short_text_reads_the_name_and_ticker_btrees_only(conn: AsyncConnection, text_: str) -> None:
    shown = "\n".join(await _plan(conn, text_))
    assert "_trgm" not in shown and "_search" not in shown, shown


def _walks_in_order(lines: list[str], table: str) -> bool:
    """Whether the plan reads `table`'s name b-tree in order with the LIKE as a filter (no bound)."""
    return any(f"Index Scan using {table}_name_lower" in line and "Filter:" in after and "~~" in after
               for line, after in itertools.pairwise(lines))


@pytest.mark.parametrize("text_", LONG)
async def test_any_part_is_found_through_the_trigram_index(conn: AsyncConnection, text_: str) -> None:
    lines = await _plan(conn, text_)
    shown = "\n".join(lines)
    if conn.dialect.name == "postgresql":
        # Through the trigrams, or (for a common one, which the planner expects on many rows) by the
        # name's b-tree in the page's order, stopping at the page.
        for table in ENTITY_TABLES:
            assert f"{table}_name_trgm" in shown or _walks_in_order(lines, table), shown
        return
    for index in ("alliances_search", "corporations_search", "characters_search"):
        assert f"SCAN {index} VIRTUAL TABLE" in shown, shown
