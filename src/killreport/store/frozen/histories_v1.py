"""The histories' schema as revision 0010 (PostgreSQL) and 0004 (SQLite) create it. Never edit."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

_PREFIX = "history_"
_TABLES = ("characters", "corporations")


def _history_columns(time: sa.types.TypeEngine[Any]) -> list[sa.Column[object]]:
    return [_ts(time, f"{_PREFIX}fetched_at"), _ts(time, f"{_PREFIX}expires_at"),
            sa.Column(f"{_PREFIX}etag", sa.Text()), _ts(time, f"{_PREFIX}last_modified"),
            _ts(time, f"{_PREFIX}checked_at"),
            sa.Column(f"{_PREFIX}wanted", sa.Boolean(), nullable=False, server_default=sa.false())]


def _records(time: sa.types.TypeEngine[Any], name: str, owner: str, holder: str, *,
             holder_nullable: bool) -> None:
    op.create_table(
        name,
        sa.Column(owner, sa.BigInteger(), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column(holder, sa.BigInteger(), nullable=holder_nullable),
        _ts(time, "start_date", nullable=False),
        sa.Column("is_deleted", sa.Boolean()),
        sa.PrimaryKeyConstraint(owner, "record_id"),
    )


def _intervals(time: sa.types.TypeEngine[Any], name: str, owner: str, holder: str, *,
               holder_nullable: bool) -> None:
    op.create_table(
        name,
        sa.Column(owner, sa.BigInteger(), nullable=False),
        _ts(time, "start", nullable=False),
        _ts(time, "end"),
        sa.Column(holder, sa.BigInteger(), nullable=holder_nullable),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(owner, "start"),
    )
    op.create_index(f"{name}_start", name, [holder, "start"])
    op.create_index(f"{name}_end", name, [holder, "end"])


def _ts(time: sa.types.TypeEngine[Any], name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, time, nullable=nullable)


def create(time: sa.types.TypeEngine[Any], dialect: str) -> None:
    """Add the history columns (rows already stored: wanted) and create the histories' tables
    (`time`: the dialect's type for a moment; `dialect` names the partial index's dialect)."""
    for table in _TABLES:
        for column in _history_columns(time):
            op.add_column(table, column)
        wanted = sa.table(table, sa.column(f"{_PREFIX}wanted"))
        op.execute(wanted.update().values({f"{_PREFIX}wanted": True}))
        where: dict[str, Any] = {f"{dialect}_where": sa.column(f"{_PREFIX}wanted")}
        op.create_index(f"{table}_history_due", table, [f"{_PREFIX}expires_at"], **where)
    _records(time, "corporation_history", "character_id", "corporation_id", holder_nullable=False)
    _records(time, "alliance_history", "corporation_id", "alliance_id", holder_nullable=True)
    _intervals(time, "employment_intervals", "character_id", "corporation_id", holder_nullable=False)
    _intervals(time, "membership_intervals", "corporation_id", "alliance_id", holder_nullable=True)


def drop(*, batch: bool) -> None:
    """Drop what `create` made (`batch`: SQLite, which drops a column only by copying its table)."""
    for name in ("membership_intervals", "employment_intervals", "alliance_history", "corporation_history"):
        op.drop_table(name)
    names = [c.name for c in _history_columns(sa.Float())]
    for table in _TABLES:
        op.drop_index(f"{table}_history_due", table_name=table)
        if batch:
            with op.batch_alter_table(table) as altered:
                for name in names:
                    altered.drop_column(name)
        else:
            for name in names:
                op.drop_column(table, name)
