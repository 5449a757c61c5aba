"""The refresh policy on SQLite: as PostgreSQL's 0014 (store/frozen/policy_v1.py), times as epoch seconds."""

from __future__ import annotations

import sqlalchemy as sa

from killreport.store.frozen import policy_v1

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    policy_v1.create(sa.Float(), "sqlite")


def downgrade() -> None:
    """Revert to 0006."""
    policy_v1.drop(batch=True)
