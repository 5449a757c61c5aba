"""Cap groups in the budget: a cap covers several routes sharing one rate (esi_route_caps becomes
esi_cap_groups, keyed by the group's name), remembers its last cut (cut_at: a 429 on a request
granted before it cuts nothing), and a lease remembers when it was granted (esi_leases.granted_at).
The functions are reloaded with the group's name and the cut's pause among their arguments
(store/sql/esi_reserve.sql, esi_settle.sql).

A changed argument list is a new function beside the old one, so 0008's signatures are dropped
first (IF EXISTS: a database migrated from empty got today's from the earlier migrations, which load
the current files). The rows of esi_route_caps were per route: they go (a cap starts whole, as on a
fresh budget). Downgrading restores 0008's functions from the frozen copies esi_reserve_0008.sql
and esi_settle_0008.sql, and an empty per-route table.
"""

from __future__ import annotations

from alembic import op

from killreport.store.sql import load

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_0008 = [
    "DROP FUNCTION IF EXISTS esi_reserve(text, integer, integer, double precision, integer,"
    " double precision, double precision, double precision, text, double precision, double precision,"
    " double precision, double precision, double precision, double precision, double precision,"
    " double precision)",
    "DROP FUNCTION IF EXISTS esi_settle(bigint, text, integer, boolean, integer, double precision, text,"
    " integer, double precision, integer, double precision, integer, double precision, double precision,"
    " double precision, double precision, integer, double precision, boolean, double precision,"
    " double precision, text, double precision, double precision, double precision, double precision,"
    " double precision, double precision, boolean, double precision, double precision, double precision,"
    " double precision)",
]
# p_cap_group before p_cap in both; p_cap_pause before p_now in esi_settle.
_0012 = [
    "DROP FUNCTION esi_reserve(text, integer, integer, double precision, integer, double precision,"
    " double precision, double precision, text, double precision, double precision, double precision,"
    " double precision, double precision, double precision, text, double precision, double precision)",
    "DROP FUNCTION esi_settle(bigint, text, integer, boolean, integer, double precision, text, integer,"
    " double precision, integer, double precision, integer, double precision, double precision,"
    " double precision, double precision, integer, double precision, boolean, double precision,"
    " double precision, text, double precision, double precision, double precision, double precision,"
    " double precision, text, double precision, boolean, double precision, double precision,"
    " double precision, double precision, double precision)",
]
_UP = [
    "DELETE FROM esi_route_caps",
    "ALTER TABLE esi_route_caps RENAME TO esi_cap_groups",
    "ALTER TABLE esi_cap_groups RENAME COLUMN route TO grp",
    "ALTER TABLE esi_cap_groups ADD COLUMN cut_at double precision NOT NULL DEFAULT 0",
    "ALTER TABLE esi_leases ADD COLUMN granted_at double precision NOT NULL DEFAULT 0",
]
_DOWN = [
    "ALTER TABLE esi_leases DROP COLUMN granted_at",
    "DELETE FROM esi_cap_groups",
    "ALTER TABLE esi_cap_groups DROP COLUMN cut_at",
    "ALTER TABLE esi_cap_groups RENAME COLUMN grp TO route",
    "ALTER TABLE esi_cap_groups RENAME TO esi_route_caps",
]


def upgrade() -> None:
    """Apply."""
    for statement in (*_0008, *_UP):
        op.execute(statement)
    load("esi_reserve.sql")
    load("esi_settle.sql")


def downgrade() -> None:
    """Revert to 0010: 0008's functions and per-route caps."""
    for statement in (*_0012, *_DOWN):
        op.execute(statement)
    load("esi_reserve_0008.sql")
    load("esi_settle_0008.sql")
