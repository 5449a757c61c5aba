"""ScheduleQueries on PostgreSQL (store/schedule.py; changes from store/changes.py)."""

from killreport.store.changes import record as record_changes
from killreport.store.schedule import (
    affiliations,
    alliance_list,
    apply_moves,
    claim_lease,
    close_alliances,
    drop_lease,
    due_count,
    due_ids,
    heartbeat,
    hold_list,
    hold_sweep_until,
    leader,
    mark_sweep_started,
    missing,
    reopen_alliances,
    stored_alliances,
    sweep_ids,
    sweep_marks,
    touch_list,
    tracked,
    try_lock,
    unlock,
)

__all__ = [
    "affiliations", "alliance_list", "apply_moves", "claim_lease", "close_alliances", "drop_lease",
    "due_count", "due_ids", "heartbeat", "hold_list", "hold_sweep_until", "leader", "mark_sweep_started",
    "missing", "record_changes", "reopen_alliances", "stored_alliances", "sweep_ids", "sweep_marks",
    "touch_list", "tracked", "try_lock", "unlock",
]
