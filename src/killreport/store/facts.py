"""The cache facts stored beside every copy, from a 200 or a 304: when it may be requested again."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from killreport.domain.cache import Fetched, NotModified


@dataclass(frozen=True, slots=True)
class CacheFacts:
    """When a copy was fetched and until when ESI says it stays current."""

    fetched_at: dt.datetime
    expires_at: dt.datetime | None
    etag: str | None
    last_modified: dt.datetime | None

    @classmethod
    def of(cls, fetched: Fetched[object], fetched_at: dt.datetime) -> CacheFacts:
        """The cache facts of a response received at `fetched_at`."""
        return cls(fetched_at=fetched_at, expires_at=fetched.expires_at, etag=fetched.etag,
                   last_modified=fetched.last_modified)

    def columns(self, prefix: str = "") -> dict[str, dt.datetime | str | None]:
        """As row columns, optionally prefixed (`members_`); a 200 also confirms the copy (`checked_at`)."""
        return {
            f"{prefix}fetched_at": self.fetched_at,
            f"{prefix}expires_at": self.expires_at,
            f"{prefix}etag": self.etag,
            f"{prefix}last_modified": self.last_modified,
            f"{prefix}checked_at": self.fetched_at,
        }


@dataclass(frozen=True, slots=True)
class Revalidated:
    """A 304: the stored copy is confirmed current until a new Expires; nothing else about it changed."""

    checked_at: dt.datetime
    expires_at: dt.datetime | None

    @classmethod
    def of(cls, not_modified: NotModified, checked_at: dt.datetime) -> Revalidated:
        """The facts of a 304 received at `checked_at`."""
        return cls(checked_at=checked_at, expires_at=not_modified.expires_at)

    def columns(self, prefix: str = "") -> dict[str, dt.datetime | None]:
        """The only columns a 304 moves (optionally prefixed, `members_`): Expires and when it was checked."""
        return {f"{prefix}expires_at": self.expires_at, f"{prefix}checked_at": self.checked_at}
