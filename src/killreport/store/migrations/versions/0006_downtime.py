"""Downtime in the budget: when ESI last said it was unavailable, the cluster's last start_time, the
next /status allowed and whether the last one showed ESI up, and which lease is a downtime probe;
the functions reloaded with the downtime rules' arguments (store/sql/esi_reserve.sql, esi_settle.sql).

A changed argument list is a new function beside the old one, so 0003's signatures are dropped
first. Downgrading restores them from the frozen copies esi_reserve_0003.sql and esi_settle_0003.sql.
"""

from __future__ import annotations

from alembic import op

from killreport.store.sql import load

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_0003 = [
    "DROP FUNCTION IF EXISTS esi_reserve(text, integer, integer, double precision, integer,"
    " double precision, double precision, double precision, double precision)",
    "DROP FUNCTION IF EXISTS esi_settle(bigint, text, integer, boolean, integer, double precision, text,"
    " integer, double precision, integer, double precision, integer, double precision, double precision,"
    " double precision, double precision, integer, double precision, double precision)",
]
_0006 = [
    "DROP FUNCTION esi_reserve(text, integer, integer, double precision, integer, double precision,"
    " double precision, double precision, text, double precision, double precision, double precision,"
    " double precision, double precision, double precision, double precision)",
    "DROP FUNCTION esi_settle(bigint, text, integer, boolean, integer, double precision, text, integer,"
    " double precision, integer, double precision, integer, double precision, double precision,"
    " double precision, double precision, integer, double precision, boolean, double precision,"
    " double precision, text, double precision, double precision, double precision, double precision,"
    " double precision, double precision)",
]
_COLUMNS = [
    "ALTER TABLE esi_budget ADD COLUMN unavailable_at double precision",
    "ALTER TABLE esi_budget ADD COLUMN up_since double precision NOT NULL DEFAULT 0",
    "ALTER TABLE esi_budget ADD COLUMN status_next double precision NOT NULL DEFAULT 0",
    "ALTER TABLE esi_budget ADD COLUMN status_up boolean NOT NULL DEFAULT false",
    "ALTER TABLE esi_leases ADD COLUMN down_probe boolean NOT NULL DEFAULT false",
]


def upgrade() -> None:
    """Apply."""
    for statement in (*_0003, *_COLUMNS):
        op.execute(statement)
    load("esi_reserve.sql")
    load("esi_settle.sql")


def downgrade() -> None:
    """Revert to 0005: its columns and its functions."""
    for statement in _0006:
        op.execute(statement)
    op.drop_column("esi_leases", "down_probe")
    for column in ("unavailable_at", "up_since", "status_next", "status_up"):
        op.drop_column("esi_budget", column)
    load("esi_reserve_0003.sql")
    load("esi_settle_0003.sql")
