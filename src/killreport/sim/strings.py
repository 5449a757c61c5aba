"""Names, tickers and the hostile strings players really type, drawn from a seeded Random."""

from __future__ import annotations

import random
from typing import Final

_SYLLABLES: Final = (
    "ka", "ro", "vex", "tar", "mi", "zen", "dra", "gon", "el", "sol", "nyx", "bor", "ath", "qu", "is",
    "var", "om", "ul", "rin", "tho", "cal", "dar", "fen", "gal", "ix", "jo", "ley", "mor", "pra", "sy",
)
_WORDS: Final = (
    "Industries", "Holdings", "Syndicate", "Collective", "Fleet", "Legion", "Corp", "Enterprises",
    "Mining", "Logistics", "Directorate", "Brotherhood", "Cartel", "Order", "Republic", "Union",
)
# Names EVE accepts today or accepted once (old names are less restricted): quotes, dots, non-Latin text.
HOSTILE_NAMES: Final = (
    "O'Neill's \"Best\" Corp", "Back\\slash Brigade", "<b>Bold</b> & <i>Brave</i>", "🚀 Rocket 👾 Boys",
    "天下无双联盟", "宇宙の海賊団", "한국 연합", "Robert'); DROP TABLE corporations;--", "1' OR '1'='1",
    "\uff26\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48 Corp",
    "Cafe\u0301 Noir", "\u202eesreveR", "zero\u200bwidth", "%s %d {0} ${HOME}",
    "Null", "None", "undefined", "-", "...", "Tab\tName", "Ж Бойцы Ж",
)
HOSTILE_TICKERS: Final = ("-.-", "'", "\"", "<>", "\\", "_", "Ω", "☠", "A.B", "-10.0", "NULL", "&amp;")
HOSTILE_TEXTS: Final = (
    "",
    "He said \"hi\" and 'bye'",
    "C:\\Users\\pilot\\new\\table",
    '<font size="12" color="#bfffffff">Welcome</font><br><a href="showinfo:2//98000001">us</a>',
    "<script>alert('xss')</script>",
    "Recruiting 🚀🔥 join us 👾 now 🐱\u200d👤",
    "我们是新手友好军团。欢迎加入\uff01",
    "日本語のコーポレーションです。よろしく",
    "line one\nline two\r\nline three",
    "col1\tcol2\tcol3",
    "Robert'); DROP TABLE characters;--",
    "1; DELETE FROM alliances WHERE 1=1; --",
    "\u202eright to left\u202c and \u200bzero width",
    "null",
    "{\"json\": \"inside\", \"n\": [1, 2]}",
)
_LOREM: Final = (
    "Fly safe o7. We are a small group of pilots who like mining, missions and the occasional fight. "
    "Contact a director in the public channel. «Ünïcödé» — ✓ 中文 — "
)


def long_text(rng: random.Random, chars: int) -> str:
    """A description of about `chars` characters with markup and non-ASCII text throughout."""
    parts: list[str] = []
    size = 0
    while size < chars:
        piece = rng.choice((_LOREM, "<br>", "\n", rng.choice(HOSTILE_TEXTS), "<loc>" + _LOREM + "</loc>"))
        parts.append(piece)
        size += len(piece)
    return "".join(parts)[:chars]


def plain_name(rng: random.Random, words: int = 2) -> str:
    """A pronounceable made-up name of one or more words."""
    out = []
    for _ in range(words):
        syl = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))
        out.append(syl.capitalize())
    return " ".join(out)


def entity_name(rng: random.Random, kind: str, hostile_share: float = 0.04) -> str:
    """A corporation, alliance or character name; a few are hostile."""
    if rng.random() < hostile_share:
        return rng.choice(HOSTILE_NAMES)
    if kind == "character":
        return plain_name(rng, rng.choice((1, 2, 2, 3)))
    base = plain_name(rng, 1)
    if kind == "alliance":
        return f"{base} {rng.choice(('Alliance', 'Coalition', 'Federation', 'Empire', 'Pact', '.'))}".strip()
    return f"{base} {rng.choice(_WORDS)}"


def ticker(rng: random.Random, hostile_share: float = 0.03) -> str:
    """A 2-5 character ticker; a few hold punctuation or symbols."""
    if rng.random() < hostile_share:
        return rng.choice(HOSTILE_TICKERS)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(rng.choice(letters) for _ in range(rng.randint(2, 5)))


def description(rng: random.Random) -> str | None:
    """A description: often absent or empty, sometimes hostile, sometimes several thousand characters."""
    roll = rng.random()
    if roll < 0.25:
        return None
    if roll < 0.40:
        return ""
    if roll < 0.55:
        return rng.choice(HOSTILE_TEXTS)
    if roll < 0.60:
        return long_text(rng, rng.randint(3_000, 9_000))
    return f"{plain_name(rng, 3)}. {rng.choice(_LOREM.split('. '))}."


def url(rng: random.Random) -> str | None:
    """A corporation URL: often empty, sometimes not a URL at all."""
    roll = rng.random()
    if roll < 0.4:
        return ""
    if roll < 0.5:
        return None
    if roll < 0.55:
        return rng.choice(("javascript:alert(1)", "http://", "not a url", "https://例え.jp/パス?q=\"x\""))
    return f"https://{plain_name(rng, 1).lower()}.example.com/"
