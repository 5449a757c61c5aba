"""R2z2Client: the feed's head pointer, its packages and its day files, every failure an R2z2Error.

Day files are parsed strictly: a file that is not the documented shape (a key that is not a killmail
id, a hash that is not 40 hex digits, a duplicate key, truncated JSON) is a MalformedBody as a whole.
A raw day is read only as far as its keys (raw.py): each killmail's JSON text is validated when taken,
so a day of 15,000 killmails is never held as Python objects at once, and a body that fails the schema
is a reason for that kill alone, never a silent drop.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, TypeAdapter

from killreport.domain.killmail import Package, Rejected
from killreport.domain.models import Id
from killreport.r2z2 import classify
from killreport.r2z2.errors import MalformedBody, NotFound
from killreport.r2z2.raw import RawDay, scan
from killreport.r2z2.transport import FeedRequest, FeedResponse, Transport

DEFAULT_URL: Final = "https://r2z2.zkillboard.com"
_DAY: Final = re.compile(r"^\d{8}$")
_FILE_BYTES: Final = 4 * 1024 * 1024  # one package: a killmail with hundreds of attackers is well under
_DAY_BYTES: Final = 1024 * 1024 * 1024  # a raw day holds every killmail of a day (a few hundred MB)


class _Sequence(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)
    sequence: Id


def _digits(key: str) -> str:
    if not key.isascii() or not key.isdigit():
        raise ValueError("not a decimal number")
    return key


_Key = Annotated[str, AfterValidator(_digits)]
_Hash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}$")]
_SEQUENCE: Final = TypeAdapter(_Sequence)
_HASHES: Final = TypeAdapter(dict[_Key, _Hash])
_TOTALS: Final = TypeAdapter(dict[_Key, Id])


class R2z2Client:
    """Typed access to the feed under `base_url` (https://r2z2.zkillboard.com, or the simulator's)."""

    def __init__(self, transport: Transport, *, base_url: str = DEFAULT_URL, user_agent: str,
                 timeout_s: float = 10.0, day_timeout_s: float = 300.0) -> None:
        self._transport = transport
        self._base = base_url.rstrip("/")
        self._headers = {"User-Agent": user_agent, "Accept": "application/json"}
        self._timeout, self._day_timeout = timeout_s, day_timeout_s

    async def sequence(self) -> int:
        """GET ephemeral/sequence.json: the head pointer (it lags the newest file)."""
        url, body = await self._get("/ephemeral/sequence.json", self._timeout, _FILE_BYTES)
        return classify.read(_SEQUENCE, body, url).sequence

    async def package(self, number: int) -> Package | Rejected | None:
        """GET ephemeral/{number}.json; None for a 404 (not yet, expired, or stale)."""
        try:
            url, body = await self._get(f"/ephemeral/{number}.json", self._timeout, _FILE_BYTES)
        except NotFound:
            return None
        found = classify.package(body, url)
        if found.sequence_id != number:
            raise MalformedBody(f"file {number} says it is {found.sequence_id}", url=url, status=200)
        return found

    async def day(self, day: str) -> dict[int, str] | None:
        """GET history/{day}.json: killmail id → hash; None while the day is not over or had no kill."""
        got = await self._history(f"/history/{_checked(day)}.json")
        if got is None:
            return None
        body, url = got
        return {int(k): v for k, v in classify.read(_HASHES, _unique_keys(body, url), url).items()}

    async def raw_day(self, day: str) -> RawDay | None:
        """GET history/raw/{day}.json: the day's killmails, each read when taken; None while the day
        is not over or had no kill (or R2Z2 has no raw file for it)."""
        got = await self._history(f"/history/raw/{_checked(day)}.json")
        return None if got is None else scan(*got)

    async def totals(self) -> dict[str, int]:
        """GET history/totals.json: kills per day."""
        url, body = await self._get("/history/totals.json", self._day_timeout, _FILE_BYTES)
        return classify.read(_TOTALS, body, url)

    async def _history(self, path: str) -> tuple[bytes, str] | None:
        try:
            url, body = await self._get(path, self._day_timeout, _DAY_BYTES)
        except NotFound:
            return None
        return body, url

    async def _get(self, path: str, timeout_s: float, max_bytes: int) -> tuple[str, bytes]:
        url = self._base + path
        response: FeedResponse = await self._transport(FeedRequest(url, self._headers, timeout_s, max_bytes))
        error = classify.failure(response, url)
        if error is not None:
            raise error
        return url, response.body


def _checked(day: str) -> str:
    if not _DAY.match(day):
        raise ValueError(f"a day is YYYYMMDD, not {day!r}")
    return day


def _unique_keys(body: bytes, url: str) -> bytes:
    """`body` when its top-level keys are unique (JSON would keep the last of two silently)."""
    scan(body, url)
    return body
