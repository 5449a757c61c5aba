"""Daily snapshots on SQLite: store/frozen/snapshots_v1.py with times as epoch seconds."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from killreport.store.frozen import snapshots_v1

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    snapshots_v1.create(sa.Float())


def downgrade() -> None:
    """Revert to 0002."""
    op.drop_table("entity_snapshots")
