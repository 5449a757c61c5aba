"""Histories: each character's and corporation's history cache facts and whether it is wanted, the
records as fetched, and the intervals derived from them (store/frozen/histories_v1.py, as on SQLite).

Rows already stored are marked wanted: a copy upgraded to this version fetches every history once,
as a new copy does for everything it stores.
"""

from __future__ import annotations

import sqlalchemy as sa

from killreport.store.frozen import histories_v1

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    histories_v1.create(sa.DateTime(timezone=True), "postgresql")


def downgrade() -> None:
    """Revert to 0009."""
    histories_v1.drop(batch=False)
