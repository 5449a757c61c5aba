"""The hot reads' plans on both dialects: each statement starts from an index, none reads a table whole.

The affiliation sweep's pages, the pending set, `status`, `changes`, and the web's entity pages and
their API: each test EXPLAINs the very statement the store runs, bound with the values it runs
with (tests/store/plans.py), on a database holding a busy copy (tests/store/entity_volume.py) after
ANALYZE. PostgreSQL plans with sequential scans, hash joins and merge joins off: at these sizes it
would rightly read a thousand-row table whole (or hash all of it) rather than probe it a thousand
times, so the question asked is whether an index can serve the statement at all, which is what
keeps it cheap at twenty million rows; an index walked whole still fails (tests/store/plans.py). The
killmail reads have their own tests (test_killmail_plans.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.ids import Kind
from killreport.store import changes, dialects, histories, lookup, pending, schedule, snapshots
from killreport.store import tables as t
from killreport.store.admin import counts_statement
from tests.store.conftest import DIALECTS
from tests.store.entity_volume import ALLIANCES, CHARACTERS, CORPORATIONS, NOW, fill
from tests.store.plans import assert_indexed, assert_walks, connected, plan, uses, volumes, whole_reads

ALLIANCE, CORPORATION, CHARACTER = ALLIANCES[1], CORPORATIONS[1], CHARACTERS[1]
BATCH = [*CHARACTERS[5_000:6_000]]
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def volume_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A PostgreSQL database and a SQLite file holding the same busy copy, analysed (kept for the module)."""
    yield from volumes(tmp_path_factory, "read_plans", fill)


@pytest.fixture(params=DIALECTS)
async def conn(request: pytest.FixtureRequest, volume_urls: dict[str, str]) -> AsyncIterator[AsyncConnection]:
    """A connection to the busy copy, on each dialect (PostgreSQL's with sequential scans off)."""
    async with connected(volume_urls[request.param], off=("seqscan", "hashjoin", "mergejoin")) as opened:
        yield opened


def _on(conn: AsyncConnection, postgresql: str, sqlite: str | None = None) -> str:
    """An index's name on the connection's dialect (SQLite names some differently, or reads the key)."""
    return postgresql if conn.dialect.name == "postgresql" or sqlite is None else sqlite


# ---- the affiliation sweep ----------------------------------------------------------------------

@pytest.mark.parametrize("after", [0, CHARACTERS[20_000]], ids=["first", "later"])
async def test_a_sweep_page_is_a_range_of_the_key(conn: AsyncConnection, after: int) -> None:
    lines = await plan(conn, schedule.SWEEP_IDS, {"after": after, "limit": 1000})
    assert_indexed(lines, conn, "characters_pkey", "character_tombstones_pkey")
    if conn.dialect.name == "sqlite":
        assert any("SEARCH characters USING INTEGER PRIMARY KEY (rowid>?)" in line for line in lines), lines
    else:
        assert any("Index Cond: (id > " in line for line in lines), lines


async def test_a_sweep_call_reads_and_moves_its_characters_by_key(conn: AsyncConnection) -> None:
    sql = dialects.of(conn)
    ids = {"ids": sql.id_list(BATCH)}
    assert_indexed(await plan(conn, schedule.affiliations_statement(sql), ids), conn, "characters_pkey")
    moves = [{"id": i, "old_corporation_id": 1, "old_alliance_id": None, "corporation_id": 2,
              "alliance_id": None} for i in BATCH[:50]]
    assert_indexed(await plan(conn, schedule.move_statement(sql), {"moves": sql.record_list(moves)}), conn,
                   "characters_pkey")
    seen = {"seen": sql.record_list([{"id": c, "alliance_id": None} for c in CORPORATIONS[:20]])}
    assert_indexed(await plan(conn, schedule.corporations_moved_statement(sql), seen), conn,
                   "corporations_pkey")


@pytest.mark.parametrize("kind", ["alliance", "corporation"])
async def test_what_a_sweep_found_missing_is_looked_up_by_key(conn: AsyncConnection, kind: Kind) -> None:
    sql = dialects.of(conn)
    wanted = {"ids": sql.id_list([CORPORATION, ALLIANCE, 5])}
    assert_indexed(await plan(conn, schedule.missing_statement(kind, sql), wanted), conn, f"{kind}s_pkey")


# ---- the pending set ----------------------------------------------------------------------------

async def test_a_claim_and_its_end_use_the_pending_key(conn: AsyncConnection) -> None:
    sql = dialects.of(conn)
    one = {"kind": "character", "id": CHARACTER, "row_id": CHARACTER, "of_kind": "character"}
    for statement, params in ((pending.claim_statement(sql), {**one, "ttl": 30.0}),
                              (pending.release_statement(), {**one, "hold": None, "tries": 1}),
                              (pending.done_statement(t.sync_pending), one),
                              (pending.done_statement(t.sync_failures), one)):
        lines = await plan(conn, statement, params)
        assert whole_reads(lines, conn) == [], lines


@pytest.mark.parametrize("skip", ["fresh", "held", "nothing"])
async def test_adding_ids_probes_each_by_key(conn: AsyncConnection, skip: str) -> None:
    sql = dialects.of(conn)
    statement = pending.add_statement("character", skip_fresh=skip == "fresh", published=True, sql=sql,
                                      skip_held=skip == "held")
    lines = await plan(conn, statement, {"add_ids": sql.id_list(BATCH)})
    # A fresh row is found by key or, while few are fresh, by the range of characters_expires_at.
    expected = {"fresh": [], "held": ["characters_pkey", "sync_failures_pkey"], "nothing": []}[skip]
    assert_indexed(lines, conn, "character_tombstones_pkey", *expected)


async def test_among_and_mark_published_use_the_pending_key(conn: AsyncConnection) -> None:
    sql = dialects.of(conn)
    ids = {"kind": "character", "of_kind": "character", "ids": sql.id_list(BATCH)}
    assert_indexed(await plan(conn, pending.among_statement(sql), ids), conn, "sync_pending_pkey")
    assert_indexed(await plan(conn, pending.mark_published_statement(sql), ids), conn, "sync_pending_pkey")


async def test_the_janitor_reads_only_unpublished_rows_oldest_first(conn: AsyncConnection) -> None:
    sql = dialects.of(conn)
    params = {"kind": "character", "age": 30.0, "limit": 10_000}
    lines = await plan(conn, pending.unpublished_statement(False, sql), params)
    assert_indexed(lines, conn, "sync_pending_unpublished")
    among = await plan(conn, pending.unpublished_statement(True, sql), {**params, "ids": sql.id_list(BATCH)})
    assert whole_reads(among, conn) == [], among


async def test_pending_counts_read_only_the_pending_set(conn: AsyncConnection) -> None:
    # The one read here whose cost follows a table's size: it counts the work outstanding (not the
    # copy), and a counter kept in step would be one row every job's commit waits for.
    lines = await plan(conn, pending.counts_statement(dialects.of(conn)), {})
    shown = "\n".join(lines)
    assert "sync_pending" in shown, shown
    assert not any(name in shown for name in ("characters", "corporations", "alliances")), shown


# ---- status -------------------------------------------------------------------------------------

async def test_status_counts_big_tables_without_reading_them(conn: AsyncConnection) -> None:
    lines = await plan(conn, counts_statement(dialects.of(conn)), {"exact_below": 100_000})
    shown = "\n".join(lines)
    if conn.dialect.name == "postgresql":
        # Tables past the threshold are taken from pg_class's estimate; the count of each is only
        # run when the estimate says the table is small.
        assert "pg_class" in shown, shown
    for table in ("alliances", "corporations", "characters", "character_tombstones", "sync_failures"):
        assert table in shown, shown


# ---- changes ------------------------------------------------------------------------------------

CHANGE_FILTERS: dict[str, dict[str, Any]] = {
    "all": {},
    "since": {"since": NOW - DAY},
    "kind": {"kind": "alliance"},
    "kind since": {"kind": "corporation", "since": NOW - DAY},
    "entity": {"kind": "character", "entity_id": CHARACTER},
    "id alone": {"entity_id": CORPORATION},
}
# The index each filter's changes are read from, in the order asked (a kind's: its own, or the
# time's walked until the page is full, whichever the planner prices lower; both stop at the limit).
CHANGE_INDEXES: dict[str, tuple[str, ...]] = {
    "all": ("changes_observed_at",), "since": ("changes_observed_at", "changes_kind"),
    "kind": ("changes_kind", "changes_observed_at"), "kind since": ("changes_kind", "changes_observed_at"),
    "entity": ("changes_entity",), "id alone": ("changes_entity",)}


async def _assert_change_plan(conn: AsyncConnection, statement: Select[Any], filters: str) -> None:
    lines = await plan(conn, statement)
    index = next((i for i in CHANGE_INDEXES[filters] if uses(lines, conn, i)), None)
    assert index is not None, lines
    if filters in ("all", "kind"):  # nothing bounds them but the limit: a walk that stops there
        assert_walks(lines, conn, index)
    else:  # a range of a time or of one entity, its few rows sorted if the index has not their order
        assert_indexed(lines, conn, index)


@pytest.mark.parametrize("filters", list(CHANGE_FILTERS))
async def test_the_change_log_reads_an_index_in_its_order(conn: AsyncConnection, filters: str) -> None:
    given = CHANGE_FILTERS[filters]
    await _assert_change_plan(conn, changes.recent_statement(limit=100, **given), filters)
    await _assert_change_plan(conn, lookup.changes_page_statement(**given).offset(200).limit(101), filters)


@pytest.mark.parametrize("filters", ["all", "kind", "entity"])
async def test_the_latest_changes_of_a_page_read_an_index_in_its_order(conn: AsyncConnection,
                                                                       filters: str) -> None:
    given = CHANGE_FILTERS[filters]
    statement = lookup.latest_changes_statement(given.get("kind"), given.get("entity_id"), 20)
    await _assert_change_plan(conn, statement, filters)


# ---- the web's entity pages and their API -------------------------------------------------------

async def test_an_entity_and_its_counts_are_read_by_key(conn: AsyncConnection) -> None:
    assert_indexed(await plan(conn, lookup.alliance_statement(ALLIANCE)), conn, "alliances_pkey",
                   "alliance_corporations_pkey", "corporations_pkey")
    assert_indexed(await plan(conn, lookup.corporation_statement(CORPORATION)), conn, "corporations_pkey",
                   "characters_corporation_id")
    assert_indexed(await plan(conn, lookup.character_statement(CHARACTER)), conn, "characters_pkey",
                   "character_tombstones_pkey")
    wanted: list[tuple[Kind, int]] = [("alliance", ALLIANCE), ("corporation", CORPORATION),
                                      *(("character", i) for i in BATCH[:40])]
    statement = lookup.names_statement(wanted)
    assert statement is not None
    assert_indexed(await plan(conn, statement), conn, "alliances_pkey", "corporations_pkey",
                   "characters_pkey")


@pytest.mark.parametrize("by_size", [False, True], ids=["by id", "by size"])
async def test_an_alliances_members_are_a_range_of_its_key(conn: AsyncConnection, by_size: bool) -> None:
    lines = await plan(conn, lookup.members_statement(ALLIANCE, by_size=by_size).offset(50).limit(51))
    assert_indexed(lines, conn, "alliance_corporations_pkey", "corporations_pkey")
    assert_indexed(await plan(conn, lookup.members_count_statement(ALLIANCE)), conn,
                   "alliance_corporations_pkey")


async def test_a_corporations_characters_are_a_range_of_their_index(conn: AsyncConnection) -> None:
    lines = await plan(conn, lookup.characters_statement(CORPORATION).offset(0).limit(101))
    assert_indexed(lines, conn, "characters_corporation_id", "character_tombstones_pkey")
    assert_indexed(await plan(conn, lookup.characters_count_statement(CORPORATION)), conn,
                   "characters_corporation_id")


async def test_histories_are_read_by_their_owners_key(conn: AsyncConnection) -> None:
    params = {"id": CHARACTER, "at": NOW - 30 * DAY}
    assert_indexed(await plan(conn, histories.CHARACTER_HISTORY, params), conn, "employment_intervals_pkey")
    assert_indexed(await plan(conn, histories.CORPORATION_HISTORY, {**params, "id": CORPORATION}), conn,
                   "membership_intervals_pkey")
    assert_indexed(await plan(conn, histories.WHERE_AT, params), conn, "employment_intervals_pkey",
                   "membership_intervals_pkey")


@pytest.mark.parametrize("kind", ["alliance", "corporation"])
async def test_members_at_a_time_are_a_range_of_the_holders_index(conn: AsyncConnection, kind: Kind) -> None:
    # By start (began before), or by end (still there, or left after): the planner picks the narrower.
    table = "membership_intervals" if kind == "alliance" else "employment_intervals"
    statement, holder = ((histories.ALLIANCE_MEMBERS_AT, ALLIANCE) if kind == "alliance"
                         else (histories.CORPORATION_MEMBERS_AT, CORPORATION))
    lines = await plan(conn, statement, {"id": holder, "at": NOW - 30 * DAY})
    assert whole_reads(lines, conn) == [], lines
    assert uses(lines, conn, f"{table}_start") or uses(lines, conn, f"{table}_end"), lines


@pytest.mark.parametrize("kind", ["alliance", "corporation"])
async def test_joined_and_left_are_two_ranges_of_the_holders_indexes(conn: AsyncConnection,
                                                                     kind: Kind) -> None:
    table = "membership_intervals" if kind == "alliance" else "employment_intervals"
    holder = ALLIANCE if kind == "alliance" else CORPORATION
    params = {"id": holder, "since": NOW - 400 * DAY, "until": NOW}
    assert_indexed(await plan(conn, histories.feed_statement(kind), params), conn, f"{table}_start",
                   f"{table}_end")


@pytest.mark.parametrize("kind", ["alliance", "corporation"])
async def test_a_trend_is_a_range_of_the_snapshots_key(conn: AsyncConnection, kind: Kind) -> None:
    params = {"kind": kind, "id": ALLIANCE if kind == "alliance" else CORPORATION,
              "since": (NOW - 120 * DAY).date(), "until": NOW.date()}
    lines = await plan(conn, snapshots.rows_statement(), params)
    assert_indexed(lines, conn, "entity_snapshots_pkey")
    if conn.dialect.name == "sqlite":
        assert any("entity_id=? AND day>? AND day<?" in line for line in lines), lines
