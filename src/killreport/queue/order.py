"""Which queue each delivery of a table-queue fill comes from: a pure function, no I/O.

The cascade's last kind (characters: they lead to nothing) goes first; the other queues share what
is left in turn, and each of them that has work gets at least one delivery per fill, so a long
backlog of characters delays alliances and corporations but never starves them.

Why characters first (the embedded runner's only consumer; RabbitMQ's consumers are left as
they are): the universe's deleted characters answer 404, each an error against ESI's 100 per
60-second window, and past about 57 in one window the budget lets fewer requests fly until the
window ends. Taken in turn, characters trail their corporations, pile up, and run alone at the end,
where their errors bunch into one window and its last 20 s run at a handful of leases. Taken as
soon as they are found, their errors spread over the run in step with the cascade. Measured with
`.venv/bin/python bench/embedded.py --latency-ms 30 --jitter-ms 40` (full default universe, 2-core
VM), alternating trees: 110.2-115.8 s against 112.6-120.6 s in turn, the second window's errors
74-77 against 83-85; 1-3 s at 50-70 ms; no change where errors bound the run
(docs/performance.md, 2026-12-01).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Final

from killreport.ids import KINDS
from killreport.queue.broker import QUEUE_NAMES

# The queue of the cascade's last kind (KINDS is in cascade order): what its jobs find is nothing.
LEAVES: Final[frozenset[str]] = frozenset({QUEUE_NAMES[KINDS[-1]]})


def delivery_order(ready: Mapping[str, int], queues: Sequence[str], first: Collection[str],
                   room: int) -> list[str]:
    """The queue of each of the next `room` (at most) deliveries, given the rows `ready` in each."""
    others = [q for q in queues if q not in first and ready.get(q, 0) > 0]
    out: list[str] = []
    for queue in queues:
        if queue in first:
            take = min(ready.get(queue, 0), room - min(len(others), room) - len(out))
            out.extend([queue] * max(take, 0))
    left = {q: ready[q] for q in others}
    while len(out) < room and any(left.values()):
        for queue in others:
            if left[queue] and len(out) < room:
                out.append(queue)
                left[queue] -= 1
    return out
