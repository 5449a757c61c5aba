"""Daily snapshots of alliances and corporations (store/tables.py's entity_snapshots)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
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
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "entity_id", "day"),
    )
    op.create_index("entity_snapshots_day", "entity_snapshots", ["day"])


def downgrade() -> None:
    """Revert to 0008."""
    op.drop_table("entity_snapshots")
