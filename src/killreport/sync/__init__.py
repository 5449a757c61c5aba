"""Syncing, the same in both modes: what a job asks for and what it leads to (plan), asking (fetch),
doing one job (process), putting entities on the queues (enqueue), and the sync commands' stages and
waiting (orchestrate).
"""

from killreport.sync.enqueue import enqueue, republish_stale
from killreport.sync.fetch import EsiSource
from killreport.sync.orchestrate import Progress, wait_until_done
from killreport.sync.plan import Children, children_of, requestable
from killreport.sync.process import JobProcessor

__all__ = [
    "Children", "EsiSource", "JobProcessor", "Progress", "children_of", "enqueue", "republish_stale",
    "requestable", "wait_until_done",
]
