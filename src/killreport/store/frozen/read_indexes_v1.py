"""The read indexes as revision 0011 (PostgreSQL) and 0005 (SQLite) create them. Never edit.

The janitor's scan of unpublished pending rows (only those rows are indexed); one kind's changes
in the order they were observed; one entity's changes whether or not its kind is given (the index
0001 made began with the kind, which a filter on the id alone could not use).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def create() -> None:
    """Create the indexes (the partial one's predicate is written for both dialects)."""
    unpublished = sa.column("published").is_(False)
    op.create_index("sync_pending_unpublished", "sync_pending", ["kind", "queued_at"],
                    postgresql_where=unpublished, sqlite_where=unpublished)
    op.create_index("changes_kind", "changes", ["kind", "observed_at"])
    op.drop_index("changes_entity", "changes")
    op.create_index("changes_entity", "changes", ["entity_id", "kind"])


def drop() -> None:
    """Drop them."""
    op.drop_index("changes_entity", "changes")
    op.create_index("changes_entity", "changes", ["kind", "entity_id"])
    op.drop_index("changes_kind", "changes")
    op.drop_index("sync_pending_unpublished", "sync_pending")
