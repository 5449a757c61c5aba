"""The refresh policy's columns and indexes as revision 0014 (PostgreSQL) and 0007 (SQLite) create
them. Never edit."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op


def _last_check(table: str) -> Any:
    t = sa.table(table, sa.column("checked_at"), sa.column("fetched_at"))
    return sa.func.coalesce(t.c.checked_at, t.c.fetched_at)


def create(time: sa.types.TypeEngine[Any], dialect: str) -> None:
    """Add corporations.seen_on_kill_at and characters.detail_wanted, and the due tiers' indexes
    (`time`: the dialect's type for a moment; `dialect` names the partial indexes' dialect)."""
    op.add_column("corporations", sa.Column("seen_on_kill_at", time))
    op.add_column("characters", sa.Column("detail_wanted", sa.Boolean(), nullable=False,
                                          server_default=sa.false()))
    op.create_index("corporations_seen_on_kill", "corporations", [sa.column("seen_on_kill_at"),
                                                                  _last_check("corporations")])
    for table in ("corporations", "characters"):
        op.create_index(f"{table}_last_check", table, [_last_check(table)])
    members: dict[str, Any] = {f"{dialect}_where": sa.column("alliance_id").isnot(None)}
    op.create_index("corporations_member_check", "corporations", [_last_check("corporations")], **members)
    op.create_index("characters_detail_due", "characters", ["expires_at"], **_flag("detail_wanted", dialect))
    if dialect == "sqlite":
        # SQLite uses a partial index only where its WHERE is a term of the query, which says
        # `flag = 1` (no booleans there): the history indexes of 0004 said `WHERE flag`, never used.
        for table in ("characters", "corporations"):
            op.drop_index(f"{table}_history_due", table_name=table)
            op.create_index(f"{table}_history_due", table, ["history_expires_at"],
                            **_flag("history_wanted", dialect))


def _flag(name: str, dialect: str) -> dict[str, Any]:
    flag = sa.column(name, sa.Boolean())
    return {f"{dialect}_where": flag == sa.true() if dialect == "sqlite" else flag}


# Written out, not built from names: no SQL is composed at run time.
_SQLITE_DROPS = {"detail_wanted": "ALTER TABLE characters DROP COLUMN detail_wanted",
                 "seen_on_kill_at": "ALTER TABLE corporations DROP COLUMN seen_on_kill_at"}


def drop(*, batch: bool) -> None:
    """Drop what `create` made (`batch`: SQLite, whose history indexes differ)."""
    for index in ("characters_detail_due", "corporations_member_check", "characters_last_check",
                  "corporations_last_check", "corporations_seen_on_kill"):
        op.drop_index(index, table_name=index.split("_", 1)[0])
    if batch:  # SQLite: the history indexes as 0004 made them
        for table in ("characters", "corporations"):
            op.drop_index(f"{table}_history_due", table_name=table)
            op.create_index(f"{table}_history_due", table, ["history_expires_at"],
                            sqlite_where=sa.column("history_wanted"))
    for table, name in (("characters", "detail_wanted"), ("corporations", "seen_on_kill_at")):
        if batch:
            # SQLite's own DROP COLUMN (3.35 and later), not a batch's copy of the table: a copy would
            # lose the triggers that keep search's FTS5 tables in step (SQLite migration 0006).
            op.execute(_SQLITE_DROPS[name])
        else:
            op.drop_column(table, name)
