"""The shared ESI budget's tables: one budget row, leases in flight, token buckets, route groups.

Times are float epoch seconds from the database's clock_timestamp(). The functions that read and
write these tables (esi_reserve, esi_settle) live in killreport/store/sql/ and are created by 0003;
databases migrated before 0003 got older versions of them here, which 0003 drops.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLES = [
    """CREATE TABLE esi_budget (
    id integer PRIMARY KEY CHECK (id = 1),
    error_remain integer,
    error_window_end double precision NOT NULL DEFAULT 0,
    paused_until double precision NOT NULL DEFAULT 0,
    pause_reason text,
    last_wait_at double precision NOT NULL DEFAULT 0
)""",
    "INSERT INTO esi_budget (id) VALUES (1)",
    """CREATE TABLE esi_leases (
    id bigserial PRIMARY KEY,
    route text NOT NULL,
    grp text,
    probe boolean NOT NULL,
    expires_at double precision NOT NULL
)""",
    """CREATE TABLE esi_buckets (
    grp text PRIMARY KEY,
    token_limit integer,
    window_s double precision NOT NULL DEFAULT 900,
    remaining integer,
    paused_until double precision NOT NULL DEFAULT 0,
    spends double precision[] NOT NULL DEFAULT '{}',
    reported_at double precision
)""",
    "CREATE TABLE esi_route_groups (route text PRIMARY KEY, grp text NOT NULL)",
]


def upgrade() -> None:
    """Apply."""
    # asyncpg prepares each statement, so statements go one at a time.
    for statement in _TABLES:
        op.execute(statement)


def downgrade() -> None:
    """Revert."""
    # Only a database upgraded by the code before 0003 existed still has these signatures here.
    op.execute("DROP FUNCTION IF EXISTS esi_settle(bigint, text, integer, boolean, integer,"
               " double precision, text, integer, double precision, integer, double precision)")
    op.execute("DROP FUNCTION IF EXISTS esi_reserve(text, integer, integer, double precision)")
    op.execute("DROP TABLE esi_route_groups, esi_buckets, esi_leases, esi_budget")
