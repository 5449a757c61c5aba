"""The refresh policy: when a kill last named a corporation, a character seen moving, and the indexes
that keep due selection by tier a range scan (store/frozen/policy_v1.py, as on SQLite).

Rows already stored start with neither: corporations count as active once a kill names them again
(or while in an alliance), characters are due at their age as before.
"""

from __future__ import annotations

import sqlalchemy as sa

from killreport.store.frozen import policy_v1

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    policy_v1.create(sa.DateTime(timezone=True), "postgresql")


def downgrade() -> None:
    """Revert to 0013."""
    policy_v1.drop(batch=False)
