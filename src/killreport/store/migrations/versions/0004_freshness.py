"""Freshness: checked times, closed alliances, the changes table, requests by minute and route
(replacing the totals by status), the scheduler's lease and marks.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _ts(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Apply."""
    for table in ("alliances", "corporations", "characters", "http_cache"):
        op.add_column(table, _ts("checked_at"))
    op.add_column("alliances", _ts("members_checked_at"))
    op.add_column("alliances", _ts("closed_at"))
    for table in ("alliances", "corporations", "characters"):
        op.create_index(f"{table}_expires_at", table, ["expires_at"])
    op.create_index("alliances_members_expires_at", "alliances", ["members_expires_at"])
    op.create_table(
        "changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("entity_id", sa.BigInteger(), nullable=False),
        sa.Column("field", sa.Text(), nullable=False),
        sa.Column("old_value", postgresql.JSONB(), nullable=True),
        sa.Column("new_value", postgresql.JSONB(), nullable=True),
        _ts("observed_at", nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("changes_observed_at", "changes", ["observed_at"])
    op.create_index("changes_entity", "changes", ["kind", "entity_id"])
    # Totals by status are sums of the log: one table, not two that can disagree.
    op.drop_table("esi_request_counts")
    op.create_table(
        "esi_request_log",
        _ts("minute", nullable=False),
        sa.Column("route", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("minute", "route", "status"),
    )
    op.create_table(
        "scheduler_lease",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.Text(), nullable=False),
        _ts("started_at", nullable=False),
        _ts("heartbeat_at", nullable=False),
        sa.CheckConstraint("id = 1", name="scheduler_lease_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "scheduler_marks",
        sa.Column("name", sa.Text(), nullable=False),
        _ts("at", nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    """Revert."""
    for table in ("scheduler_marks", "scheduler_lease", "esi_request_log", "changes"):
        op.drop_table(table)
    op.create_table(
        "esi_request_counts",
        sa.Column("status", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("status"),
    )
    op.drop_index("alliances_members_expires_at", "alliances")
    for table in ("alliances", "corporations", "characters"):
        op.drop_index(f"{table}_expires_at", table)
    op.drop_column("alliances", "closed_at")
    op.drop_column("alliances", "members_checked_at")
    for table in ("alliances", "corporations", "characters", "http_cache"):
        op.drop_column(table, "checked_at")
