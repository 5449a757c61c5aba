"""The budget's functions from killreport/store/sql/, every rule constant an argument, a test clock.

Databases migrated before this revision carry esi_reserve/esi_settle with their constants written
in; those signatures are dropped first (a new argument list would otherwise add an overload beside
them). The bucket window's default moves out of the table: esi_settle passes Rules.bucket_window_s.
"""

from __future__ import annotations

from alembic import op

from killreport.store.sql import load

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_OLD = [
    "DROP FUNCTION IF EXISTS esi_reserve(text, integer, integer, double precision)",
    "DROP FUNCTION IF EXISTS esi_settle(bigint, text, integer, boolean, integer, double precision,"
    " text, integer, double precision, integer, double precision)",
]
_NEW = [
    "DROP FUNCTION esi_reserve(text, integer, integer, double precision, integer, double precision,"
    " double precision, double precision, double precision)",
    "DROP FUNCTION esi_settle(bigint, text, integer, boolean, integer, double precision, text, integer,"
    " double precision, integer, double precision, integer, double precision, double precision,"
    " double precision, double precision, integer, double precision, double precision)",
]


def upgrade() -> None:
    """Apply."""
    for statement in _OLD:
        op.execute(statement)
    op.execute("ALTER TABLE esi_buckets ALTER COLUMN window_s DROP DEFAULT")
    load("esi_reserve.sql")
    load("esi_settle.sql")


def downgrade() -> None:
    """Revert to 0002's tables; the functions go (0002 no longer carries any)."""
    for statement in _NEW:
        op.execute(statement)
    op.execute("ALTER TABLE esi_buckets ALTER COLUMN window_s SET DEFAULT 900")
