"""The scheduler: one active process keeps the copy fresh. Distributed, any number run and a
PostgreSQL advisory lock elects one; embedded, it runs inside the file's one runner.

It re-queues entities whose Expires has passed, spread out (rules.release_count), refreshes the
alliance list and marks alliances that left it closed, and sweeps characters' affiliations.

    rules       the pure decisions (and the shapes the store reads and writes for them)
    main        a scheduler process's life; standalone: `killreport run`

This package's root imports only the pure rules: the store names their shapes, and importing a
process's wiring from here would make every store import pull in the whole scheduler.
"""

from killreport.scheduler.rules import Affiliated, Move, StoredAlliance

__all__ = ["Affiliated", "Move", "StoredAlliance"]
