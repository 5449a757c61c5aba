"""EVE's rich text (descriptions, titles) as safe HTML: a pure, total function of the player's string.

The game writes a small HTML-like language: `<br>`, `<b>`, `<i>`, `<u>`, `<font size= color=>`,
`<color=0xAARRGGBB>`, `<loc>`, `<a href="showinfo:TYPE//ID">` and `<url=...>`. `render` turns
exactly those into HTML this site writes itself; nothing of the player's string reaches the page
but escaped text and values that passed a check (an id, hex digits, an http(s) URL):

- `<b>`, `<i>`, `<u>` and `<br>` become themselves; `<loc>` and `<localized>` wrappers vanish.
- showinfo links to alliances, corporations and characters become links to their pages here;
  other showinfo targets (ships, systems) and links of any other scheme become their label's text;
  http(s) links become links out with rel="nofollow noopener noreferrer".
- A colour becomes classes, never a style attribute (see `_colour_classes`); a size, one of a few
  size classes.
- Any other tag is shown as the text it is; a closing tag with nothing open of its name vanishes;
  a closing tag that skips open ones closes them and reopens them after (as browsers do with
  misnested formatting); whatever is still open at the end is closed.
- Entities in the source (`&gt;`) are read once and written escaped once: never doubled.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from killreport.ids import MAX_ID, Kind, is_special

# A tag candidate: no `<` or `>` inside, so lexing is one linear pass whatever the input.
_TAG: Final = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]{0,31})([^<>]{0,2048})>")
_ATTR: Final = re.compile(r"""([A-Za-z_][-\w:.]*)\s*=\s*("[^"]*"|'[^']*'|[^\s"'<>`]+)""")
_SHOWINFO: Final = re.compile(r"showinfo:(\d{1,9})//(\d{1,19})", re.IGNORECASE | re.ASCII)
_HEX: Final = re.compile(r"(?:#|0x)?([0-9a-f]{8}|[0-9a-f]{6})", re.IGNORECASE)
_PY_WRAPPED: Final = re.compile(r"""\s*u(['"])(.*)\1\s*""", re.DOTALL)
_PY_ESCAPE: Final = re.compile(r"""\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|[nrt'"\\])""")
_PY_SIMPLE: Final = {"n": "\n", "r": "\r", "t": "\t", "'": "'", '"': '"', "\\": "\\"}

# EVE's type ids of the entities this site has pages for.
ALLIANCE_TYPE: Final = 16159
CORPORATION_TYPE: Final = 2
CHARACTER_TYPES: Final = frozenset({*range(1373, 1387), 34574})
# links.PLURAL, repeated so this module stays free of the web server's imports.
_PLURAL: Final[dict[Kind, str]] = {
    "alliance": "alliances", "corporation": "corporations", "character": "characters"}
EXTERNAL_REL: Final = "nofollow noopener noreferrer"
# A size (12 is EVE's normal text) becomes the nearest of these, clamped, each a class in style.css:
# a few steps read as the author meant, and no size can fill or shrink away the page.
SIZES: Final = (8, 10, 12, 14, 18, 24, 32)
# A few colour names players write besides hex, as RRGGBB.
_NAMED: Final = {"white": "ffffff", "black": "000000", "red": "ff0000", "green": "00ff00",
                 "blue": "0000ff", "yellow": "ffff00", "orange": "ff8000", "gray": "808080",
                 "grey": "808080", "cyan": "00ffff", "magenta": "ff00ff", "purple": "800080"}
# Nesting deeper than this is dropped: it bounds the work of reopening misnested tags, so the
# output stays within a constant factor of the input, whatever the input.
MAX_DEPTH: Final = 16
_FORMATTING: Final = frozenset({"b", "i", "u"})
_WRAPPERS: Final = frozenset({"loc", "localized"})


@dataclass(frozen=True)
class _Open:
    """An element the output has open: its source tag name and the HTML that opens and closes it."""

    name: str
    start: str
    end: str
    link: bool = False


def unwrap_python(text: str) -> str:
    """A description ESI handed over as a Python literal (`u'...'` with `\\u` escapes) as plain text.

    Only a string wrapped whole in u'...' or u"..." is read so; anything else comes back unchanged.
    """
    wrapped = _PY_WRAPPED.fullmatch(text)
    if wrapped is None:
        return text
    decoded = _PY_ESCAPE.sub(_python_escape, wrapped.group(2))
    # Escaped surrogate pairs (emoji) join up; a lone surrogate becomes U+FFFD.
    return decoded.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _python_escape(match: re.Match[str]) -> str:
    code = match.group(1)
    if code in _PY_SIMPLE:
        return _PY_SIMPLE[code]
    value = int(code[1:], 16)
    return chr(value) if value <= 0x10FFFF else "\ufffd"


def _text(source: str) -> str:
    """Source text as HTML: its entities read, then everything escaped (so `&gt;` stays one `>`)."""
    return html.escape(html.unescape(source), quote=False)


def _attributes(rest: str) -> dict[str, str]:
    """A tag's attributes (names in lower case, values unquoted and their entities read)."""
    found: dict[str, str] = {}
    for name, value in _ATTR.findall(rest):
        if value[:1] in "\"'" and len(value) >= 2:
            value = value[1:-1]
        found.setdefault(name.lower(), html.unescape(value).strip())
    return found


def _eve_value(rest: str) -> str:
    """The value of EVE's own `<color=...>` / `<url=...>` form, unquoted."""
    value = rest.strip()
    if value.startswith("="):
        value = value[1:].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return html.unescape(value).strip()


def colour(value: str) -> tuple[int, int, int, int] | None:
    """An EVE colour (`#AARRGGBB`, `0xAARRGGBB`, `#RRGGBB` or a plain name) as red, green, blue, alpha."""
    value = value.strip().lower()
    digits = _NAMED.get(value)
    if digits is None:
        found = _HEX.fullmatch(value)
        if found is None:
            return None
        digits = found.group(1)
    if len(digits) == 6:
        digits = "ff" + digits
    alpha, red, green, blue = (int(digits[n:n + 2], 16) for n in range(0, 8, 2))
    return red, green, blue, alpha


def _colour_classes(value: str) -> list[str]:
    """Classes that show an EVE colour under a CSP without 'unsafe-inline'.

    A style attribute would need 'unsafe-inline' (or 'unsafe-hashes') in style-src, and a script
    setting colours would leave them out without JavaScript. Instead each channel, alpha included,
    is rounded to one hex digit and named by a class that sets one custom property (`cr-f` sets
    --cr: 255); style.css's `.ec` computes the colour from the four. 64 small rules give 4,096
    colours at 16 alphas, within 8/255 of the original per channel: no visible difference in text.
    """
    found = colour(value)
    if found is None:
        return []
    nibbles = (format(round(v / 17), "x") for v in found)
    return ["ec", *(f"c{p}-{n}" for p, n in zip("rgba", nibbles, strict=True))]


def size_class(value: str) -> str | None:
    """The class of an EVE font size (clamped to SIZES, the nearest one), or None if not a number."""
    try:
        size = float(value.strip())
    except ValueError:
        return None
    if size != size:  # NaN
        return None
    size = min(max(size, SIZES[0]), SIZES[-1])  # before comparing: infinity is as far from them all
    nearest = min(SIZES, key=lambda s: (abs(s - size), s))
    return f"fs-{nearest}"


def site_target(href: str) -> str | None:
    """The page here of a showinfo link to an alliance, corporation or character, else None."""
    found = _SHOWINFO.fullmatch(href.strip())
    if found is None:
        return None
    type_id, item_id = int(found.group(1)), int(found.group(2))
    kind: Kind | None = ("alliance" if type_id == ALLIANCE_TYPE else
                         "corporation" if type_id == CORPORATION_TYPE else
                         "character" if type_id in CHARACTER_TYPES else None)
    if kind is None or not 0 < item_id <= MAX_ID or is_special(kind, item_id):
        return None
    return f"/{_PLURAL[kind]}/{item_id}"


def external_target(href: str) -> str | None:
    """`href` if it is a plain http(s) URL with a host (no spaces or control characters), else None."""
    href = href.strip()
    if not href or any(ch <= " " or ch == "\x7f" for ch in href):
        return None
    try:
        parts = urlsplit(href)
        usable = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # an unclosed IPv6 bracket, a bad port
        return None
    return href if usable else None


def _link(href: str) -> tuple[str, str] | None:
    """The start tag of a link to `href` and its kind of link, or None when it stays text."""
    inside = site_target(href)
    if inside is not None:
        return f'<a href="{inside}" class="eve-link">', "site"
    outside = external_target(href)
    if outside is not None:
        return f'<a href="{html.escape(outside)}" rel="{EXTERNAL_REL}" class="eve-out">', "out"
    return None


class _Writer:
    """The output and the elements it has open; every method keeps the HTML well formed."""

    def __init__(self, inline: bool) -> None:
        self.inline = inline
        self.parts: list[str] = []
        self.stack: list[_Open] = []

    def open(self, element: _Open) -> None:
        """Open `element` unless the nesting is already MAX_DEPTH deep."""
        if len(self.stack) < MAX_DEPTH:
            self.stack.append(element)
            self.parts.append(element.start)

    def close(self, name: str) -> None:
        """Close the innermost open `name`, closing and then reopening what was opened inside it."""
        at = next((n for n in range(len(self.stack) - 1, -1, -1) if self.stack[n].name == name), None)
        if at is None:
            return
        inner = self.stack[at + 1:]
        for element in reversed(self.stack[at:]):
            self.parts.append(element.end)
        del self.stack[at:]
        for element in inner:
            if not element.link:  # a link reopened would be a second link
                self.open(element)

    def finish(self) -> str:
        """The HTML, with everything still open closed."""
        self.parts.extend(element.end for element in reversed(self.stack))
        self.stack.clear()
        return "".join(self.parts)

    @property
    def in_link(self) -> bool:
        """Whether a link is open (links do not nest)."""
        return any(element.link for element in self.stack)


def _span(name: str, classes: list[str]) -> _Open:
    if not classes:
        return _Open(name, "", "")
    return _Open(name, f'<span class="{" ".join(classes)}">', "</span>")


def _font(name: str, rest: str, out: _Writer) -> _Open:
    attributes = _attributes(rest)
    if out.inline:  # a title sits in a line of the page: its own size and colour stay out of it
        return _Open(name, "", "")
    size = size_class(attributes.get("size", ""))
    return _span(name, ([size] if size else []) + _colour_classes(attributes.get("color", "")))


def _colour(name: str, rest: str, out: _Writer) -> _Open:
    return _Open(name, "", "") if out.inline else _span(name, _colour_classes(_eve_value(rest)))


def _anchor(name: str, rest: str, out: _Writer) -> _Open:
    href = _eve_value(rest) if name == "url" else _attributes(rest).get("href", "")
    made = None if out.in_link else _link(href)
    if made is None:
        return _Open(name, "", "")
    return _Open(name, made[0], "</a>", link=True)


_OPENERS: Final[dict[str, Callable[[str, str, _Writer], _Open]]] = {
    "font": _font, "color": _colour, "a": _anchor, "url": _anchor,
    **{tag: lambda name, _rest, _out: _Open(name, f"<{name}>", f"</{name}>") for tag in _FORMATTING},
    **{tag: lambda name, _rest, _out: _Open(name, "", "") for tag in _WRAPPERS},
}


def _tag(match: re.Match[str], out: _Writer) -> None:
    closing, name, rest = match.group(1), match.group(2).lower(), match.group(3)
    if name == "br":
        if not closing:
            out.parts.append(" " if out.inline else "<br>")
    elif name not in _OPENERS:
        out.parts.append(_text(match.group(0)))  # not EVE's: the player's text, shown as written
    elif closing:
        out.close(name)
    elif rest.strip() != "/":  # `<b/>` opens nothing
        out.open(_OPENERS[name](name, rest, out))


def render(source: str, *, inline: bool = False) -> str:
    """EVE rich text as safe HTML; total: any string gives well-formed HTML and never raises.

    `inline` is for a title shown inside a line of the page: line breaks become spaces and sizes
    and colours are left out (a colour picked for the game's dark window can vanish on this page).
    """
    out = _Writer(inline)
    text = unwrap_python(source)
    position = 0
    for match in _TAG.finditer(text):
        out.parts.append(_text(text[position:match.start()]))
        _tag(match, out)
        position = match.end()
    out.parts.append(_text(text[position:]))
    return out.finish()
