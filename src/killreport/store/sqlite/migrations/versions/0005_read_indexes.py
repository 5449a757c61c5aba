"""Indexes for reads that scanned, as PostgreSQL's 0011 (store/frozen/read_indexes_v1.py)."""

from __future__ import annotations

from killreport.store.frozen import read_indexes_v1

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    read_indexes_v1.create()


def downgrade() -> None:
    """Revert to 0004."""
    read_indexes_v1.drop()
