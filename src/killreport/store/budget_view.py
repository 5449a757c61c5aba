"""How the status readers (`status`, `status --watch`, `sync-all --wait`'s progress, the web) see the
shared budget: by the rules Settings configure (wiring.budget_view builds it, the one place), on the
store's clock unless a test gives its own. It reads the store, so it lives in it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from killreport.domain.budget import BudgetSnapshot
from killreport.domain.budget_rules import Rules

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from killreport.store.interface import Store


@dataclass(frozen=True, slots=True)
class BudgetView:
    """The configured rules, and the clock to read the budget at (None: the store's own)."""

    rules: Rules
    clock: Callable[[], float] | None = None

    async def snapshot(self, store: Store, conn: AsyncConnection) -> BudgetSnapshot:
        """The budget snapshot as the status readers show it."""
        now = None if self.clock is None else self.clock()
        return await store.admin.budget_snapshot(conn, self.rules, now)
