"""Route caps in the budget: esi_route_caps (when a capped route's next request may go, and the share
of its cap its last headerless 429s left it), and the functions reloaded with the caps' arguments
(store/sql/esi_reserve.sql, esi_settle.sql).

A changed argument list is a new function beside the old one, so 0006's signatures are dropped
first (IF EXISTS: a database migrated from empty got today's from 0003 and 0006, which load the
current files). Downgrading restores them from the frozen copies esi_reserve_0006.sql and
esi_settle_0006.sql.
"""

from __future__ import annotations

from alembic import op

from killreport.store.sql import load

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_0006 = [
    "DROP FUNCTION IF EXISTS esi_reserve(text, integer, integer, double precision, integer, double precision,"
    " double precision, double precision, text, double precision, double precision, double precision,"
    " double precision, double precision, double precision, double precision)",
    "DROP FUNCTION IF EXISTS esi_settle(bigint, text, integer, boolean, integer, double precision, text,"
    " integer, double precision, integer, double precision, integer, double precision, double precision,"
    " double precision, double precision, integer, double precision, boolean, double precision,"
    " double precision, text, double precision, double precision, double precision, double precision,"
    " double precision, double precision)",
]
# p_cap before p_now; p_cap, p_hidden, p_cap_recover, p_cap_min_factor and p_cap_cut before p_now.
_0008 = [
    "DROP FUNCTION esi_reserve(text, integer, integer, double precision, integer, double precision,"
    " double precision, double precision, text, double precision, double precision, double precision,"
    " double precision, double precision, double precision, double precision, double precision)",
    "DROP FUNCTION esi_settle(bigint, text, integer, boolean, integer, double precision, text, integer,"
    " double precision, integer, double precision, integer, double precision, double precision,"
    " double precision, double precision, integer, double precision, boolean, double precision,"
    " double precision, text, double precision, double precision, double precision, double precision,"
    " double precision, double precision, boolean, double precision, double precision, double precision,"
    " double precision)",
]
_TABLE = """CREATE TABLE esi_route_caps (
    route text PRIMARY KEY,
    next_at double precision NOT NULL,
    factor double precision NOT NULL,
    reduced_until double precision NOT NULL,
    hits integer NOT NULL
)"""


def upgrade() -> None:
    """Apply."""
    for statement in _0006:
        op.execute(statement)
    op.execute(_TABLE)
    load("esi_reserve.sql")
    load("esi_settle.sql")


def downgrade() -> None:
    """Revert to 0007: 0006's functions, no caps."""
    for statement in _0008:
        op.execute(statement)
    op.execute("DROP TABLE esi_route_caps")
    load("esi_reserve_0006.sql")
    load("esi_settle_0006.sql")
