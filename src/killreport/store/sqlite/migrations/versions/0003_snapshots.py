"""Daily snapshots on SQLite: as PostgreSQL's 0009, times as epoch seconds, the day as ISO text."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    op.create_table(
        "entity_snapshots",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("entity_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("member_count", sa.BigInteger(), nullable=False),
        sa.Column("corporation_count", sa.Integer()),
        sa.Column("taken_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "entity_id", "day"),
    )
    op.create_index("entity_snapshots_day", "entity_snapshots", ["day"])


def downgrade() -> None:
    """Revert to 0002."""
    op.drop_table("entity_snapshots")
