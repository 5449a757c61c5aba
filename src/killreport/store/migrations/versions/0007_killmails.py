"""Killmails: the kills, their participants, packages kept aside, the feed's cursor and holes, the
back-fill's days and R2Z2's shared request pace (store/frozen/killmails_v1.py, as on SQLite)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from killreport.store.frozen import killmails_v1

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    killmails_v1.create(killmails_v1.Types(time=sa.DateTime(timezone=True), json=postgresql.JSONB(),
                                           key=sa.BigInteger()))


def downgrade() -> None:
    """Revert to 0006."""
    killmails_v1.drop()
