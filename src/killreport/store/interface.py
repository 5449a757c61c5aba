"""The Store seam: every question killreport asks a database, one interface, two implementations.

`Store` is an engine plus four groups of queries, each a Protocol that a module satisfies (mypy
checks a module against a Protocol): the modules in `store/` (postgres.py names them; jobs.py
answers on both dialects) and the SQLite ones in `store/sqlite/`. Queries take an open connection,
so a caller that needs several in one transaction (the scheduler's list and sweep) opens it
(`store.begin()`) and passes it along; nothing outside `store/` writes SQL.

    JobQueries       a job's life: claim and read, store, revalidate, defer, tombstone, fail,
                     release, finish, the pending set, list caches, references
    ScheduleQueries  what the scheduler reads and writes (due entities, the alliance list, sweeps)
    LookupQueries    the web's read-only records, lists, search and changes
    AdminQueries     counts, freshness, request counts, recorded changes, the budget snapshot
    KillmailQueries  killmails (store/killmails.py, both dialects): the feed's writes, its cursor,
                     holes and state, the back-fill's days, R2Z2's shared pace, and the reads
    HistoryQueries   the past (store/histories.py, both dialects): fetched histories as intervals,
                     point-in-time answers, joined/left feeds, daily snapshots and their trends

Times: both stores decide with the database's clock (PostgreSQL's now()/clock_timestamp(); SQLite
has one clock, the machine's, since only processes on this machine open the file).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, TypeAlias

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# Annotations only: the store's modules and their callers import this seam, so it imports none of
# them at run time (no cycles, whatever imports it first).
if TYPE_CHECKING:
    from killreport.changes import Change
    from killreport.domain.budget import BudgetSnapshot
    from killreport.domain.budget_rules import Rules
    from killreport.domain.killmail import Kill, Rejected, Zkb
    from killreport.domain.models import Entity
    from killreport.domain.routes import RouteStatus
    from killreport.domain.schedule import Affiliated, Move, Rhythm, StoredAlliance
    from killreport.ids import Kind
    from killreport.store.changes import Observed
    from killreport.store.entities import Stored
    from killreport.store.facts import CacheFacts, Revalidated
    from killreport.store.freshness import Freshness
    from killreport.store.history_rows import Record as HistoryRecord
    from killreport.store.killmails import BackfillDay, FeedState, Pace
    from killreport.store.lookup import Page, Row
    from killreport.store.schedule import Leader, ListCache, SweepMarks

Dialect = Literal["postgresql", "sqlite"]
Children: TypeAlias = "tuple[Kind, Iterable[int]] | None"


class JobQueries(Protocol):
    """A job's statements (store/jobs.py, both dialects, over entities.py, pending.py, http_cache.py)."""

    async def claim_and_read(self, conn: AsyncConnection, kind: Kind, entity_id: int,
                             ttl_s: float) -> Stored | None:
        """Claim the entity for `ttl_s` and read what is stored; None if another claim holds it."""
        ...

    async def store(self, conn: AsyncConnection, entity_id: int, entity: Entity, facts: CacheFacts,
                    noted: Sequence[Change] = ()) -> None:
        """Upsert the entity's row and append `noted` changes, atomically."""
        ...

    async def store_and_finish(self, conn: AsyncConnection, entity_id: int, entity: Entity,
                               facts: CacheFacts, children: Children = None,
                               noted: Sequence[Change] = ()) -> list[int]:
        """`store`, add the children to the pending set (as published), finish: atomically.

        Returns the children this call added."""
        ...

    async def revalidate(self, conn: AsyncConnection, kind: Kind, entity_id: int, checked: Revalidated,
                         prefix: str = "") -> None:
        """A 304 (with `members_`: for an alliance's member list): move Expires and checked time."""
        ...

    async def store_history(self, conn: AsyncConnection, kind: Kind, entity_id: int,
                            records: Sequence[HistoryRecord], facts: CacheFacts) -> None:
        """Replace a character's or corporation's history and its intervals, with its cache facts, no
        longer wanted (inside the caller's transaction; HistoryError before anything is written)."""
        ...

    async def revalidate_history(self, conn: AsyncConnection, kind: Kind, entity_id: int,
                                 checked: Revalidated) -> None:
        """A 304 for a history: move its Expires and checked time; no longer wanted."""
        ...

    async def revalidate_and_finish(self, conn: AsyncConnection, kind: Kind, entity_id: int,
                                    checked: Revalidated, children: Children = None) -> list[int]:
        """`revalidate`, add the children (as published), finish, atomically; returns those added."""
        ...

    async def defer(self, conn: AsyncConnection, kind: Kind, entity_id: int, until: dt.datetime,
                    prefix: str = "") -> None:
        """Not before `until` (an unusable answer's Expires); the copy is untouched."""
        ...

    async def replace_members(self, conn: AsyncConnection, alliance_id: int, members: Iterable[int],
                              facts: CacheFacts, noted: Sequence[Change] = ()) -> None:
        """Store an alliance's member list, its cache facts and its changes, atomically."""
        ...

    async def tombstone(self, conn: AsyncConnection, character_id: int, reason: str,
                        noted: Sequence[Change] = ()) -> None:
        """Record a character as deleted (its row stays), with its changes."""
        ...

    async def record_failure(self, conn: AsyncConnection, kind: Kind, entity_id: int, *,
                             status: int | None, reason: str, attempts: int, permanent: bool) -> None:
        """Record why an entity could not be stored (the latest failure wins)."""
        ...

    async def release(self, conn: AsyncConnection, kind: Kind, entity_id: int, attempts: int,
                      hold_until: dt.datetime | None = None) -> None:
        """Give the claim back (kept until `hold_until`, if given), remembering the attempts."""
        ...

    async def finish(self, conn: AsyncConnection, kind: Kind, entity_id: int, *,
                     stored: bool = False) -> None:
        """The entity is done: leave the pending set; `stored` clears its old failures."""
        ...

    async def add(self, conn: AsyncConnection, kind: Kind, ids: Iterable[int], *, skip_fresh: bool,
                  published: bool = False) -> list[int]:
        """Add ids not yet pending (skipping fresh ones if asked); return those newly added."""
        ...

    async def among(self, conn: AsyncConnection, kind: Kind, ids: Iterable[int]) -> list[int]:
        """Which of `ids` are pending."""
        ...

    async def unpublished(self, conn: AsyncConnection, kind: Kind, ids: Iterable[int] | None = None, *,
                          older_than_s: float = 0.0, limit: int = 10_000) -> list[int]:
        """Pending ids whose message was never confirmed (among `ids`, if given)."""
        ...

    async def mark_published(self, conn: AsyncConnection, kind: Kind, ids: Sequence[int]) -> None:
        """Record that the queue confirmed these messages."""
        ...

    async def forget_unclaimed(self, conn: AsyncConnection) -> int:
        """Drop pending rows nobody is working on (their messages were just purged)."""
        ...

    async def fresh_ids(self, conn: AsyncConnection, path: str) -> list[int] | None:
        """The cached id list of `path` while ESI says it is current, else None."""
        ...

    async def put_ids(self, conn: AsyncConnection, path: str, ids: list[int], facts: CacheFacts) -> None:
        """Store the id list of `path` with its cache facts."""
        ...

    def fetch_lock(self, engine: AsyncEngine, path: str) -> AbstractAsyncContextManager[None]:
        """While the block runs no other process fetches `path` (GET /alliances: the scheduler and
        `sync-all` both may); it waits for its turn first, and a killed holder's turn ends with it."""
        ...

    async def referenced_ids(self, conn: AsyncConnection, kind: Kind) -> list[int]:
        """Ids of `kind` that stored alliances and corporations name."""
        ...


class ScheduleQueries(Protocol):
    """The scheduler's statements (store/schedule.py, both dialects)."""

    async def leader(self, conn: AsyncConnection) -> Leader | None:
        """The last scheduler to lead, and whether one leads now."""
        ...

    async def try_lock(self, conn: AsyncConnection) -> bool:
        """Take the scheduler lock for this connection if nobody holds it."""
        ...

    async def unlock(self, conn: AsyncConnection) -> None:
        """Give the scheduler lock back."""
        ...

    async def claim_lease(self, conn: AsyncConnection, holder: str) -> None:
        """Write who leads now and since when."""
        ...

    async def heartbeat(self, conn: AsyncConnection, holder: str) -> bool:
        """Renew the lease; False if it is no longer this holder's."""
        ...

    async def drop_lease(self, conn: AsyncConnection, holder: str) -> None:
        """Remove the lease on a clean stop, if it is still this holder's."""
        ...

    async def tracked(self, conn: AsyncConnection, kind: Kind) -> int:
        """How many entities of `kind` the scheduler keeps fresh."""
        ...

    async def active_corporations(self, conn: AsyncConnection, kill_window_s: float) -> int:
        """How many corporations are alliance members or were named by a kill within `kill_window_s`."""
        ...

    async def due_count(self, conn: AsyncConnection, kind: Kind, rhythm: float | Rhythm, *,
                        history: bool = True) -> int:
        """How many entities of `kind` are due and not pending (a wanted history past its Expires
        counting as due unless `history` is False: HISTORY=false); a bare number is one minimum age
        for every row of the kind."""
        ...

    async def due_ids(self, conn: AsyncConnection, kind: Kind, rhythm: float | Rhythm, limit: int, *,
                      history: bool = True) -> list[int]:
        """Up to `limit` due, not pending entities of `kind`, oldest Expires first (`history`: as
        due_count's)."""
        ...

    async def alliance_list(self, conn: AsyncConnection, min_age_s: float) -> ListCache | None:
        """The stored alliance list, or None if it was never fetched."""
        ...

    async def touch_list(self, conn: AsyncConnection, expires_at: dt.datetime | None,
                         checked_at: dt.datetime) -> None:
        """A 304 for the list: current until `expires_at`."""
        ...

    async def hold_list(self, conn: AsyncConnection, expires_at: dt.datetime) -> None:
        """Do not ask for the list before `expires_at`."""
        ...

    async def stored_alliances(self, conn: AsyncConnection) -> dict[int, StoredAlliance]:
        """Every stored alliance, closed or not."""
        ...

    async def close_alliances(self, conn: AsyncConnection, ids: Iterable[int]) -> list[int]:
        """Mark open alliances closed now; returns those that were open."""
        ...

    async def reopen_alliances(self, conn: AsyncConnection, ids: Iterable[int]) -> list[int]:
        """Un-mark closed alliances; returns those that were closed."""
        ...

    async def missing(self, conn: AsyncConnection, kind: Kind, ids: Iterable[int]) -> list[int]:
        """Which of `ids` are not stored as `kind`."""
        ...

    async def sweep_marks(self, conn: AsyncConnection) -> SweepMarks:
        """The affiliation sweep's marks."""
        ...

    async def mark_sweep_started(self, conn: AsyncConnection) -> None:
        """A sweep starts now."""
        ...

    async def hold_sweep_until(self, conn: AsyncConnection, expires_at: dt.datetime) -> None:
        """No sweep before `expires_at` (the latest wins)."""
        ...

    async def sweep_ids(self, conn: AsyncConnection, *, after: int, limit: int) -> list[int]:
        """The first `limit` stored characters after id `after` not known deleted, by id."""
        ...

    async def affiliations(self, conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Affiliated]:
        """Where the copy says these characters are."""
        ...

    async def apply_moves(self, conn: AsyncConnection, moves: Sequence[Move]) -> set[int]:
        """Move characters whose row still says where `moves` found them; returns those moved. The
        histories the moves made stale are wanted again in the same transaction."""
        ...

    async def record_changes(self, conn: AsyncConnection, changes: Sequence[Change]) -> None:
        """Append changes observed now."""
        ...


class LookupQueries(Protocol):
    """The web's read-only queries (store/lookup.py, both dialects)."""

    async def alliance(self, conn: AsyncConnection, alliance_id: int) -> Row | None:
        """An alliance's row with its member count, or None."""
        ...

    async def corporation(self, conn: AsyncConnection, corporation_id: int) -> Row | None:
        """A corporation's row with its character count, or None."""
        ...

    async def character(self, conn: AsyncConnection, character_id: int) -> Row | None:
        """A character's row with when it was seen deleted, or None."""
        ...

    async def names(self, conn: AsyncConnection,
                    wanted: Iterable[tuple[Kind, int]]) -> dict[tuple[Kind, int], Row]:
        """Name (and ticker) of each (kind, id) the copy holds."""
        ...

    async def alliance_members(self, conn: AsyncConnection, alliance_id: int, *, offset: int, limit: int,
                               by_size: bool = False, count: bool = True) -> Page:
        """Member corporations, by id or biggest first."""
        ...

    async def corporation_characters(self, conn: AsyncConnection, corporation_id: int, *, offset: int,
                                     limit: int) -> Page:
        """The characters the copy places in a corporation, by id."""
        ...

    async def search(self, conn: AsyncConnection, query_text: str, *, offset: int, limit: int) -> Page:
        """Entities whose name or ticker contains the text (starts with it, if under three), any case."""
        ...

    async def changes_page(self, conn: AsyncConnection, *, since: dt.datetime | None = None,
                           kind: Kind | None = None, entity_id: int | None = None, offset: int,
                           limit: int) -> Page:
        """Recorded changes matching time, kind and entity, in recorded order."""
        ...

    async def latest_changes(self, conn: AsyncConnection, *, kind: Kind | None = None,
                             entity_id: int | None = None, limit: int) -> list[Row]:
        """The newest `limit` recorded changes, newest first."""
        ...

    async def request_rate(self, conn: AsyncConnection) -> Row:
        """ESI requests over the previous and the current minute."""
        ...


class AdminQueries(Protocol):
    """What `status`, `changes`, the metrics and the stats flush ask."""

    async def ping(self, conn: AsyncConnection) -> None:
        """Raise unless the database answers a trivial query."""
        ...

    async def schema_version(self, conn: AsyncConnection) -> str | None:
        """The migration revision the database is at; None when it has no killreport schema."""
        ...

    async def pending_counts(self, conn: AsyncConnection) -> dict[str, dict[str, int]]:
        """Per kind: pending in all, in flight, retrying."""
        ...

    async def entity_counts(self, conn: AsyncConnection, exact_below: int = ...) -> dict[str, int]:
        """Rows per table users care about (PostgreSQL's estimate for a table past `exact_below` rows)."""
        ...

    async def freshness(self, conn: AsyncConnection) -> dict[str, Freshness]:
        """Freshness of every kind that has anything stored."""
        ...

    async def add_request_counts(self, conn: AsyncConnection, counts: Mapping[RouteStatus, int]) -> None:
        """Add counts by (route, status) to this minute's rows."""
        ...

    async def request_totals(self, conn: AsyncConnection) -> dict[int, int]:
        """Every status counted so far."""
        ...

    async def recent_requests(self, conn: AsyncConnection, seconds: float) -> dict[RouteStatus, int]:
        """Counts by (route, status) over the last `seconds` (whole minutes)."""
        ...

    async def recent_changes(self, conn: AsyncConnection, *, since: dt.datetime | None = None,
                             kind: Kind | None = None, entity_id: int | None = None,
                             limit: int = 1000) -> list[Observed]:
        """The newest `limit` changes matching when, kind and entity, oldest first."""
        ...

    async def budget_snapshot(self, conn: AsyncConnection, rules: Rules,
                              now: float | None = None) -> BudgetSnapshot:
        """The shared ESI budget as `status` shows it, by `rules`, at `now` (None: the database's clock)."""
        ...


class KillmailQueries(Protocol):
    """Killmails and the feed (store/killmails.py, both dialects). Newest first is highest id first."""

    async def load_cursor(self, conn: AsyncConnection) -> int | None:
        """The next feed number to store, or None before the feed's first save."""
        ...

    async def save(self, conn: AsyncConnection, kills: Sequence[Kill], rejected: Sequence[Rejected] = (),
                   cursor: int | None = None) -> dict[Kind, list[int]]:
        """Keep the kills (one row per killmail id, with their participants: a known id only takes a
        zkb block it lacked or a newer one), keep the rejected packages aside, set the cursor if given,
        and add every character, corporation and alliance the kills name that the copy neither holds
        nor has pending (NPC and faction ids never) to the pending set, unpublished. Returns those
        added, by kind: the caller publishes them once this transaction commits."""
        ...

    async def refresh_zkb(self, conn: AsyncConnection, killmail_id: int, zkb: Zkb, sequence_id: int) -> bool:
        """Replace a stored kill's zkb block with a republication's; False if the kill is not held."""
        ...

    async def record_hole(self, conn: AsyncConnection, number: int, cursor: int) -> None:
        """Feed number `number` never came: remember it (to fill later) and set the cursor."""
        ...

    async def holes(self, conn: AsyncConnection, limit: int) -> list[int]:
        """Unfilled holes, oldest number first."""
        ...

    async def fill_hole(self, conn: AsyncConnection, number: int) -> None:
        """A hole's number answered after all (or a back-fill covered its day)."""
        ...

    async def note_head(self, conn: AsyncConnection, head: int) -> None:
        """The feed's head pointer as last read (for the lag `status` shows)."""
        ...

    async def note_error(self, conn: AsyncConnection, error: str | None) -> None:
        """The feed's last error (None: it answers again)."""
        ...

    async def feed_state(self, conn: AsyncConnection) -> FeedState:
        """Cursor, head, lag, holes, last error, who follows, kept aside and stored counts: `status`."""
        ...

    async def reserve_pace(self, conn: AsyncConnection, max_rps: int) -> float:
        """Take R2Z2's next request slot for this process (all processes share `max_rps` a second and
        any pause); returns the seconds to wait before sending, 0 when it may go now."""
        ...

    async def pause_pace(self, conn: AsyncConnection, retry_after_s: float | None, first_s: float) -> float:
        """R2Z2 refused (429, 403) or failed: every process pauses; returns the pause's length."""
        ...

    async def calm_pace(self, conn: AsyncConnection) -> None:
        """An answer that was not a refusal: the next pause starts small again."""
        ...

    async def pace(self, conn: AsyncConnection) -> Pace:
        """R2Z2's shared pace now (for `status`)."""
        ...

    async def held(self, conn: AsyncConnection, ids: Iterable[int]) -> set[int]:
        """Which of these killmail ids are stored."""
        ...

    async def try_follow_lock(self, conn: AsyncConnection) -> bool:
        """Take the feed follower's lock for this connection if nobody holds it (store/killmail_lease.py)."""
        ...

    async def follow_unlock(self, conn: AsyncConnection) -> None:
        """Give the feed follower's lock back."""
        ...

    async def follow_heartbeat(self, conn: AsyncConnection, holder: str) -> None:
        """Record `holder` as the follower, alive now (making the feed's row if there is none yet)."""
        ...

    async def follow_release(self, conn: AsyncConnection, holder: str) -> None:
        """On a clean stop: nobody follows, if the row still names `holder`."""
        ...

    async def backfill_day(self, conn: AsyncConnection, day: str, *, listed: int | None = None,
                           expected: int | None = None, finished: bool = False) -> BackfillDay:
        """Record a back-fill day's progress (what is given), count its stored kills; return the row."""
        ...

    async def restart_from_head(self, conn: AsyncConnection, cursor: int, days: list[str]) -> None:
        """The follower was away longer than the feed keeps its files: go on from `cursor` (past the
        head) and want `days` (YYYYMMDD) from the day files, finished ones again."""
        ...

    async def backfill_days(self, conn: AsyncConnection) -> list[BackfillDay]:
        """Every back-filled day, newest first."""
        ...

    async def killmail(self, conn: AsyncConnection, killmail_id: int) -> Row | None:
        """A kill in ESI's shape (absent optional fields left out, attackers in ESI's order, the
        victim's items whole, `killmail_time` as `2026-12-07T12:34:56Z`) plus `zkb` in R2Z2's shape
        (`locationID`, `hash`, `fittedValue`, ..., `attackerCount` when zkb sent it), or None for a
        kill no zkb block came with; None if the kill is not held."""
        ...

    async def export(self, conn: AsyncConnection, *, after: int, limit: int, kind: Kind | None = None,
                     entity_id: int | None = None) -> list[Row]:
        """Up to `limit` kills with ids above `after`, ascending, each in `killmail`'s shape; with
        `kind` and `entity_id` (both or neither, else ValueError) only those naming that entity as
        victim or attacker, each kill once."""
        ...

    async def involving(self, conn: AsyncConnection, kind: Kind, entity_id: int, *, losses: bool,
                        before: int | None, limit: int) -> list[Row]:
        """Up to `limit` kills (`losses`: deaths) of a character, corporation or alliance with ids
        below `before` (None: from the newest), newest first, as `recent`'s summary rows."""
        ...

    async def recent(self, conn: AsyncConnection, limit: int) -> list[Row]:
        """The newest `limit` kills, newest first, as summary rows: killmail_id, killmail_time (a
        datetime), solar_system_id, attacker_count, zkb's total_value, points, npc, solo, awox and
        labels (None without zkb), `victim` (character_id, corporation_id, alliance_id, ship_type_id)
        and `final_blow` (the same of the attacker ESI marks, or None)."""
        ...


class HistoryQueries(Protocol):
    """Who was where, and when (store/histories.py; snapshots: store/snapshots.py). Times are aware UTC.

    Intervals are rebuilt from each fetched history (domain/history.py's rules) and kept consistent
    with what sweeps and refreshes see; an interval's `end` is None while it lasts."""

    async def character_history(self, conn: AsyncConnection, character_id: int) -> list[Row]:
        """A character's employment, newest first: corporation_id, start, end (and record_id)."""
        ...

    async def corporation_history(self, conn: AsyncConnection, corporation_id: int) -> list[Row]:
        """A corporation's alliance membership, newest first: alliance_id (None: outside any), start, end."""
        ...

    async def where_at(self, conn: AsyncConnection, character_id: int, at: dt.datetime) -> Row | None:
        """Where a character was at `at`: corporation_id and that corporation's alliance_id then (None
        when the copy knows no history covering `at`)."""
        ...

    async def alliance_members_at(self, conn: AsyncConnection, alliance_id: int,
                                  at: dt.datetime) -> list[int]:
        """The corporations in an alliance at `at`, by id."""
        ...

    async def corporation_members_at(self, conn: AsyncConnection, corporation_id: int,
                                     at: dt.datetime) -> list[int]:
        """The characters the copy knows were in a corporation at `at`, by id."""
        ...

    async def joined_left(self, conn: AsyncConnection, kind: Kind, entity_id: int, *, since: dt.datetime,
                          until: dt.datetime) -> list[Row]:
        """Who joined and who left an alliance (corporations) or a corporation (characters) in
        [since, until): member_id, event ("joined" or "left"), at; oldest first."""
        ...

    async def take_snapshots(self, conn: AsyncConnection, day: dt.date) -> int:
        """One row per alliance and corporation for `day` (ESI's member counts, an alliance's the sum of
        its corporations'; its corporation count), unless that day's are taken: the rows written."""
        ...

    async def trend(self, conn: AsyncConnection, kind: Kind, entity_id: int, *, days: int) -> list[Row]:
        """An alliance's or corporation's snapshots of the last `days` days, oldest first: day,
        member_count, corporation_count, and delta_7 / delta_30 (None where the older day is missing)."""
        ...


class Connections(Protocol):
    """How a Store hands out its connections (each dialect its own way)."""

    def connect(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for reads."""
        ...

    def begin(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection inside one transaction, committed on success."""
        ...

    def autocommit(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection on which each statement commits on its own."""
        ...

    async def close(self) -> None:
        """Give back what is held (the engine is disposed by the Store)."""
        ...


class Pooled:
    """Connections from SQLAlchemy's pool: PostgreSQL's, and a SQLite store a test makes of an engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # The same pool, each statement committing on its own (set once: per-connection options
        # would cost the hot path a call per job).
        self._auto = engine.execution_options(isolation_level="AUTOCOMMIT")

    def connect(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A pooled connection."""
        return self._engine.connect()

    def begin(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A pooled connection inside SQLAlchemy's transaction."""
        return self._engine.begin()

    def autocommit(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A pooled connection in autocommit mode."""
        return self._auto.connect()

    async def close(self) -> None:
        """Nothing held between blocks."""


@dataclass(frozen=True, slots=True)
class Store:
    """A database: its engine, its dialect, its queries and how its connections are handed out."""

    engine: AsyncEngine
    dialect: Dialect
    url: str  # for messages (mask it before showing)
    jobs: JobQueries
    schedule: ScheduleQueries
    lookup: LookupQueries
    admin: AdminQueries
    killmails: KillmailQueries
    history: HistoryQueries
    connections: Connections | None = None  # None: Pooled(engine)
    _conns: Connections = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_conns", self.connections or Pooled(self.engine))

    def connect(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for reads (used as `async with store.connect() as conn`)."""
        return self._conns.connect()

    def begin(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection inside one transaction, committed on success."""
        return self._conns.begin()

    def autocommit(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection on which each statement commits on its own (the job's hot path)."""
        return self._conns.autocommit()

    async def close(self) -> None:
        """Give back the connections and dispose of the engine."""
        await self._conns.close()
        await self.engine.dispose()
