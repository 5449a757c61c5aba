"""The killmail tables as revision 0007 (PostgreSQL) and 0002 (SQLite) create them. Never edit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic import op


@dataclass(frozen=True, slots=True)
class Types:
    """A dialect's types: a time, a JSON value, a table's own integer key."""

    time: sa.types.TypeEngine[Any]
    json: sa.types.TypeEngine[Any]
    key: sa.types.TypeEngine[Any]


def create(types: Types) -> None:
    """Create the killmail tables and their indexes."""
    _killmails(types)
    _participants()
    _feed(types)
    _progress(types)


def drop() -> None:
    """Drop them."""
    for name in ("r2z2_pace", "killmail_backfill", "killmail_holes", "killmail_feed", "killmail_rejected",
                 "killmail_participants", "killmails"):
        op.drop_table(name)


def _killmails(types: Types) -> None:
    big, flt = sa.BigInteger, sa.Float
    op.create_table(
        "killmails",
        sa.Column("killmail_id", types.key, autoincrement=False, nullable=False),
        sa.Column("hash", sa.Text(), nullable=False),
        sa.Column("killmail_time", types.time, nullable=False),
        sa.Column("solar_system_id", big(), nullable=False),
        sa.Column("moon_id", big()),
        sa.Column("war_id", big()),
        sa.Column("victim_ship_type_id", big(), nullable=False),
        sa.Column("victim_damage_taken", big(), nullable=False),
        *(sa.Column(f"position_{axis}", flt()) for axis in "xyz"),
        sa.Column("items", types.json),
        sa.Column("attacker_count", sa.Integer(), nullable=False),
        sa.Column("location_id", big()),
        *(sa.Column(f"{value}_value", flt()) for value in ("fitted", "dropped", "destroyed", "total")),
        sa.Column("points", big()),
        *(sa.Column(flag, sa.Boolean()) for flag in ("npc", "solo", "awox")),
        sa.Column("labels", types.json),
        sa.Column("href", sa.Text()),
        sa.Column("zkb_attacker_count", big()),
        sa.Column("sequence_id", big()),
        sa.Column("zkb_sequence_id", big()),
        sa.Column("uploaded_at", big()),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("stored_at", types.time, nullable=False),
        sa.PrimaryKeyConstraint("killmail_id"),
    )
    op.create_index("killmails_time", "killmails", ["killmail_time"])
    op.create_table(
        "killmail_rejected",
        sa.Column("sequence_id", types.key, autoincrement=False, nullable=False),
        sa.Column("killmail_id", big(), nullable=False),
        sa.Column("hash", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("rejected_at", types.time, nullable=False),
        sa.PrimaryKeyConstraint("sequence_id"),
    )


def _participants() -> None:
    big = sa.BigInteger
    op.create_table(
        "killmail_participants",
        sa.Column("killmail_id", big(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("is_victim", sa.Boolean(), nullable=False),
        *(sa.Column(f"{who}_id", big()) for who in ("character", "corporation", "alliance", "faction")),
        sa.Column("ship_type_id", big()),
        sa.Column("weapon_type_id", big()),
        sa.Column("damage", big(), nullable=False),
        sa.Column("final_blow", sa.Boolean(), nullable=False),
        sa.Column("security_status", sa.Float()),
        sa.PrimaryKeyConstraint("killmail_id", "position"),
    )
    for who in ("character_id", "corporation_id", "alliance_id"):
        held = sa.column(who).is_not(None)
        op.create_index(f"killmail_participants_{who}", "killmail_participants",
                        [who, "is_victim", "killmail_id"], postgresql_where=held, sqlite_where=held)


def _feed(types: Types) -> None:
    op.create_table(
        "killmail_feed",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("cursor", sa.BigInteger()),
        sa.Column("uploaded_at", sa.BigInteger()),
        sa.Column("head", sa.BigInteger()),
        sa.Column("head_seen_at", types.time),
        sa.Column("last_error", sa.Text()),
        sa.Column("last_error_at", types.time),
        sa.Column("holder", sa.Text()),
        sa.Column("heartbeat_at", types.time),
        sa.Column("updated_at", types.time, nullable=False),
        sa.CheckConstraint("id = 1", name="killmail_feed_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )


def _progress(types: Types) -> None:
    op.create_table(
        "killmail_holes",
        sa.Column("sequence_id", types.key, autoincrement=False, nullable=False),
        sa.Column("declared_at", types.time, nullable=False),
        sa.Column("filled_at", types.time),
        sa.PrimaryKeyConstraint("sequence_id"),
    )
    op.create_table(
        "killmail_backfill",
        sa.Column("day", sa.Text(), nullable=False),
        sa.Column("listed", sa.Integer(), nullable=False),
        sa.Column("stored", sa.Integer(), nullable=False),
        sa.Column("expected", sa.Integer()),
        sa.Column("started_at", types.time, nullable=False),
        sa.Column("finished_at", types.time),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_table(
        "r2z2_pace",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sent", sa.Text(), nullable=False),
        sa.Column("paused_until", sa.Float(), nullable=False),
        sa.Column("refusals", sa.Integer(), nullable=False),
        sa.CheckConstraint("id = 1", name="r2z2_pace_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )
