"""Daily snapshots of alliances and corporations (store/frozen/snapshots_v1.py, as on SQLite)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from killreport.store.frozen import snapshots_v1

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    snapshots_v1.create(sa.DateTime(timezone=True))


def downgrade() -> None:
    """Revert to 0008."""
    op.drop_table("entity_snapshots")
