"""Indexes for looking things up (killreport web): characters by corporation, names and tickers by
any part (trigram GIN indexes on their lower case, as the search asks for them).

pg_trgm ships with PostgreSQL (Debian's postgresql-contrib on older releases) and is a trusted
extension (PostgreSQL 13+): the database owner, or a role with CREATE on the database, may create it
without superuser rights. A role that may not fails here with what to do, before anything is made.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

NO_TRIGRAMS = ("search needs PostgreSQL's pg_trgm extension, which this role may not create here ({}): "
               "as the database's owner or a superuser run `CREATE EXTENSION pg_trgm;` in this "
               "database (pg_trgm ships with PostgreSQL; postgresql-contrib on some systems), then "
               "migrate again")

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


def _trigrams() -> None:
    bind = op.get_bind()
    if bind.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).first() is not None:
        return
    try:
        op.execute("CREATE EXTENSION pg_trgm")
    except DBAPIError as error:
        # The whole migration rolls back: nothing is left half made.
        raise RuntimeError(NO_TRIGRAMS.format(str(error.orig).strip().splitlines()[0])) from error


def upgrade() -> None:
    """Apply."""
    _trigrams()
    op.create_index("characters_corporation_id", "characters", ["corporation_id"])
    for statement in _CREATE:
        op.execute(statement)


def downgrade() -> None:
    """Revert (the extension stays: other things may use it)."""
    for table, column in _SEARCHED:
        op.drop_index(f"{table}_{column}_trgm", table)
    op.drop_index("characters_corporation_id", "characters")
