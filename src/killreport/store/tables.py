"""The schema as SQLAlchemy Core tables: one column per ESI field, named as the pinned schema names it.

Every entity row also carries the cache facts ESI gave (`fetched_at`, `expires_at`, `etag`,
`last_modified`): `expires_at` is what keeps anyone from requesting it again too early.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ColumnElement,
    Date,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    false,
    func,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import JSON

from killreport.ids import Kind
from killreport.store.dialects import bytewise
from killreport.store.sqlite.types import UtcEpoch

metadata = MetaData()
# An alliance row also holds the cache facts of its member list, under this prefix.
MEMBERS_PREFIX: Final = "members_"
# A character's or corporation's row also holds the cache facts of its history, under this prefix.
HISTORY_PREFIX: Final = "history_"
# The refresh policy's bookkeeping: when a kill last named a corporation, and a character seen moving.
SEEN_ON_KILL_AT: Final = "seen_on_kill_at"
DETAIL_WANTED: Final = "detail_wanted"


# One schema for both stores: PostgreSQL keeps its native types; on SQLite, times are epoch
# seconds (REAL: numeric comparisons, no text formats to agree on), JSON is text, and an integer
# key is INTEGER so that it is the rowid (a BIGINT key would be a second index beside the rowid).
TIMESTAMP: Final = DateTime(timezone=True).with_variant(UtcEpoch(), "sqlite")
JSON_VALUE: Final = JSON().with_variant(JSONB(), "postgresql")
ID: Final = BigInteger().with_variant(Integer(), "sqlite")


def _ts(name: str, *, nullable: bool = True) -> Column[object]:
    return Column(name, TIMESTAMP, nullable=nullable)


def _history_columns() -> list[Column[object]]:
    # `history_wanted`: the copy saw this entity first or saw it move, and has not fetched its history
    # since (a plain default, false: a row written without a job is not stored as first sighted).
    return [*_cache_columns(HISTORY_PREFIX),
            Column(f"{HISTORY_PREFIX}wanted", Boolean, nullable=False, server_default=false())]


def last_check(table: Table, prefix: str = "") -> ColumnElement[Any]:
    """When the copy of a resource was last confirmed: a 304's time, else its fetch's (rows from before
    checked_at existed have only that)."""
    return func.coalesce(table.c[f"{prefix}checked_at"], table.c[f"{prefix}fetched_at"])


def _cache_columns(prefix: str = "") -> list[Column[object]]:
    return [
        _ts(f"{prefix}fetched_at", nullable=bool(prefix)),
        _ts(f"{prefix}expires_at"),
        Column(f"{prefix}etag", Text),
        _ts(f"{prefix}last_modified"),
        # The last answer, 200 or 304, that confirmed the copy: a 304 moves only this and expires_at.
        _ts(f"{prefix}checked_at"),
    ]


alliances = Table(
    "alliances",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("ticker", Text, nullable=False),
    Column("creator_id", BigInteger, nullable=False),
    Column("creator_corporation_id", BigInteger, nullable=False),
    _ts("date_founded", nullable=False),
    Column("executor_corporation_id", BigInteger),
    Column("faction_id", BigInteger),
    *_cache_columns(),
    *_cache_columns(MEMBERS_PREFIX),
    # Set when the alliance left GET /alliances (and was fetched once more); never deleted.
    _ts("closed_at"),
    Index("alliances_expires_at", "expires_at"),
    Index("alliances_members_expires_at", f"{MEMBERS_PREFIX}expires_at"),
)

alliance_corporations = Table(
    "alliance_corporations",
    metadata,
    Column("alliance_id", BigInteger, nullable=False),
    Column("corporation_id", BigInteger, nullable=False),
    PrimaryKeyConstraint("alliance_id", "corporation_id"),
)

corporations = Table(
    "corporations",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("ticker", Text, nullable=False),
    Column("member_count", BigInteger, nullable=False),
    Column("alliance_id", BigInteger),
    Column("ceo_id", BigInteger),
    Column("creator_id", BigInteger),
    _ts("date_founded"),
    Column("description", Text, nullable=False),
    Column("enlisted_faction_id", BigInteger),
    Column("friendly_fire", Text, nullable=False),
    Column("home_station_id", BigInteger, nullable=False),
    Column("shares", BigInteger, nullable=False),
    Column("state", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("tax_rate_isk", Float, nullable=False),
    Column("tax_rate_loyalty_point", Float, nullable=False),
    Column("url", Text),
    Column("war_eligible", Boolean, nullable=False),
    Column("palette_main_color", Text),
    Column("palette_secondary_color", Text),
    Column("palette_tertiary_color", Text),
    *_cache_columns(),
    *_history_columns(),
    # The newest kill (by its time) that named this corporation: it is active for REFRESH_KILL_WINDOW_S.
    _ts(SEEN_ON_KILL_AT),
    Index("corporations_expires_at", "expires_at"),
)

characters = Table(
    "characters",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    _ts("birthday", nullable=False),
    Column("bloodline_id", BigInteger, nullable=False),
    Column("race_id", BigInteger, nullable=False),
    Column("corporation_id", BigInteger, nullable=False),
    Column("gender", Text, nullable=False),
    Column("achievement_score", BigInteger, nullable=False),
    Column("alliance_id", BigInteger),
    Column("faction_id", BigInteger),
    Column("description", Text),
    Column("security_status", Float),
    Column("corporation_title", Text),
    Column("character_title_id", Text),
    *_cache_columns(),
    *_history_columns(),
    # A sweep or a kill showed it moving since its details were last fetched: due at its Expires.
    Column(DETAIL_WANTED, Boolean, nullable=False, server_default=false()),
    Index("characters_expires_at", "expires_at"),
    Index("characters_corporation_id", "corporation_id"),
)


def _flagged(table: Table, flag: str, name: str, on: str) -> None:
    """A partial index of `on` over the rows whose boolean `flag` is set. SQLite has no booleans, so
    Core writes the condition `flag = 1`, and SQLite uses a partial index only where its WHERE is
    a term of the query's: the index says it so (PostgreSQL reads either as the flag)."""
    Index(name, table.c[on], postgresql_where=table.c[flag], sqlite_where=table.c[flag] == true())


# The scheduler's "history wanted and past its Expires": only the few wanted rows are indexed.
for _table in (corporations, characters):
    _flagged(_table, f"{HISTORY_PREFIX}wanted", f"{_table.name}_history_due", f"{HISTORY_PREFIX}expires_at")

# Due selection by tier reads the last check (a 304's time, else the fetch's) from an index: every
# row past a tier's age, the alliance members', and a moved character's details past their Expires.
for _table in (corporations, characters):
    Index(f"{_table.name}_last_check", last_check(_table))
# The kill tier: its range is the kill time; the last check beside it is read from the index, so the
# tier's rows that are not due (most: they were checked within the hour) cost no table read.
Index("corporations_seen_on_kill", corporations.c[SEEN_ON_KILL_AT], last_check(corporations))
_member = corporations.c.alliance_id.isnot(None)
Index("corporations_member_check", last_check(corporations), postgresql_where=_member, sqlite_where=_member)
_flagged(characters, DETAIL_WANTED, "characters_detail_due", "expires_at")

# Biomassed characters answer 404 forever; remembering them saves an error-limit unit each.
character_tombstones = Table(
    "character_tombstones",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=False),
    _ts("deleted_seen_at", nullable=False),
    Column("reason", Text, nullable=False),
)

# One row per entity somebody asked for and nobody has finished: the dedup set and the work count.
sync_pending = Table(
    "sync_pending",
    metadata,
    Column("kind", Text, nullable=False),
    Column("id", BigInteger, nullable=False),
    _ts("queued_at", nullable=False),
    _ts("claimed_until"),
    Column("published", Boolean, nullable=False),
    Column("attempts", Integer, nullable=False),
    PrimaryKeyConstraint("kind", "id"),
)
# The janitor's "unpublished, oldest first": only the few rows whose message is not confirmed.
_unpublished = sync_pending.c.published.is_(False)
Index("sync_pending_unpublished", sync_pending.c.kind, sync_pending.c.queued_at,
      postgresql_where=_unpublished, sqlite_where=_unpublished)

# Jobs that ended without data: permanent answers (404) and dead-lettered ones, with why.
sync_failures = Table(
    "sync_failures",
    metadata,
    Column("kind", Text, nullable=False),
    Column("id", BigInteger, nullable=False),
    Column("status", Integer),
    Column("reason", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("permanent", Boolean, nullable=False),
    _ts("failed_at", nullable=False),
    PrimaryKeyConstraint("kind", "id"),
)

# Cache facts for list routes that are not an entity (GET /alliances).
http_cache = Table(
    "http_cache",
    metadata,
    Column("path", Text, primary_key=True),
    Column("body", JSON_VALUE, nullable=False),
    *_cache_columns(),
)

# Every change a refresh or a sweep observed, as ESI names the field; values as JSON.
changes = Table(
    "changes",
    metadata,
    Column("id", ID, Identity(), primary_key=True),
    Column("kind", Text, nullable=False),
    Column("entity_id", BigInteger, nullable=False),
    Column("field", Text, nullable=False),
    Column("old_value", JSON_VALUE),
    Column("new_value", JSON_VALUE),
    _ts("observed_at", nullable=False),
    Index("changes_observed_at", "observed_at"),
    # One entity's changes, its kind given or not (ids of different kinds never overlap in EVE).
    Index("changes_entity", "entity_id", "kind"),
    # One kind's changes in the order they were observed (`changes --kind`, the web's log by kind).
    Index("changes_kind", "kind", "observed_at"),
)

# Requests by minute, route template and status (0: no answer): rates and shares for `status`.
esi_request_log = Table(
    "esi_request_log",
    metadata,
    _ts("minute", nullable=False),
    Column("route", Text, nullable=False),
    Column("status", Integer, nullable=False),
    Column("count", BigInteger, nullable=False),
    PrimaryKeyConstraint("minute", "route", "status"),
)

# Who is the active scheduler (the advisory lock decides; this row tells `status` who and where).
scheduler_lease = Table(
    "scheduler_lease",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("holder", Text, nullable=False),
    _ts("started_at", nullable=False),
    _ts("heartbeat_at", nullable=False),
    CheckConstraint("id = 1", name="scheduler_lease_one_row"),
)

# When the scheduler last did a periodic task (the affiliation sweep), so a new leader continues.
scheduler_marks = Table(
    "scheduler_marks",
    metadata,
    Column("name", Text, primary_key=True),
    _ts("at", nullable=False),
)


# Killmails, keyed by CCP's killmail_id: a body never changes once written, zkb's block may (a
# republication re-prices it). Newest first means highest killmail_id first (CCP numbers kills as
# they happen, so a kill posted hours late still sorts by when it happened), which every listing
# below reads from an index.
killmails = Table(
    "killmails",
    metadata,
    Column("killmail_id", ID, primary_key=True, autoincrement=False),
    Column("hash", Text, nullable=False),
    _ts("killmail_time", nullable=False),
    Column("solar_system_id", BigInteger, nullable=False),
    Column("moon_id", BigInteger),
    Column("war_id", BigInteger),
    Column("victim_ship_type_id", BigInteger, nullable=False),
    Column("victim_damage_taken", BigInteger, nullable=False),
    Column("position_x", Float),
    Column("position_y", Float),
    Column("position_z", Float),
    Column("items", JSON_VALUE),  # the victim's items, whole (nested ones too), as ESI gave them
    Column("attacker_count", Integer, nullable=False),
    # zkb's block (None for a kill back-filled from ESI alone, which has none)
    Column("location_id", BigInteger),
    Column("fitted_value", Float),
    Column("dropped_value", Float),
    Column("destroyed_value", Float),
    Column("total_value", Float),
    Column("points", BigInteger),
    Column("npc", Boolean),
    Column("solo", Boolean),
    Column("awox", Boolean),
    Column("labels", JSON_VALUE),
    Column("href", Text),
    Column("zkb_attacker_count", BigInteger),  # zkb's attackerCount, which it does not always send
    Column("sequence_id", BigInteger),  # the R2Z2 file it came from (None: back-filled)
    Column("zkb_sequence_id", BigInteger),  # the file whose zkb block is stored (a republication's)
    Column("uploaded_at", BigInteger),
    Column("source", Text, nullable=False),  # feed, history (R2Z2's raw day file) or esi
    _ts("stored_at", nullable=False),
    Index("killmails_time", "killmail_time"),
)

# One row per participant: the victim (position 0) and each attacker in ESI's order (1..n).
# Partial indexes: NPC attackers name no character, many pilots no alliance.
killmail_participants = Table(
    "killmail_participants",
    metadata,
    Column("killmail_id", BigInteger, nullable=False),
    Column("position", Integer, nullable=False),
    Column("is_victim", Boolean, nullable=False),
    Column("character_id", BigInteger),
    Column("corporation_id", BigInteger),
    Column("alliance_id", BigInteger),
    Column("faction_id", BigInteger),
    Column("ship_type_id", BigInteger),
    Column("weapon_type_id", BigInteger),
    Column("damage", BigInteger, nullable=False),  # damage taken (victim) or done (attacker)
    Column("final_blow", Boolean, nullable=False),
    Column("security_status", Float),
    PrimaryKeyConstraint("killmail_id", "position"),
)
for _who in (killmail_participants.c.character_id, killmail_participants.c.corporation_id,
             killmail_participants.c.alliance_id):
    Index(f"killmail_participants_{_who.name}", _who, killmail_participants.c.is_victim,
          killmail_participants.c.killmail_id, postgresql_where=_who.isnot(None),
          sqlite_where=_who.isnot(None))

# Packages whose killmail or zkb failed the schema: kept aside with the reason, never dropped.
killmail_rejected = Table(
    "killmail_rejected",
    metadata,
    Column("sequence_id", ID, primary_key=True, autoincrement=False),
    Column("killmail_id", BigInteger, nullable=False),
    Column("hash", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("body", LargeBinary, nullable=False),
    _ts("rejected_at", nullable=False),
)

# The feed follower's state: the next number to store (moved in the transaction that stores what
# it covers), the head it last saw, its last error; and who follows now (like scheduler_lease).
killmail_feed = Table(
    "killmail_feed",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("cursor", BigInteger),  # None until the first save (a row may exist for the head first)
    Column("uploaded_at", BigInteger),  # the upload time of the newest package saved: the lag in seconds
    Column("head", BigInteger),
    _ts("head_seen_at"),
    Column("last_error", Text),
    _ts("last_error_at"),
    Column("holder", Text),
    _ts("heartbeat_at"),
    _ts("updated_at", nullable=False),
    CheckConstraint("id = 1", name="killmail_feed_one_row"),
)

# Feed numbers the head passed that never answered: filled later (asked again, or by a back-fill).
killmail_holes = Table(
    "killmail_holes",
    metadata,
    Column("sequence_id", ID, primary_key=True, autoincrement=False),
    _ts("declared_at", nullable=False),
    _ts("filled_at"),
)

# Back-fill by day (UTC, YYYYMMDD): how many the day file listed, how many are stored, what
# totals.json says, and when it was last finished; resumable because every kill is kept once.
killmail_backfill = Table(
    "killmail_backfill",
    metadata,
    Column("day", Text, primary_key=True),
    Column("listed", Integer, nullable=False),
    Column("stored", Integer, nullable=False),
    Column("expected", Integer),
    _ts("started_at", nullable=False),
    _ts("finished_at"),
)

# R2Z2's request cap counts every process together: the latest request times (epoch seconds, a
# JSON array, at most R2Z2_MAX_RPS of them) and a pause after a refusal, in one row.
r2z2_pace = Table(
    "r2z2_pace",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("sent", Text, nullable=False),
    Column("paused_until", Float, nullable=False),
    Column("refusals", Integer, nullable=False),
    CheckConstraint("id = 1", name="r2z2_pace_one_row"),
)


# Once a day (00:00 UTC) one row per alliance and corporation: ESI's member count (an alliance's is
# the sum of its corporations') and an alliance's corporation count. Kept forever: they are small.
entity_snapshots = Table(
    "entity_snapshots",
    metadata,
    Column("kind", Text, nullable=False),
    Column("entity_id", BigInteger, nullable=False),
    Column("day", Date, nullable=False),
    Column("member_count", BigInteger, nullable=False),
    Column("corporation_count", Integer),
    _ts("taken_at", nullable=False),
    PrimaryKeyConstraint("kind", "entity_id", "day"),
    Index("entity_snapshots_day", "day"),
)


# Histories as fetched: a character's corporation history, a corporation's alliance history, one row
# per record (ESI numbers records per entity). Replaced whole by each fetch.
corporation_history = Table(
    "corporation_history",
    metadata,
    Column("character_id", BigInteger, nullable=False),
    Column("record_id", BigInteger, nullable=False),
    Column("corporation_id", BigInteger, nullable=False),
    _ts("start_date", nullable=False),
    Column("is_deleted", Boolean),
    PrimaryKeyConstraint("character_id", "record_id"),
)

alliance_history = Table(
    "alliance_history",
    metadata,
    Column("corporation_id", BigInteger, nullable=False),
    Column("record_id", BigInteger, nullable=False),
    Column("alliance_id", BigInteger),  # None: a period outside any alliance
    _ts("start_date", nullable=False),
    Column("is_deleted", Boolean),
    PrimaryKeyConstraint("corporation_id", "record_id"),
)

# The intervals domain/history.py derives from them, rebuilt in the same transaction: where each
# character worked and where each corporation belonged, from `start` until `end` (None: still).
# The key answers "where was X at T"; the holder's indexes "members of C/A at T" (by start) and
# "joined/left between two times" (by start, by end).
employment_intervals = Table(
    "employment_intervals",
    metadata,
    Column("character_id", BigInteger, nullable=False),
    _ts("start", nullable=False),
    _ts("end"),
    Column("corporation_id", BigInteger, nullable=False),
    Column("record_id", BigInteger, nullable=False),
    PrimaryKeyConstraint("character_id", "start"),
    Index("employment_intervals_start", "corporation_id", "start"),
    Index("employment_intervals_end", "corporation_id", "end"),
)

membership_intervals = Table(
    "membership_intervals",
    metadata,
    Column("corporation_id", BigInteger, nullable=False),
    _ts("start", nullable=False),
    _ts("end"),
    Column("alliance_id", BigInteger),  # None: outside any alliance
    Column("record_id", BigInteger, nullable=False),
    PrimaryKeyConstraint("corporation_id", "start"),
    Index("membership_intervals_start", "alliance_id", "start"),
    Index("membership_intervals_end", "alliance_id", "end"),
)


def _searchable(table: Table, *columns: str) -> None:
    """Search's indexes on the lower case of `columns` (store/lookup.py): b-trees by code point for an
    exact text and a name's start (`_lower`, a name's with the id: its order, page by page), and on
    PostgreSQL trigram GIN indexes for any part (SQLite's FTS5 tables: store/sqlite/tables.py)."""
    for name in columns:
        key = bytewise(func.lower(table.c[name]))
        Index(f"{table.name}_{name}_lower", key, *([table.c.id] if name == "name" else []))
        Index(f"{table.name}_{name}_trgm", func.lower(table.c[name]), postgresql_using="gin",
              postgresql_ops={"lower": "gin_trgm_ops"})


_searchable(alliances, "name", "ticker")
_searchable(corporations, "name", "ticker")
_searchable(characters, "name")

# The row table of each entity kind.
ENTITY_TABLES: Mapping[Kind, Table] = {
    "alliance": alliances,
    "corporation": corporations,
    "character": characters,
}


def _bookkeeping(*fact_prefixes: str) -> frozenset[str]:
    return frozenset({"id", *(c.name for prefix in fact_prefixes for c in _cache_columns(prefix))})


# The columns of each entity table that no ESI field feeds: the key and the cache facts of each
# resource the row holds. Every other column is fed by the kind's model (store/rows.py).
BOOKKEEPING: Mapping[Kind, frozenset[str]] = {
    "alliance": _bookkeeping("", MEMBERS_PREFIX) | {"closed_at"},
    "corporation": _bookkeeping("", HISTORY_PREFIX) | {f"{HISTORY_PREFIX}wanted", SEEN_ON_KILL_AT},
    "character": _bookkeeping("", HISTORY_PREFIX) | {f"{HISTORY_PREFIX}wanted", DETAIL_WANTED},
}
