"""The job message: one entity to sync, as compact versioned JSON.

`decode` is the trust boundary for whatever arrives on a queue, so it never raises anything but
MessageError, whose text says exactly what is wrong (it ends up in the dead-letter headers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from killreport.ids import KINDS, MAX_ID, Kind, is_valid_id

VERSION: Final = 1
# A job is ~60 bytes; the cap keeps a hostile body from costing much to reject.
MAX_BODY_BYTES: Final = 4096
_FIELDS: Final = ("v", "kind", "id", "attempt")


class MessageError(ValueError):
    """A message body that is not a valid Job; `reason` says why, for a human."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Job:
    """Sync entity `id` of `kind`; `attempt` counts transient failures so far."""

    kind: Kind
    id: int
    attempt: int = 0

    def __post_init__(self) -> None:
        _check_kind(self.kind)
        _check_int("id", self.id)
        _check_int("attempt", self.attempt)
        _check_range(self.id, self.attempt)


def encode(job: Job) -> bytes:
    """The compact JSON body for `job`."""
    payload = {"v": VERSION, "kind": job.kind, "id": job.id, "attempt": job.attempt}
    return json.dumps(payload, separators=(",", ":")).encode()


def decode(body: bytes) -> Job:
    """Parse a message body, or raise MessageError saying precisely what is wrong with it."""
    data = _parse(body)
    extra = sorted(set(data) - set(_FIELDS))
    if extra:
        raise MessageError(f"unexpected field(s) {', '.join(map(repr, extra))}")
    for name in _FIELDS:
        if name not in data:
            raise MessageError(f"missing field {name!r}")
    version = data["v"]
    _check_int("v", version)
    if version != VERSION:
        raise MessageError(f"unsupported message version {version}; expected {VERSION}")
    kind, entity_id, attempt = data["kind"], data["id"], data["attempt"]
    _check_kind(kind)
    _check_int("id", entity_id)
    _check_int("attempt", attempt)
    _check_range(entity_id, attempt)
    return Job(kind=kind, id=entity_id, attempt=attempt)


def _parse(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_BODY_BYTES:
        raise MessageError(f"body is {len(body)} bytes; a job is at most {MAX_BODY_BYTES}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MessageError(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise MessageError("body is not JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and int literals beyond Python's digit limit
        raise MessageError(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MessageError(f"body is JSON {_type_name(data)}, expected an object")
    return data


def _check_kind(kind: object) -> None:
    if not isinstance(kind, str):
        raise MessageError(f"field 'kind' must be a string, got {_type_name(kind)}")
    if kind not in KINDS:
        raise MessageError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")


def _check_int(name: str, value: object) -> None:
    # bool is an int subclass, but `true` is never a meaningful id or attempt.
    if isinstance(value, bool) or not isinstance(value, int):
        raise MessageError(f"field {name!r} must be an integer, got {_type_name(value)}")


def _check_range(entity_id: int, attempt: int) -> None:
    if not is_valid_id(entity_id):
        raise MessageError(f"id {entity_id} is out of range 1..{MAX_ID}")
    if attempt < 0:
        raise MessageError(f"attempt must be >= 0, got {attempt}")


def _type_name(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
