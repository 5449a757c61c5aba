"""The daily snapshots' table as revision 0009 (PostgreSQL) and 0003 (SQLite) create it. Never edit."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op


def create(time: sa.types.TypeEngine[Any]) -> None:
    """Create entity_snapshots (`time`: the dialect's type for a moment) and its index."""
    op.create_table(
        "entity_snapshots",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("entity_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("member_count", sa.BigInteger(), nullable=False),
        sa.Column("corporation_count", sa.Integer()),
        sa.Column("taken_at", time, nullable=False),
        sa.PrimaryKeyConstraint("kind", "entity_id", "day"),
    )
    op.create_index("entity_snapshots_day", "entity_snapshots", ["day"])
