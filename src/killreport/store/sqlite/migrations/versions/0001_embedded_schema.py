"""The embedded store's whole schema: store/tables.py as it renders on SQLite, and the embedded-only tables.

Written out, not `metadata.create_all`: a migration is history and must not change when tables.py
does. On SQLite a time is REAL epoch seconds, JSON is text, an integer key is INTEGER (the rowid).
PostgreSQL's trigram indexes on lower(name) and lower(ticker) have no SQLite counterpart: a
contains-search scans either way, so a plain index there would only cost every write.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _cache_columns(prefix: str = "") -> list[sa.Column[object]]:
    return [
        sa.Column(f"{prefix}fetched_at", sa.Float(), nullable=bool(prefix)),
        sa.Column(f"{prefix}expires_at", sa.Float(), nullable=True),
        sa.Column(f"{prefix}etag", sa.Text(), nullable=True),
        sa.Column(f"{prefix}last_modified", sa.Float(), nullable=True),
        sa.Column(f"{prefix}checked_at", sa.Float(), nullable=True),
    ]


def upgrade() -> None:
    """Apply."""
    _entities()
    _bookkeeping()
    _embedded()


def _entities() -> None:
    op.create_table(
        "alliances",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("ticker", sa.Text(), nullable=False),
        sa.Column("creator_id", sa.BigInteger(), nullable=False),
        sa.Column("creator_corporation_id", sa.BigInteger(), nullable=False),
        sa.Column("date_founded", sa.Float(), nullable=False),
        sa.Column("executor_corporation_id", sa.BigInteger(), nullable=True),
        sa.Column("faction_id", sa.BigInteger(), nullable=True),
        *_cache_columns(),
        *_cache_columns("members_"),
        sa.Column("closed_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("alliances_expires_at", "alliances", ["expires_at"])
    op.create_index("alliances_members_expires_at", "alliances", ["members_expires_at"])
    op.create_table(
        "alliance_corporations",
        sa.Column("alliance_id", sa.BigInteger(), nullable=False),
        sa.Column("corporation_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("alliance_id", "corporation_id"),
    )
    _corporations()
    _characters()


def _corporations() -> None:
    op.create_table(
        "corporations",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("ticker", sa.Text(), nullable=False),
        sa.Column("member_count", sa.BigInteger(), nullable=False),
        sa.Column("alliance_id", sa.BigInteger(), nullable=True),
        sa.Column("ceo_id", sa.BigInteger(), nullable=True),
        sa.Column("creator_id", sa.BigInteger(), nullable=True),
        sa.Column("date_founded", sa.Float(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("enlisted_faction_id", sa.BigInteger(), nullable=True),
        sa.Column("friendly_fire", sa.Text(), nullable=False),
        sa.Column("home_station_id", sa.BigInteger(), nullable=False),
        sa.Column("shares", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("tax_rate_isk", sa.Float(), nullable=False),
        sa.Column("tax_rate_loyalty_point", sa.Float(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("war_eligible", sa.Boolean(), nullable=False),
        sa.Column("palette_main_color", sa.Text(), nullable=True),
        sa.Column("palette_secondary_color", sa.Text(), nullable=True),
        sa.Column("palette_tertiary_color", sa.Text(), nullable=True),
        *_cache_columns(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("corporations_expires_at", "corporations", ["expires_at"])


def _characters() -> None:
    op.create_table(
        "characters",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("birthday", sa.Float(), nullable=False),
        sa.Column("bloodline_id", sa.BigInteger(), nullable=False),
        sa.Column("race_id", sa.BigInteger(), nullable=False),
        sa.Column("corporation_id", sa.BigInteger(), nullable=False),
        sa.Column("gender", sa.Text(), nullable=False),
        sa.Column("achievement_score", sa.BigInteger(), nullable=False),
        sa.Column("alliance_id", sa.BigInteger(), nullable=True),
        sa.Column("faction_id", sa.BigInteger(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("security_status", sa.Float(), nullable=True),
        sa.Column("corporation_title", sa.Text(), nullable=True),
        sa.Column("character_title_id", sa.Text(), nullable=True),
        *_cache_columns(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("characters_expires_at", "characters", ["expires_at"])
    op.create_index("characters_corporation_id", "characters", ["corporation_id"])
    op.create_table(
        "character_tombstones",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("deleted_seen_at", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def _bookkeeping() -> None:
    op.create_table(
        "sync_pending",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("queued_at", sa.Float(), nullable=False),
        sa.Column("claimed_until", sa.Float(), nullable=True),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "id"),
    )
    op.create_table(
        "sync_failures",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("permanent", sa.Boolean(), nullable=False),
        sa.Column("failed_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "id"),
    )
    op.create_table(
        "http_cache",
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        *_cache_columns(),
        sa.PrimaryKeyConstraint("path"),
    )
    _logs()


def _logs() -> None:
    op.create_table(
        "changes",
        # INTEGER PRIMARY KEY is the rowid: ids are assigned in insert order, as the identity does.
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("entity_id", sa.BigInteger(), nullable=False),
        sa.Column("field", sa.Text(), nullable=False),
        sa.Column("old_value", sa.JSON(), nullable=True),
        sa.Column("new_value", sa.JSON(), nullable=True),
        sa.Column("observed_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("changes_observed_at", "changes", ["observed_at"])
    op.create_index("changes_entity", "changes", ["kind", "entity_id"])
    op.create_table(
        "esi_request_log",
        sa.Column("minute", sa.Float(), nullable=False),
        sa.Column("route", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("minute", "route", "status"),
    )
    op.create_table(
        "scheduler_lease",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("heartbeat_at", sa.Float(), nullable=False),
        sa.CheckConstraint("id = 1", name="scheduler_lease_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "scheduler_marks",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def _embedded() -> None:
    op.create_table(
        "queue_messages",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("not_before", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sqlite_autoincrement=True,  # a seq is never reused (store/sqlite/tables.py says why)
    )
    op.create_index("queue_messages_ready", "queue_messages", ["queue", "not_before", "seq"])
    op.create_table(
        "dead_letters",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=True),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("dead_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "esi_budget_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.CheckConstraint("id = 1", name="esi_budget_state_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    """Revert."""
    for table in ("esi_budget_state", "dead_letters", "queue_messages", "scheduler_marks",
                  "scheduler_lease", "esi_request_log", "changes", "http_cache", "sync_failures",
                  "sync_pending", "character_tombstones", "characters", "corporations",
                  "alliance_corporations", "alliances"):
        op.drop_table(table)
