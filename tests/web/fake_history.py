"""A small HistoryQueries for the web's tests: intervals held in memory, every question a naive scan;
and a past for fill.scenario's entities, relative to when the tests started.

Snapshots and trends are the real store's (store/snapshots.py on the test's connection); the
interval questions follow the protocol's contract (store/interface.py) over the stints given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.ids import Kind
from killreport.store import snapshots
from killreport.store.lookup import Row


@dataclass(frozen=True)
class Stint:
    """`member` (a character or corporation) in `holder` (a corporation, an alliance or None) over
    [start, end); end None while it lasts."""

    member: int
    holder: int | None
    start: dt.datetime
    end: dt.datetime | None = None

    def covers(self, at: dt.datetime) -> bool:
        """Whether the stint lasts at `at`."""
        return self.start <= at and (self.end is None or at < self.end)


class FakeHistory:
    """HistoryQueries over employment (character in corporation) and membership (corporation in
    alliance) stints."""

    def __init__(self, employment: Sequence[Stint], membership: Sequence[Stint]) -> None:
        self.employment = list(employment)
        self.membership = list(membership)

    @staticmethod
    def _newest_first(stints: list[Stint], member: int) -> list[Stint]:
        return sorted((s for s in stints if s.member == member), key=lambda s: s.start, reverse=True)

    async def character_history(self, conn: AsyncConnection, character_id: int) -> list[Row]:
        """A character's employment, newest first."""
        stints = self._newest_first(self.employment, character_id)
        return [{"corporation_id": s.holder, "start": s.start, "end": s.end, "record_id": len(stints) - n}
                for n, s in enumerate(stints)]

    async def corporation_history(self, conn: AsyncConnection, corporation_id: int) -> list[Row]:
        """A corporation's alliances, newest first."""
        return [{"alliance_id": s.holder, "start": s.start, "end": s.end}
                for s in self._newest_first(self.membership, corporation_id)]

    async def where_at(self, conn: AsyncConnection, character_id: int, at: dt.datetime) -> Row | None:
        """Where a character was at `at`."""
        job = next((s for s in self.employment if s.member == character_id and s.covers(at)), None)
        if job is None:
            return None
        alliance = next((s.holder for s in self.membership if s.member == job.holder and s.covers(at)), None)
        return {"corporation_id": job.holder, "alliance_id": alliance}

    async def alliance_members_at(self, conn: AsyncConnection, alliance_id: int,
                                  at: dt.datetime) -> list[int]:
        """The corporations in an alliance at `at`."""
        return sorted(s.member for s in self.membership if s.holder == alliance_id and s.covers(at))

    async def corporation_members_at(self, conn: AsyncConnection, corporation_id: int,
                                     at: dt.datetime) -> list[int]:
        """The characters in a corporation at `at`."""
        return sorted(s.member for s in self.employment if s.holder == corporation_id and s.covers(at))

    async def joined_left(self, conn: AsyncConnection, kind: Kind, entity_id: int, *, since: dt.datetime,
                          until: dt.datetime) -> list[Row]:
        """Who joined and left in [since, until), oldest first."""
        stints = self.membership if kind == "alliance" else self.employment
        events = [(when, s.member, event) for s in stints if s.holder == entity_id
                  for when, event in ((s.start, "joined"), (s.end, "left"))
                  if when is not None and since <= when < until]
        return [{"member_id": member, "event": event, "at": when} for when, member, event in sorted(events)]

    async def take_snapshots(self, conn: AsyncConnection, day: dt.date) -> int:
        """The store's own."""
        return await snapshots.take_snapshots(conn, day)

    async def trend(self, conn: AsyncConnection, kind: Kind, entity_id: int, *, days: int) -> list[Row]:
        """The store's own."""
        return await snapshots.trend(conn, kind, entity_id, days=days)


NOW: Final = dt.datetime.now(dt.UTC).replace(microsecond=0)
GOONS, TEST = 99000001, 99000002
GEWNS, KFLT, PCORP, GONE = 98000001, 98000002, 98000003, 98000777  # GONE: not in the copy
MITTANI, VILE_RAT = 90000001, 90000002


def ago(days: float) -> dt.datetime:
    """`days` before the test's now."""
    return NOW - dt.timedelta(days=days)


def utc(year: int, month: int = 1, day: int = 1) -> dt.datetime:
    """A day's start, UTC."""
    return dt.datetime(year, month, day, tzinfo=dt.UTC)


MEMBERSHIP: Final = [
    Stint(GEWNS, None, utc(2011), utc(2016)), Stint(GEWNS, GOONS, utc(2016)),
    Stint(KFLT, GOONS, utc(2019), ago(10)), Stint(KFLT, None, ago(10)),
    Stint(PCORP, TEST, utc(2020), ago(5)), Stint(PCORP, GOONS, ago(5)),
    Stint(GONE, GOONS, utc(2017), utc(2018))]
EMPLOYMENT: Final = [
    Stint(MITTANI, GONE, utc(2012, 5), utc(2015)), Stint(MITTANI, KFLT, utc(2015), ago(3)),
    Stint(MITTANI, GEWNS, ago(3)), Stint(VILE_RAT, GEWNS, utc(2014))]


def past() -> FakeHistory:
    """The fake over this module's stints."""
    return FakeHistory(EMPLOYMENT, MEMBERSHIP)
