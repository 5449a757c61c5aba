"""Indexes for reads that scanned: the janitor's unpublished pending rows, one kind's changes
(store/frozen/read_indexes_v1.py, as on SQLite)."""

from __future__ import annotations

from killreport.store.frozen import read_indexes_v1

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    read_indexes_v1.create()


def downgrade() -> None:
    """Revert to 0010."""
    read_indexes_v1.drop()
