"""The ESI budget every process of one copy shares, as backends of domain/budget.py's Budget
protocol. Embedded, it lives in the memory of the one process that talks to ESI on the file;
distributed, in PostgreSQL.

    sqlite    RunnerBudget: MemoryBudget in the runner, its State written to the file for `status`
              and the next runner (embedded)
    pg        PgBudget: the same rules in PL/pgSQL (store/sql), one round trip per reserve and settle
              (distributed)
    memory    MemoryBudget: the rules held in one process

The pure rules and the protocol are domain/budget_rules.py and domain/budget.py: the store reads
and writes their state (the SQL side of both backends), so they sit below it, and these backends,
which open the store, above it.
"""

from typing import TYPE_CHECKING

from killreport._lazy import lazy_exports
from killreport.budget.memory import MemoryBudget

if TYPE_CHECKING:
    from killreport.budget.pg import PgBudget

# Imported when first named: asyncpg is ~25 ms of every embedded command's start, which never
# uses it (python -X importtime).
__getattr__ = lazy_exports(__name__, {"PgBudget": "killreport.budget.pg"})

__all__ = ["MemoryBudget", "PgBudget"]
