"""Dead letters as headers and back, shared by RabbitBroker and StubBroker so both agree."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

from killreport.ids import Kind
from killreport.queue.broker import QUEUE_NAMES, DeadLetter
from killreport.queue.messages import Job, MessageError, decode

# Headers travel in every frame of the message; a traceback-sized error must not blow that up.
MAX_ERROR_CHARS: Final = 2000


def letter_headers(letter: DeadLetter, dead_at: dt.datetime) -> dict[str, Any]:
    """The `x-kr-*` headers that record why `letter` died (caller's extra headers kept, ours win)."""
    headers: dict[str, Any] = dict(letter.headers)
    headers.update(
        {
            "x-kr-reason": letter.reason,
            "x-kr-attempts": letter.attempts,
            "x-kr-last-error": letter.last_error[:MAX_ERROR_CHARS],
            "x-kr-dead-at": dead_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
        }
    )
    # AMQP has no null worth relying on across clients: unknown fields are simply absent.
    if letter.kind is not None:
        headers["x-kr-kind"] = letter.kind
        queue = next((name for kind, name in QUEUE_NAMES.items() if kind == letter.kind), None)
        if queue is not None:
            headers["x-kr-queue"] = queue
    if letter.entity_id is not None:
        headers["x-kr-id"] = letter.entity_id
    return headers


def letter_from(body: bytes, headers: Mapping[str, Any]) -> DeadLetter:
    """Rebuild a DeadLetter from a stored body and its headers, tolerating missing ones."""
    kind = headers.get("x-kr-kind")
    entity_id = headers.get("x-kr-id")
    attempts = headers.get("x-kr-attempts")
    return DeadLetter(
        body=body,
        kind=kind if isinstance(kind, str) else None,
        entity_id=entity_id if isinstance(entity_id, int) and not isinstance(entity_id, bool) else None,
        reason=str(headers.get("x-kr-reason", "")),
        attempts=attempts if isinstance(attempts, int) else 0,
        last_error=str(headers.get("x-kr-last-error", "")),
        headers=dict(headers),
    )


def replay_job(body: bytes, kind: Kind | None) -> Job | None:
    """The job to publish again for a dead body (attempt reset to 0), or None to leave it dead."""
    try:
        job = decode(body)
    except MessageError:
        return None
    if kind is not None and job.kind != kind:
        return None
    return Job(kind=job.kind, id=job.id)
