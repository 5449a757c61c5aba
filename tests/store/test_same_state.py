"""One job history played on PostgreSQL and on SQLite leaves the same rows in every table.

The contract tests check answers; this checks what the answers do not show (a column one store
writes and the other forgets, a value stored with another type). Times the test hands in are
compared exactly; times the database's clock sets (queued_at, observed_at, ...) only for presence.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from killreport.changes import Change
from killreport.domain.killmail import Rejected
from killreport.domain.models import AllianceHistoryRecord, CorporationHistoryRecord
from killreport.store import tables as t
from killreport.store.facts import CacheFacts, Revalidated
from killreport.store.interface import Store
from tests.kills import kill, zkb
from tests.store.test_jobs_contract import HOUR, alliance, at, character, corporation, facts

# Set by the database's clock: equal on both stores only in being there or not.
_CLOCK_COLUMNS = frozenset({"queued_at", "claimed_until", "failed_at", "deleted_seen_at", "observed_at",
                            "minute", "started_at", "heartbeat_at", "at", "stored_at", "rejected_at",
                            "updated_at", "head_seen_at", "last_error_at", "declared_at", "filled_at",
                            "finished_at", "paused_until", "taken_at"})


async def _history(store: Store, times: dict[str, Any]) -> None:
    detail, members, old = times["detail"], times["members"], times["old"]
    async with store.autocommit() as conn:
        j = store.jobs
        await j.add(conn, "alliance", [99000001, 99000002], skip_fresh=True)
        assert await j.claim_and_read(conn, "alliance", 99000001, HOUR) is not None
        await j.store_and_finish(conn, 99000001, alliance(), detail, ("corporation", [98000001, 98000002]),
                                 [Change("alliance", 99000001, "name", "Old", "Alpha")])
        joined = Change("alliance", 99000001, "corporations", [98000001], [98000001, 98000002])
        await j.replace_members(conn, 99000001, [98000001, 98000002], members, [joined])
        await j.revalidate(conn, "alliance", 99000001, times["checked"], prefix=t.MEMBERS_PREFIX)
        await j.store(conn, 98000001, corporation(), old)
        await j.defer(conn, "corporation", 98000001, times["deferred"])
        await j.store(conn, 90000001, character(), detail)
        await j.tombstone(conn, 90000001, "404", [Change("character", 90000001, "deleted", False, True)])
        await j.record_failure(conn, "corporation", 98000002, status=404, reason="gone", attempts=2,
                               permanent=True)
        assert await j.claim_and_read(conn, "corporation", 98000002, HOUR) is not None
        await j.release(conn, "corporation", 98000002, attempts=3, hold_until=times["deferred"])
        await j.finish(conn, "alliance", 99000002)
        await j.mark_published(conn, "corporation", [98000001])
        await j.put_ids(conn, "/alliances/", [99000002, 99000001], detail)
        await store.admin.add_request_counts(conn, {("/alliances/{id}/", 200): 2, ("/alliances/", 304): 1})
        assert await store.history.take_snapshots(conn, dt.date(2026, 12, 1)) == 2
    await _histories(store, times)
    await _kills(store)


async def _histories(store: Store, times: dict[str, Any]) -> None:
    """A character's and a corporation's history fetched (one of them revalidated after)."""
    employment = [
        CorporationHistoryRecord(record_id=2, start_date="2020-02-01T00:00:00Z", corporation_id=98000001),
        CorporationHistoryRecord(record_id=1, start_date="2019-01-01T00:00:00Z", corporation_id=1000125,
                                 is_deleted=True)]
    membership = [AllianceHistoryRecord(record_id=2, start_date="2021-03-01T10:00:00Z"),
                  AllianceHistoryRecord(record_id=1, start_date="2020-01-01T00:00:00Z", alliance_id=99000001)]
    async with store.begin() as conn:
        await store.jobs.store_history(conn, "character", 90000001, employment, times["detail"])
        await store.jobs.store_history(conn, "corporation", 98000001, membership, times["members"])
        await store.jobs.revalidate_history(conn, "corporation", 98000001, times["checked"])


async def _kills(store: Store) -> None:
    """Kills from the feed and a back-fill, a refused package, a hole, the pace, a back-fill day."""
    victim = {"character_id": 90000003, "corporation_id": 98000001, "alliance_id": 99000001}
    rejected = Rejected(sequence_id=12, killmail_id=7, hash="x", reason="bad", body=b"{")
    async with store.begin() as conn:
        k = store.killmails
        await k.save(conn, [kill(5, victim, [{"corporation_id": 1_000_125}], sequence_id=11)], [rejected], 13)
        await k.save(conn, [kill(6, victim, [{"character_id": 90000001}], source="esi", with_zkb=False)])
        await k.refresh_zkb(conn, 5, zkb(5, total=3.5, labels=["x"], attacker_count=1), 11)
        await k.record_hole(conn, 13, 14)
        await k.note_head(conn, 20)
        await k.note_error(conn, "502")
        await k.pause_pace(conn, 2.5, 6.0)
        await k.backfill_day(conn, "20261201", listed=2, expected=2, finished=True)


def _plain(column: str, value: Any) -> Any:
    if column in _CLOCK_COLUMNS:
        return value is not None
    return value


async def _state(store: Store) -> dict[str, list[dict[str, Any]]]:
    state = {}
    async with store.connect() as conn:
        for name, table in sorted(t.metadata.tables.items()):
            rows = (await conn.execute(select(table).order_by(*table.primary_key.columns))).mappings()
            state[name] = [{c: (_plain(c, v), type(v)) for c, v in row.items()} for row in rows]
    return state


async def test_one_history_leaves_the_same_rows_on_both_stores(both_stores: tuple[Store, Store]) -> None:
    times = {"detail": facts(HOUR), "members": facts(2 * HOUR, '"m"'), "old": facts(-HOUR, None),
             "checked": Revalidated(at(0), at(3 * HOUR)), "deferred": at(600)}
    assert isinstance(times["detail"], CacheFacts) and isinstance(times["deferred"], dt.datetime)
    pg, lite = both_stores
    for store in both_stores:
        await _history(store, times)
    on_pg, on_sqlite = await _state(pg), await _state(lite)
    assert {name: len(rows) for name, rows in on_pg.items()} == {
        "alliance_corporations": 2, "alliances": 1, "changes": 3, "character_tombstones": 1, "characters": 1,
        "corporations": 1, "esi_request_log": 2, "http_cache": 1, "scheduler_lease": 0, "scheduler_marks": 0,
        "sync_failures": 1, "sync_pending": 3, "killmails": 2, "killmail_participants": 4,
        "killmail_rejected": 1, "killmail_feed": 1, "killmail_holes": 1, "killmail_backfill": 1,
        "r2z2_pace": 1, "entity_snapshots": 2, "corporation_history": 2, "alliance_history": 2,
        "employment_intervals": 2, "membership_intervals": 2}
    for name in on_pg:
        assert on_sqlite[name] == on_pg[name], name
