"""Histories (store/tables.py): each character's and corporation's history cache facts and whether it
is wanted, the records as fetched, and the intervals derived from them.

Rows already stored are marked wanted: a copy upgraded to this version fetches every history once,
as a new copy does for everything it stores.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_PREFIX = "history_"
_TABLES = ("characters", "corporations")


def _ts(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _history_columns() -> list[sa.Column[object]]:
    return [_ts(f"{_PREFIX}fetched_at"), _ts(f"{_PREFIX}expires_at"), sa.Column(f"{_PREFIX}etag", sa.Text()),
            _ts(f"{_PREFIX}last_modified"), _ts(f"{_PREFIX}checked_at"),
            sa.Column(f"{_PREFIX}wanted", sa.Boolean(), nullable=False, server_default=sa.false())]


def _records(name: str, owner: str, holder: str, *, holder_nullable: bool) -> None:
    op.create_table(
        name,
        sa.Column(owner, sa.BigInteger(), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column(holder, sa.BigInteger(), nullable=holder_nullable),
        _ts("start_date", nullable=False),
        sa.Column("is_deleted", sa.Boolean()),
        sa.PrimaryKeyConstraint(owner, "record_id"),
    )


def _intervals(name: str, owner: str, holder: str, *, holder_nullable: bool) -> None:
    op.create_table(
        name,
        sa.Column(owner, sa.BigInteger(), nullable=False),
        _ts("start", nullable=False),
        _ts("end"),
        sa.Column(holder, sa.BigInteger(), nullable=holder_nullable),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(owner, "start"),
    )
    op.create_index(f"{name}_start", name, [holder, "start"])
    op.create_index(f"{name}_end", name, [holder, "end"])


def upgrade() -> None:
    """Apply."""
    for table in _TABLES:
        for column in _history_columns():
            op.add_column(table, column)
        op.execute(sa.table(table, sa.column(f"{_PREFIX}wanted")).update().values({f"{_PREFIX}wanted": True}))
        op.create_index(f"{table}_history_due", table, [f"{_PREFIX}expires_at"],
                        postgresql_where=sa.text(f"{_PREFIX}wanted"))
    _records("corporation_history", "character_id", "corporation_id", holder_nullable=False)
    _records("alliance_history", "corporation_id", "alliance_id", holder_nullable=True)
    _intervals("employment_intervals", "character_id", "corporation_id", holder_nullable=False)
    _intervals("membership_intervals", "corporation_id", "alliance_id", holder_nullable=True)


def downgrade() -> None:
    """Revert to 0009."""
    for name in ("membership_intervals", "employment_intervals", "alliance_history", "corporation_history"):
        op.drop_table(name)
    for table in _TABLES:
        op.drop_index(f"{table}_history_due", table_name=table)
        for column in _history_columns():
            op.drop_column(table, column.name)
