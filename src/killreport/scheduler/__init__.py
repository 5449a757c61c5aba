"""The scheduler: one active process keeps the copy fresh. Distributed, any number run and a
PostgreSQL advisory lock elects one; embedded, it runs inside the file's one runner.

It re-queues entities whose Expires has passed, spread out (rules.release_count), refreshes the
alliance list and marks alliances that left it closed, sweeps characters' affiliations, and
takes the daily snapshots (snapshots.py).

    rules       the pure decisions (their shapes, which the store reads too, are domain/schedule.py)
    main        a scheduler process's life; standalone: `killreport run`

This package's root imports nothing: `from killreport.scheduler import main` must not pull in
more than it names.
"""

__all__ = ["alliances", "context", "lock", "main", "refresh", "retry", "rules", "snapshots", "standalone",
           "sweep"]
