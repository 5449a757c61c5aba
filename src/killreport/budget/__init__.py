"""The ESI budget every process of one copy shares: reserve before sending, settle with what ESI
reported. Embedded, it lives in a row of the SQLite file; distributed, in PostgreSQL.

    rules     the pure decisions (decide, apply_settle) on an immutable State; every number in Rules
    sqlite    SqliteBudget: the rules in Python, their State in the file's one budget row (embedded)
    pg        PgBudget: the same rules in PL/pgSQL (store/sql), one round trip per reserve and settle
              (distributed)
    memory    MemoryBudget: the rules held in one process
    types     the Budget protocol the ESI client talks to, Lease, BudgetSnapshot
    view      BudgetView: how the status readers see the budget, by the rules Settings configure
"""

from typing import TYPE_CHECKING

from killreport._lazy import lazy_exports
from killreport.budget.memory import MemoryBudget
from killreport.budget.rules import RULES, Limits, Rules, apply_settle, decide
from killreport.budget.types import BucketState, Budget, BudgetSnapshot, Lease

if TYPE_CHECKING:
    from killreport.budget.pg import PgBudget

# Imported when first named: asyncpg is ~25 ms of every embedded command's start, which never
# uses it (python -X importtime).
__getattr__ = lazy_exports(__name__, {"PgBudget": "killreport.budget.pg"})

__all__ = [
    "RULES", "BucketState", "Budget", "BudgetSnapshot", "Lease", "Limits", "MemoryBudget", "PgBudget",
    "Rules", "apply_settle", "decide",
]
