"""Killmails on SQLite: store/frozen/killmails_v1.py with epoch seconds, JSON as text, INTEGER keys."""

from __future__ import annotations

import sqlalchemy as sa

from killreport.store.frozen import killmails_v1

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    killmails_v1.create(killmails_v1.Types(time=sa.Float(), json=sa.JSON(), key=sa.Integer()))


def downgrade() -> None:
    """Revert to 0001."""
    killmails_v1.drop()
