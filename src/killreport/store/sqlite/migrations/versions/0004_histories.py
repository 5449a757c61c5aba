"""Histories on SQLite: as PostgreSQL's 0010 (store/frozen/histories_v1.py), times as epoch seconds.

Rows already stored are marked wanted: a copy upgraded to this version fetches every history once.
"""

from __future__ import annotations

import sqlalchemy as sa

from killreport.store.frozen import histories_v1

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    histories_v1.create(sa.Float(), "sqlite")


def downgrade() -> None:
    """Revert to 0003."""
    histories_v1.drop(batch=True)
