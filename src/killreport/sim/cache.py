"""Rendered bodies with their ETag, Last-Modified and Expires, shared by all clients like ESI's cache."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any


def dumps(data: Any) -> bytes:
    """Compact UTF-8 JSON, as ESI writes it."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def etag_of(body: bytes) -> str:
    """A strong, quoted ETag derived from the body."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def http_date(ts: float) -> str:
    """An RFC 7231 date."""
    return formatdate(ts, usegmt=True)


@dataclass(slots=True)
class Entry:
    """One rendered resource; times are whole epoch seconds so the headers say them exactly."""

    revision: int
    data: Any
    body: bytes
    etag: str
    last_modified: int
    expires: int
    last_modified_text: str
    expires_text: str


class BodyCache:
    """Entries by (canonical path, schema variant); re-rendered once expired or changed."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, int], Entry] = {}

    def get(self, key: tuple[str, int], revision: int, now: float, ttl: float,
            render: Callable[[], Any]) -> Entry:
        """The entry for `key`, rendering it again if it expired or its resource changed."""
        entry = self._entries.get(key)
        if entry is not None and entry.revision == revision and now < entry.expires:
            return entry
        data = render()
        body = dumps(data)
        etag = etag_of(body)
        modified = entry.last_modified if entry is not None and entry.etag == etag else int(now)
        expires = math.ceil(now + ttl)
        fresh = Entry(revision, data, body, etag, modified, expires, http_date(modified), http_date(expires))
        self._entries[key] = fresh
        return fresh

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()

    def __len__(self) -> int:
        """How many entries are held."""
        return len(self._entries)

    def prune(self, now: float) -> None:
        """Forget every expired entry (the next request renders it again, with Last-Modified then)."""
        self._entries = {key: entry for key, entry in self._entries.items() if now < entry.expires}
