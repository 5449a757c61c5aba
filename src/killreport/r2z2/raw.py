"""A day file read as far as its keys: one JSON object of killmail ids, each value's text located, not built.

Why: a raw day holds every killmail of a day (15,000, some 70 MB). Built as Python objects at once it
would take several times that; located, each killmail is validated (strictly, from its own JSON text)
when the back-fill takes it, a batch at a time. The file's shape is still checked whole when it
arrives: one object, keys that are killmail ids, no key twice (JSON would keep the last silently), each
value complete JSON, nothing after it. Anything else is a MalformedBody for the file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Final

from pydantic import TypeAdapter, ValidationError

from killreport.domain.killmail import Killmail
from killreport.ids import is_valid_id
from killreport.r2z2 import classify
from killreport.r2z2.errors import MalformedBody

_WS: Final = re.compile(r"[ \t\n\r]*")
_DECODER: Final = json.JSONDecoder()
_KILLMAIL: Final = TypeAdapter(Killmail)


@dataclass(frozen=True, slots=True)
class RawDay:
    """A raw day file: its text and where each killmail's JSON lies in it."""

    text: str
    spans: dict[int, tuple[int, int]]

    def killmail(self, killmail_id: int) -> Killmail | str:
        """The killmail under `killmail_id`, or why it fails CCP's schema (or names another id)."""
        start, end = self.spans[killmail_id]
        try:
            found = _KILLMAIL.validate_json(self.text[start:end], strict=True)
        except ValidationError as exc:
            return classify.reason(exc)
        if found.killmail_id != killmail_id:
            return f"its killmail_id {found.killmail_id} is not its key {killmail_id}"
        return found


def scan(body: bytes, url: str) -> RawDay:
    """The day file located (its text kept), or MalformedBody when it is not the documented shape."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedBody("unreadable body: not UTF-8", url=url, status=200) from None
    return RawDay(text, members(text, url))


def members(text: str, url: str) -> dict[int, tuple[int, int]]:
    """Where each member's value lies in the one JSON object `text` is, by its key read as an id."""
    spans: dict[int, tuple[int, int]] = {}
    at = _expect(text, _skip(text, 0), "{", url)
    if text.startswith("}", _skip(text, at)):
        return _ended(text, _skip(text, at) + 1, spans, url)
    while True:
        key, at = _key(text, _skip(text, at), url)
        start = _skip(text, _expect(text, _skip(text, at), ":", url))
        at = _value_end(text, start, url)
        if key in spans:
            raise MalformedBody(f"killmail id {key} appears twice", url=url, status=200)
        spans[key] = (start, at)
        at = _skip(text, at)
        if text.startswith("}", at):
            return _ended(text, at + 1, spans, url)
        at = _expect(text, at, ",", url)


def _skip(text: str, at: int) -> int:
    found = _WS.match(text, at)
    return at if found is None else found.end()


def _expect(text: str, at: int, char: str, url: str) -> int:
    """The position after `char` at `at`, or MalformedBody."""
    if not text.startswith(char, at):
        raise MalformedBody(f"not one JSON object of killmail ids: {char!r} expected at {at}",
                            url=url, status=200)
    return at + 1


def _key(text: str, at: int, url: str) -> tuple[int, int]:
    """A member's key read as a killmail id, and where it ends."""
    if not text.startswith('"', at):
        raise MalformedBody(f"not one JSON object of killmail ids: a key expected at {at}",
                            url=url, status=200)
    end = _value_end(text, at, url)
    key = text[at + 1:end - 1]
    if not key.isascii() or not key.isdigit() or len(key) > 19 or not is_valid_id(int(key)):
        raise MalformedBody(f"key {key[:40]!r} is not a killmail id", url=url, status=200)
    return int(key), end


def _value_end(text: str, at: int, url: str) -> int:
    """Where the JSON value starting at `at` ends (it is built and dropped: the C scanner is fastest)."""
    try:
        return int(_DECODER.raw_decode(text, at)[1])
    except (ValueError, RecursionError) as exc:
        raise MalformedBody(f"unreadable body: {type(exc).__name__} at {at}", url=url, status=200) from None


def _ended(text: str, at: int, spans: dict[int, tuple[int, int]], url: str) -> dict[int, tuple[int, int]]:
    if _skip(text, at) != len(text):
        raise MalformedBody(f"text after the JSON object at {at}", url=url, status=200)
    return spans
