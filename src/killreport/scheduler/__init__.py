"""The scheduler: one active process (an advisory lock elects it) keeps the copy fresh.

It re-queues entities whose Expires has passed, spread out (rules.release_count), refreshes the
alliance list and marks alliances that left it closed, and sweeps characters' affiliations.
"""

from killreport.scheduler.main import run
from killreport.scheduler.standalone import run_all

__all__ = ["run", "run_all"]
