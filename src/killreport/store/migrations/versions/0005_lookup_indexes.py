"""Indexes for looking things up (killreport web): characters by corporation, names and tickers by
any part (trigram GIN indexes on their lower case, as the search asks for them).

pg_trgm ships with PostgreSQL and is a trusted extension (PostgreSQL 13+): the database owner may
create it without superuser rights.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_SEARCHED = [("alliances", "name"), ("alliances", "ticker"), ("corporations", "name"),
             ("corporations", "ticker"), ("characters", "name")]
_CREATE = [
    "CREATE INDEX alliances_name_trgm ON alliances USING gin (lower(name) gin_trgm_ops)",
    "CREATE INDEX alliances_ticker_trgm ON alliances USING gin (lower(ticker) gin_trgm_ops)",
    "CREATE INDEX corporations_name_trgm ON corporations USING gin (lower(name) gin_trgm_ops)",
    "CREATE INDEX corporations_ticker_trgm ON corporations USING gin (lower(ticker) gin_trgm_ops)",
    "CREATE INDEX characters_name_trgm ON characters USING gin (lower(name) gin_trgm_ops)",
]


def upgrade() -> None:
    """Apply."""
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index("characters_corporation_id", "characters", ["corporation_id"])
    for statement in _CREATE:
        op.execute(statement)


def downgrade() -> None:
    """Revert (the extension stays: other things may use it)."""
    for table, column in _SEARCHED:
        op.drop_index(f"{table}_{column}_trgm", table)
    op.drop_index("characters_corporation_id", "characters")
